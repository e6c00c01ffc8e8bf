"""An organisation's interventions drawn on its charts over time (the SPC charts and the funnel history): a light
band from start to end labelled at the top, a solid rule at the start and a dashed one at the end.

A chart's periods are dates (a time axis) or labels in order (``"2017/18"``). On a labelled axis a date is
placed in the period whose span holds it (:func:`period_index`, the one rule for it), so an intervention from
June 2018 to May 2019 shades "2018/19" and "2019/20" of an annual chart of financial years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from forewarn.charts.palette import INTERVENTION
from forewarn.charts.render import layer

STARTED = "Intervention started"
ENDED = "Intervention ended"


@dataclass(frozen=True)
class InterventionSpan:
    """An intervention on the organisation: from ``start`` to ``end`` (None: still running), named by ``label``
    (e.g. ``"development (case 12)"``)."""

    start: dt.date
    end: dt.date | None
    label: str


PeriodSpan = tuple[dt.date, dt.date]
"""The first and last day of a labelled period (``"2017/18"``: 1 April 2017 to 31 March 2018)."""


def period_index(
    day: dt.date, spans: Sequence[PeriodSpan], side: Literal["start", "end"] = "start"
) -> int | None:
    """The period (index in ``spans``, which are in order) that holds ``day``.

    A day between two periods (a gap in the series) belongs to the next period when it starts something
    (``side="start"``) and to the previous one when it ends something (``side="end"``); a day before the first
    period or after the last belongs to none (None).

    >>> spans = [(dt.date(2017, 4, 1), dt.date(2018, 3, 31)), (dt.date(2019, 4, 1), dt.date(2020, 3, 31))]
    >>> period_index(dt.date(2018, 3, 31), spans), period_index(dt.date(2018, 6, 1), spans)
    (0, 1)
    >>> period_index(dt.date(2018, 6, 1), spans, "end"), period_index(dt.date(2021, 1, 1), spans)
    (0, None)
    """
    for index, (first, last) in enumerate(spans):
        if first <= day <= last:
            return index
    if side == "start":
        later = [index for index, (first, _) in enumerate(spans) if first > day]
        return later[0] if later and day >= spans[0][0] else None
    earlier = [index for index, (_, last) in enumerate(spans) if last < day]
    return earlier[-1] if earlier and day <= spans[-1][1] else None


def _when(span: InterventionSpan) -> str:
    return f"{span.start.isoformat()} to {'now' if span.end is None else span.end.isoformat()}"


def intervention_marks(
    period: Sequence[dt.date] | Sequence[str],
    interventions: Sequence[InterventionSpan],
    spans: Sequence[PeriodSpan] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The interventions within the chart's periods as bands (``from``, ``to``, ``label``, ``when``) cut to the
    first and last period, and their starts and ends that fall within them as edges (``period``, ``edge``,
    ``label``). A running intervention's band reaches the last period.

    Dated periods give ISO dates; labelled periods give labels and need ``spans`` (each label's first and last
    day, in the same order), without which nothing is drawn (a label alone is not a date)."""
    if not interventions or not period:
        return [], []
    if all(isinstance(p, dt.date) for p in period):
        dates = [p for p in period if isinstance(p, dt.date)]
        return _dated_marks(min(dates), max(dates), interventions)
    if spans is None or len(spans) != len(period):
        return [], []
    labels = [str(p) for p in period]
    bands: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for span in sorted(interventions, key=lambda s: s.start):
        end = spans[-1][1] if span.end is None else span.end
        if end < spans[0][0] or span.start > spans[-1][1]:
            continue
        first = period_index(max(span.start, spans[0][0]), spans, "start")
        last = period_index(min(end, spans[-1][1]), spans, "end")
        if first is None or last is None or last < first:  # within a gap between two periods
            continue
        bands.append({"from": labels[first], "to": labels[last], "label": span.label, "when": _when(span)})
        for edge, day, side in ((STARTED, span.start, "start"), (ENDED, span.end, "end")):
            at = None if day is None else period_index(day, spans, side)  # type: ignore[arg-type]
            if at is not None and day is not None and spans[0][0] <= day <= spans[-1][1]:
                edges.append(
                    {"period": labels[at], "edge": edge, "label": span.label, "date": day.isoformat()}
                )
    return bands, edges


