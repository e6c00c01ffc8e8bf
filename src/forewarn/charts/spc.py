"""SPC (XmR) charts in the Making Data Count style: points coloured and shaped by type, mean, process limits,
target, a marker where the baseline was reset, and the organisation's interventions as shaded bands.

:func:`spc_chart_spec` turns one series, as the surveillance scan charted it
(:mod:`forewarn.surveillance.series`), into a Vega-Lite spec; nothing here computes limits or rules. A limit
beyond the measure's natural bounds (a count's lower limit of -1.56) is drawn at the bound, and the chart says so
in its description and beside the line; the numbers themselves (tables, JSON) stay as the scan computed them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import altair as alt

from forewarn.charts.display import Scale, scale_of
from forewarn.charts.interventions import (
    InterventionSpan as InterventionSpan,
)
from forewarn.charts.interventions import (
    PeriodSpan,
    described,
    intervention_layers,
    intervention_marks,
)
from forewarn.charts.palette import LIMIT, POINT_TYPES, TARGET
from forewarn.charts.render import layer, layer_spec, layered, layered_spec
from forewarn.domain import Improvement


@dataclass(frozen=True)
class SpcSeries:
    """One indicator's chart for one organisation, one tuple per column (one entry per period).

    ``value`` is None for a missing period; ``mean``, ``lpl`` and ``upl`` are None where no limits apply;
    ``point_type`` is a Making Data Count point type (``special_cause_concern``...); ``rule`` the wording of the
    special-cause rule that labels the point, None for common cause. ``kind`` is the indicator's kind
    (``proportion``, ``count``...), which decides how values read and where limits are clipped
    (:func:`forewarn.charts.display.scale_of`); None for a plain number.

    Periods are dates (a time axis) or labels in order (``"2017/18"``, ``"7"``). ``segment`` gives each
    period's baseline segment where it is known (otherwise ``rebases`` decide). A run chart (``limits`` False,
    ``chart_name`` "Run chart") has a centre line in ``mean`` and no process limits. ``interventions`` are drawn
    as bands from start to end, cut to the chart's periods: on a dated chart, and on a labelled one when
    ``period_spans`` gives each label's first and last day (:mod:`forewarn.charts.interventions`).
    """

    indicator_code: str
    indicator_name: str
    unit: str | None
    improvement: Improvement
    period: tuple[dt.date, ...] | tuple[str, ...]
    value: tuple[float | None, ...]
    mean: tuple[float | None, ...]
    lpl: tuple[float | None, ...]
    upl: tuple[float | None, ...]
    point_type: tuple[str, ...]
    rule: tuple[str | None, ...]
    target: float | None = None
    rebases: tuple[dt.date, ...] | tuple[str, ...] = ()
    variation: str | None = None
    assurance: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    kind: str | None = None
    segment: tuple[int, ...] | None = None
    chart_name: str = "XmR chart"
    limits: bool = True
    interventions: tuple[InterventionSpan, ...] = ()
    period_spans: tuple[PeriodSpan, ...] | None = None


def _shown(value: float) -> float:
    # Six significant figures: the tooltip shows four, and a page carries twenty charts.
    return float(f"{value:.6g}")


def _clipped(value: float, scale: Scale) -> tuple[float, str | None]:
    """A limit drawn within the measure's bounds, and which bound it was moved to (None if it was not)."""
    if scale.lower is not None and value < scale.lower:
        return scale.lower, "lower"
    if scale.upper is not None and value > scale.upper:
        return scale.upper, "upper"
    return value, None


def _segments(series: SpcSeries, scale: Scale) -> list[dict[str, Any]]:
    """One row per baseline segment with limits: its first and last period, mean, lower and upper limits (each
    limit within the measure's bounds; ``clipped`` names the limits that were moved to a bound)."""
    rows: list[dict[str, Any]] = []
    segment = 0
    for t, period in enumerate(series.period):
        if series.segment is not None:
            segment = series.segment[t]
        else:
            while segment < len(series.rebases) and period >= series.rebases[segment]:  # type: ignore[operator]
                segment += 1
        mean, lpl, upl = series.mean[t], series.lpl[t], series.upl[t]
        if series.value[t] is None or mean is None or (series.limits and (lpl is None or upl is None)):
            continue
        if rows and rows[-1]["segment"] == segment:
            rows[-1]["to"] = _period_text(period)
            continue
        lower_clipped = upper_clipped = None
        if lpl is not None:
            lpl, lower_clipped = _clipped(lpl, scale)
        if upl is not None:
            upl, upper_clipped = _clipped(upl, scale)
        row: dict[str, Any] = {
            "segment": segment,
            "from": _period_text(period),
            "to": _period_text(period),
            "mean": _shown(mean),
            "lpl": None if lpl is None else _shown(lpl),
            "upl": None if upl is None else _shown(upl),
        }
        clipped = [name for name, moved in (("lpl", lower_clipped), ("upl", upper_clipped)) if moved]
        if clipped:
            row["clipped"] = clipped
        rows.append(row)
    return rows


