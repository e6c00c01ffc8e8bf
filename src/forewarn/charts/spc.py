"""SPC (XmR) charts in the Making Data Count style: points coloured and shaped by type, mean, process limits,
target, and a marker where the baseline was reset.

:func:`spc_chart_spec` turns one series, as the surveillance scan charted it
(:mod:`forewarn.surveillance.series`), into a Vega-Lite spec; nothing here computes limits or rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from forewarn.charts.palette import LIMIT, POINT_TYPES, TARGET, base_config

Improvement = Literal["increase", "decrease", "neutral"]


@dataclass(frozen=True)
class SpcSeries:
    """One indicator's chart for one organisation, one tuple per column (one entry per period).

    ``value`` is None for a missing period; ``mean``, ``lpl`` and ``upl`` are None where no limits apply;
    ``point_type`` is a Making Data Count point type (``special_cause_concern``...); ``rule`` the wording of the
    special-cause rule that labels the point, None for common cause.
    """

    indicator_code: str
    indicator_name: str
    unit: str | None
    improvement: Improvement
    period: tuple[dt.date, ...]
    value: tuple[float | None, ...]
    mean: tuple[float | None, ...]
    lpl: tuple[float | None, ...]
    upl: tuple[float | None, ...]
    point_type: tuple[str, ...]
    rule: tuple[str | None, ...]
    target: float | None = None
    rebases: tuple[dt.date, ...] = ()
    variation: str | None = None
    assurance: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def improvement_of(polarity: str) -> Improvement:
    """Making Data Count's improvement direction for an indicator's polarity."""
    return {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(polarity, "neutral")  # type: ignore[return-value]


def _shown(value: float) -> float:
    # Six significant figures: the tooltip shows four, and a page carries twenty charts.
    return float(f"{value:.6g}")


def _segments(series: SpcSeries) -> list[dict[str, Any]]:
    """One row per baseline segment with limits: its first and last period, mean, lower and upper limits."""
    rows: list[dict[str, Any]] = []
    segment = 0
    for t, period in enumerate(series.period):
        while segment < len(series.rebases) and period >= series.rebases[segment]:
            segment += 1
        mean, lpl, upl = series.mean[t], series.lpl[t], series.upl[t]
        if series.value[t] is None or mean is None or lpl is None or upl is None:
            continue
        if rows and rows[-1]["segment"] == segment:
            rows[-1]["to"] = period.isoformat()
            continue
        rows.append(
            {
                "segment": segment,
                "from": period.isoformat(),
                "to": period.isoformat(),
                "mean": _shown(mean),
                "lpl": _shown(lpl),
                "upl": _shown(upl),
            }
        )
    return rows


def spc_chart_spec(series: SpcSeries, *, width: int = 560, height: int = 220) -> dict[str, Any]:
    """A Vega-Lite spec of one XmR chart: the points, and each baseline segment's mean and limits drawn across
    the segment (limits are given once a segment, not on every point, which halves a page of charts)."""
    values = []
    for t, period in enumerate(series.period):
        value = series.value[t]
        if value is None:
            continue
        point: dict[str, Any] = {
            "period": period.isoformat(),
            "value": _shown(value),
            "type": POINT_TYPES.get(series.point_type[t], POINT_TYPES["common_cause"])[0],
        }
        if series.rule[t]:
            point["rule"] = series.rule[t]
        values.append(point)
    segments = _segments(series)
    shown = {series.point_type[t] for t in range(len(series.period)) if series.value[t] is not None}
    present = [k for k in POINT_TYPES if k in shown] or ["common_cause"]
    x = {
        "field": "period",
        "type": "temporal",
        "title": "Period",
        "axis": {"format": "%b %Y", "labelAngle": -40},
    }
    y_title = (series.unit or "value").capitalize() if series.unit != "%" else "Per cent"
    limit_x = {**x, "field": "from"}
    limit_layers: list[dict[str, Any]] = [
        {
            "data": {"name": "limits"},
            "mark": {"type": "rule", "color": LIMIT, "strokeWidth": 1.5, **({} if name == "mean" else dash)},
            "encoding": {"x": limit_x, "x2": {"field": "to"}, "y": {"field": name, "type": "quantitative"}},
        }
        for name, dash in (("lpl", {"strokeDash": [6, 4]}), ("upl", {"strokeDash": [6, 4]}), ("mean", {}))
    ]
    layers: list[dict[str, Any]] = [
        *(limit_layers if segments else []),
        {
            "mark": {"type": "line", "color": "#b1b4b6", "strokeWidth": 1.5},
            "encoding": {
                "x": x,
                "y": {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
            },
        },
        {
            "mark": {"type": "point", "filled": True, "size": 60, "opacity": 1},
            "encoding": {
                "x": x,
                "y": {"field": "value", "type": "quantitative"},
                "color": {
                    "field": "type",
                    "type": "nominal",
                    "title": "Variation",
                    "scale": {
                        "domain": [POINT_TYPES[k][0] for k in present],
                        "range": [POINT_TYPES[k][1] for k in present],
                    },
                },
                "shape": {
                    "field": "type",
                    "type": "nominal",
                    "scale": {
                        "domain": [POINT_TYPES[k][0] for k in present],
                        "range": [POINT_TYPES[k][2] for k in present],
                    },
                },
                "tooltip": [
                    {"field": "period", "type": "temporal", "title": "Period", "format": "%B %Y"},
                    {"field": "value", "type": "quantitative", "title": "Value", "format": ",.4~g"},
                    {"field": "type", "title": "Variation"},
                    {"field": "rule", "title": "Rule"},
                ],
            },
        },
    ]
    if series.target is not None:
        layers.append(
            {
                "data": {"values": [{"target": series.target}]},
                "mark": {"type": "rule", "color": TARGET, "strokeWidth": 1.5, "strokeDash": [2, 2]},
                "encoding": {"y": {"field": "target", "type": "quantitative"}},
            }
        )
    if series.rebases:
        layers.append(
            {
                "data": {
                    "values": [{"period": d.isoformat(), "label": "Baseline reset"} for d in series.rebases]
                },
                "mark": {"type": "rule", "color": "#0b0c0c", "strokeWidth": 1},
                "encoding": {
                    "x": {"field": "period", "type": "temporal"},
                    "tooltip": [
                        {"field": "label"},
                        {"field": "period", "type": "temporal", "format": "%B %Y"},
                    ],
                },
            }
        )
    description = (
        f"XmR chart of {series.indicator_name}, {len(values)} points"
        + (f"; latest variation {series.variation.replace('_', ' ')}" if series.variation else "")
        + (f"; baseline reset {len(series.rebases)} time(s)" if series.rebases else "")
    )
    return {
        "description": description,
        "width": width,
        "height": height,
        "data": {"values": values},
        "datasets": {"limits": segments},
        "layer": layers,
        "config": base_config(),
    }