def _dated_marks(
    first: dt.date, last: dt.date, interventions: Sequence[InterventionSpan]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bands: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for span in sorted(interventions, key=lambda s: s.start):
        end = last if span.end is None else span.end
        if end < first or span.start > last:
            continue
        bands.append(
            {
                "from": max(span.start, first).isoformat(),
                "to": min(end, last).isoformat(),
                "label": span.label,
                "when": _when(span),
            }
        )
        for edge, day in ((STARTED, span.start), (ENDED, span.end)):
            if day is not None and first <= day <= last:
                edges.append({"period": day.isoformat(), "edge": edge, "label": span.label})
    return bands, edges


def intervention_layers(
    bands: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    datasets: dict[str, Any],
    *,
    labels: Sequence[str] | None = None,
    layer: Callable[..., Any] = layer,
) -> list[Any]:
    """The layers that draw :func:`intervention_marks` (to go beneath the chart's own), adding their data to
    ``datasets`` as ``interventions`` and ``intervention_edges``; each made by ``layer``, Altair's
    (:func:`forewarn.charts.render.layer`, the default) or a spec's (:func:`forewarn.charts.render.layer_spec`).

    ``labels`` is the labelled axis's domain in order (None: a time axis); on it a band covers its first and
    last periods whole and a start or end is drawn at the middle of its period."""
    layers: list[Any] = []
    if labels is None:
        x_from: dict[str, Any] = {"field": "from", "type": "temporal"}
        x_to: dict[str, Any] = {"field": "to"}
        x_edge: dict[str, Any] = {"field": "period", "type": "temporal"}
        edge_date: dict[str, Any] = {
            "field": "period",
            "type": "temporal",
            "title": "Date",
            "format": "%-d %B %Y",
        }
    else:
        domain = {"scale": {"domain": list(labels)}}
        x_from = {"field": "from", "type": "ordinal", "bandPosition": 0, **domain}
        x_to = {"field": "to", "bandPosition": 1}
        x_edge = {"field": "period", "type": "ordinal", **domain}
        edge_date = {"field": "date", "type": "temporal", "title": "Date", "format": "%-d %B %Y"}
    if bands:
        # Beneath everything else: a light band over the intervention's periods, its label at the top.
        datasets["interventions"] = bands
        layers.append(
            layer(
                "interventions",
                {"type": "rect", "color": INTERVENTION, "opacity": 0.12},
                x=x_from,
                x2=x_to,
                tooltip=[
                    {"field": "label", "title": "Intervention"},
                    {"field": "when", "title": "When"},
                ],
            )
        )
        layers.append(
            layer(
                "interventions",
                {
                    "type": "text",
                    "align": "left",
                    "baseline": "top",
                    "dx": 3,
                    "dy": 3,
                    "fontSize": 11,
                    "color": INTERVENTION,
                    "aria": False,
                },
                x=x_from,
                y={"value": 0},
                text={"field": "label"},
            )
        )
    if edges:
        datasets["intervention_edges"] = edges
        layers.append(
            layer(
                "intervention_edges",
                {"type": "rule", "color": INTERVENTION, "strokeWidth": 1.5},
                x=x_edge,
                strokeDash={
                    "field": "edge",
                    "type": "nominal",
                    "scale": {"domain": [STARTED, ENDED], "range": [[1, 0], [4, 3]]},
                    "legend": None,
                },
                tooltip=[
                    {"field": "edge", "title": "Event"},
                    {"field": "label", "title": "Intervention"},
                    edge_date,
                ],
            )
        )
    return layers


def described(bands: list[dict[str, Any]]) -> str:
    """What the chart's description says of its interventions, for those who do not see it."""
    return "".join(f"; intervention {band['label']} {band['when']}" for band in bands)


__all__ = [
    "InterventionSpan",
    "PeriodSpan",
    "described",
    "intervention_layers",
    "intervention_marks",
    "period_index",
]