def clipping_notes(segments: list[dict[str, Any]], scale: Scale) -> dict[str, str]:
    """What the chart says about each limit drawn at a bound, by limit: ``{"lpl": "lower limit below 0 shown
    at 0"}``."""
    notes = {}
    for name, side, bound in (("lpl", "lower", scale.lower), ("upl", "upper", scale.upper)):
        if bound is not None and any(name in row.get("clipped", ()) for row in segments):
            where = "below" if side == "lower" else "above"
            text = scale.bound_text(bound)
            notes[name] = f"{side} limit {where} {text} shown at {text}"
    return notes


def spc_chart_spec(series: SpcSeries, *, width: int = 560, height: int = 220) -> dict[str, Any]:
    """The Vega-Lite spec of :func:`spc_chart` (what the pages embed and the server draws as SVG), written as
    dictionaries (:func:`forewarn.charts.render.layer_spec`): the same spec, key for key, as
    ``spec_of(spc_chart(series))`` at a tenth of the CPU (a first view of an organisation draws twenty)."""
    spec: dict[str, Any] = _drawn(series, width, height, layer_spec, layered_spec)
    return spec


def spc_chart(series: SpcSeries, *, width: int = 560, height: int = 220) -> alt.LayerChart:
    """An XmR chart as an Altair chart: the points, and each baseline segment's mean and limits drawn across
    the segment (limits are given once a segment, not on every point, which halves a page of charts).

    The data travel as named datasets (``points``, ``limits`` and, where drawn, ``target``, ``rebases`` and the
    notes of clipped limits), so the spec is the same for the same series."""
    chart: alt.LayerChart = _drawn(series, width, height, layer, layered)
    return chart


