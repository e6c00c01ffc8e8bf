"""An organisation's funnel history: its funnel z-score at each period of one indicator, with the funnel's limits
as horizontal lines and its interventions as bands (:mod:`forewarn.charts.interventions`).

The funnel plot shows one period across organisations; this shows one organisation across periods, so a board
can see how long it has been outside the funnel and whether it came back after an intervention. The z-score
carries the over-dispersion allowance of its period's funnel, so the limits are the same lines at every period:
+-1.96 (95%, dashed) and +-3.09 (99.8%), as CQC and SHMI funnels draw them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import altair as alt

from forewarn.charts.interventions import (
    InterventionSpan,
    PeriodSpan,
    described,
    intervention_layers,
    intervention_marks,
)
from forewarn.charts.palette import CONCERN, IMPROVEMENT, LIMIT, NEUTRAL
from forewarn.charts.render import layer, layered, spec_of

WITHIN = "Within limits"
INNER_LIMIT_Z = 1.959964  # the 95% limits, dashed beside the scan's own


@dataclass(frozen=True)
class FunnelHistorySeries:
    """One organisation's position in its indicator's funnel, one entry per period.

    ``z`` is None where it was not in that period's funnel; ``position`` -1 below, +1 above, 0 within the
    limits at ``limit`` percent (``limit_z`` on the z scale). ``concern_side`` is the side of concern (+1 when
    higher is worse, -1 when lower is worse, None for a neutral indicator). Periods are dates or labels in order
    with ``period_spans``, as for :class:`forewarn.charts.spc.SpcSeries`."""

    indicator_code: str
    indicator_name: str
    period: tuple[dt.date, ...] | tuple[str, ...]
    z: tuple[float | None, ...]
    position: tuple[int, ...]
    limit: float
    limit_z: float
    concern_side: int | None
    interventions: tuple[InterventionSpan, ...] = ()
    period_spans: tuple[PeriodSpan, ...] | None = None


def position_text(position: int, concern_side: int | None) -> str:
    """ "Within limits", "Above limits: concern", "Below limits"..."""
    if position == 0:
        return WITHIN
    side = "Above limits" if position > 0 else "Below limits"
    return f"{side}: concern" if concern_side == position else side


_STYLE = {
    WITHIN: ("#6f777b", "circle"),
    "Above limits: concern": (CONCERN, "diamond"),
    "Below limits: concern": (CONCERN, "diamond"),
    "Above limits": (IMPROVEMENT, "square"),
    "Below limits": (NEUTRAL, "triangle-down"),
}


def _text(period: object) -> str:
    return period.isoformat() if isinstance(period, dt.date) else str(period)


def funnel_history_spec(
    series: FunnelHistorySeries, *, width: int = 560, height: int = 200
) -> dict[str, Any]:
    """The Vega-Lite spec of :func:`funnel_history_chart` (what pages embed and the server draws as SVG)."""
    return spec_of(funnel_history_chart(series, width=width, height=height))


def funnel_history_chart(
    series: FunnelHistorySeries, *, width: int = 560, height: int = 200
) -> alt.LayerChart:
    """The funnel history as an Altair chart. Named datasets: ``points`` (period, z, position), ``limits`` (the
    z of each limit line) and, where drawn, ``interventions`` and ``intervention_edges``."""
    dated = all(isinstance(p, dt.date) for p in series.period)
    points = [
        {"period": _text(p), "z": round(z, 4), "position": position_text(pos, series.concern_side)}
        for p, z, pos in zip(series.period, series.z, series.position, strict=True)
        if z is not None
    ]
    labels = None if dated else [_text(p) for p in series.period]
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
            "scale": {"domain": labels},
            "axis": {"labelAngle": -40},
        }
    )
    limit_rows = [{"z": 0.0, "limit": "Target", "dashed": False}]
    for z, name, dashed in ((INNER_LIMIT_Z, "95%", True), (series.limit_z, f"{series.limit:g}%", False)):
        if abs(z - INNER_LIMIT_Z) < 1e-6 and not dashed:
            continue  # the scan's limit is the 95% one: drawn once
        limit_rows += [
            {"z": round(z, 4), "limit": f"{name} upper", "dashed": dashed},
            {"z": round(-z, 4), "limit": f"{name} lower", "dashed": dashed},
        ]
    datasets: dict[str, Any] = {"points": points, "limits": limit_rows}
    bands, edges = intervention_marks(series.period, series.interventions, series.period_spans)
    layers: list[alt.Chart] = intervention_layers(bands, edges, datasets, labels=labels)
    layers.append(
        layer(
            "limits",
            {"type": "rule", "color": LIMIT, "strokeWidth": 1.2},
            y={"field": "z", "type": "quantitative"},
            strokeDash={
                "field": "dashed",
                "type": "nominal",
                "scale": {"domain": [False, True], "range": [[1, 0], [5, 4]]},
                "legend": None,
            },
            tooltip=[{"field": "limit", "title": "Limit"}, {"field": "z", "title": "z", "format": ".2f"}],
        )
    )
    present = [s for s in _STYLE if any(p["position"] == s for p in points)] or [WITHIN]
    layers.append(
        layer(
            None,
            {"type": "line", "color": "#b1b4b6", "strokeWidth": 1.5},
            x=x,
            y={"field": "z", "type": "quantitative"},
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
            {"type": "point", "filled": True, "size": 60, "opacity": 1},
            x=x,
            y={"field": "z", "type": "quantitative", "title": "Funnel z-score"},
            color={
                "field": "position",
                "type": "nominal",
                "title": "Position in the funnel",
                "scale": {"domain": present, "range": [_STYLE[s][0] for s in present]},
            },
            shape={
                "field": "position",
                "type": "nominal",
                "scale": {"domain": present, "range": [_STYLE[s][1] for s in present]},
            },
            tooltip=[
                period_tooltip,
                {"field": "z", "type": "quantitative", "title": "z", "format": ".2f"},
                {"field": "position", "title": "Position"},
            ],
        )
    )
    outside = sum(1 for p in points if p["position"] != WITHIN)
    description = (
        f"Funnel history of {series.indicator_name}: z-score at {len(points)} periods, "
        f"{outside} outside the {series.limit:g}% limits" + described(bands)
    )
    return layered(
        layers, data="points", description=description, width=width, height=height, datasets=datasets
    )


__all__ = ["FunnelHistorySeries", "funnel_history_chart", "funnel_history_spec", "position_text"]