def _drawn(
    series: SpcSeries, width: int, height: int, layer: Callable[..., Any], layered: Callable[..., Any]
) -> Any:
    """The chart, its layers made by ``layer`` and put together by ``layered``: Altair's
    (:func:`forewarn.charts.render.layer`) or the spec's dictionaries (:func:`~forewarn.charts.render.layer_spec`)."""
    scale = scale_of(series.kind, series.unit)
    dated = all(isinstance(p, dt.date) for p in series.period)
    values = []
    for t, period in enumerate(series.period):
        value = series.value[t]
        if value is None:
            continue
        point: dict[str, Any] = {
            "period": _period_text(period),
            "value": _shown(value),
            "type": POINT_TYPES.get(series.point_type[t], POINT_TYPES["common_cause"])[0],
        }
        if series.rule[t]:
            point["rule"] = series.rule[t]
        values.append(point)
    segments = _segments(series, scale)
    notes = clipping_notes(segments, scale)
    shown = {series.point_type[t] for t in range(len(series.period)) if series.value[t] is not None}
    present = [k for k in POINT_TYPES if k in shown] or ["common_cause"]
    x: dict[str, Any] = (
        {
            "field": "period",
            "type": "temporal",
            "title": "Period",
            "axis": {"format": "%b %Y", "labelAngle": -40},
        }
        if dated
        else {
            "field": "period",
            "type": "ordinal",
            "title": "Period",
            "sort": None,
            # The labels in the series' order, whichever layer names them first (an intervention's band).
            "scale": {"domain": [_period_text(p) for p in series.period]},
            "axis": {"labelAngle": -40},
        }
    )
    y_title = (series.unit or "value").capitalize() if series.unit != "%" else "Per cent"
    y_axis = {"axis": {"format": scale.axis_format}} if scale.axis_format else {}
    limit_x = {**x, "field": "from"}
    datasets: dict[str, Any] = {"points": values, "limits": segments}
    layers: list[Any] = []
    bands, edges = intervention_marks(series.period, series.interventions, series.period_spans)
    labels = None if dated else [_period_text(p) for p in series.period]
    layers.extend(intervention_layers(bands, edges, datasets, labels=labels, layer=layer))
    if segments:
        for name, dash in (("lpl", {"strokeDash": [6, 4]}), ("upl", {"strokeDash": [6, 4]}), ("mean", {})):
            layers.append(
                layer(
                    "limits",
                    {"type": "rule", "color": LIMIT, "strokeWidth": 1.5, **dash},
                    x=limit_x,
                    x2={"field": "to"},
                    y={"field": name, "type": "quantitative"},
                )
            )
    period_tooltip = (
        {"field": "period", "type": "temporal", "title": "Period", "format": "%B %Y"}
        if dated
        else {"field": "period", "title": "Period"}
    )
    layers.append(
        layer(
            None,
            {"type": "line", "color": "#b1b4b6", "strokeWidth": 1.5},
            x=x,
            y={
                "field": "value",
                "type": "quantitative",
                "title": y_title,
                "scale": {"zero": False},
                **y_axis,
            },
        )
    )
    layers.append(
        layer(
            None,
            {"type": "point", "filled": True, "size": 60, "opacity": 1},
            x=x,
            y={"field": "value", "type": "quantitative"},
            color={
                "field": "type",
                "type": "nominal",
                "title": "Variation",
                "scale": {
                    "domain": [POINT_TYPES[k][0] for k in present],
                    "range": [POINT_TYPES[k][1] for k in present],
                },
            },
            shape={
                "field": "type",
                "type": "nominal",
                "scale": {
                    "domain": [POINT_TYPES[k][0] for k in present],
                    "range": [POINT_TYPES[k][2] for k in present],
                },
            },
            tooltip=[
                period_tooltip,
                {"field": "value", "type": "quantitative", "title": "Value", "format": scale.tooltip_format},
                {"field": "type", "title": "Variation"},
                {"field": "rule", "title": "Rule"},
            ],
        )
    )
    for name, anchor in (("lpl", "bottom"), ("upl", "top")):  # the note sits inside the plot, by its line
        clipped = [row for row in segments if name in row.get("clipped", ())]
        if clipped:
            # Beside the line, for those who see the chart; the description says it for everyone else.
            datasets[f"{name}_note"] = [
                {"from": row["from"], name: row[name], "note": notes[name].capitalize()} for row in clipped
            ]
            layers.append(
                layer(
                    f"{name}_note",
                    {
                        "type": "text",
                        "align": "left",
                        "baseline": anchor,
                        "dx": 2,
                        "dy": 2 if anchor == "top" else -2,
                        "fontSize": 11,
                        "color": LIMIT,
                        "aria": False,
                    },
                    x=limit_x,
                    y={"field": name, "type": "quantitative"},
                    text={"field": "note"},
                )
            )
    if series.target is not None:
        datasets["target"] = [{"target": series.target}]
        layers.append(
            layer(
                "target",
                {"type": "rule", "color": TARGET, "strokeWidth": 1.5, "strokeDash": [2, 2]},
                y={"field": "target", "type": "quantitative"},
            )
        )
    if series.rebases:
        datasets["rebases"] = [{"period": _period_text(d), "label": "Baseline reset"} for d in series.rebases]
        layers.append(
            layer(
                "rebases",
                {"type": "rule", "color": "#0b0c0c", "strokeWidth": 1},
                x={"field": "period", "type": "temporal" if dated else "ordinal"},
                tooltip=[
                    {"field": "label"},
                    {"field": "period", "type": "temporal", "format": "%B %Y"}
                    if dated
                    else {"field": "period"},
                ],
            )
        )
    description = (
        f"{series.chart_name} of {series.indicator_name}, {len(values)} points"
        + (f"; latest variation {series.variation.replace('_', ' ')}" if series.variation else "")
        + (f"; baseline reset {len(series.rebases)} time(s)" if series.rebases else "")
        + described(bands)
        + "".join(f"; {note}" for note in notes.values())
    )
    return layered(
        layers, data="points", description=description, width=width, height=height, datasets=datasets
    )


def _period_text(period: object) -> str:
    return period.isoformat() if isinstance(period, dt.date) else str(period)
