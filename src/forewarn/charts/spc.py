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


def spc_chart_spec(series: SpcSeries, *, width: int = 560, height: int = 220) -> dict[str, Any]:
    """A Vega-Lite spec of one XmR chart; each baseline segment has its own mean and limit lines."""
    values = []
    segment = 0
    for t, period in enumerate(series.period):
        while segment < len(series.rebases) and period >= series.rebases[segment]:
            segment += 1
        if series.value[t] is None:
            continue
        values.append(
            {
                "period": period.isoformat(),
                "value": series.value[t],
                "mean": series.mean[t],
                "lpl": series.lpl[t],
                "upl": series.upl[t],
                "segment": segment,
                "type": POINT_TYPES.get(series.point_type[t], POINT_TYPES["common_cause"])[0],
                "rule": series.rule[t] or "None",
            }
        )
    shown = {series.point_type[t] for t in range(len(series.period)) if series.value[t] is not None}
    present = [k for k in POINT_TYPES if k in shown] or ["common_cause"]
    x = {
        "field": "period",
        "type": "temporal",
        "title": "Period",
        "axis": {"format": "%b %Y", "labelAngle": -40},
    }
    y_title = (series.unit or "value").capitalize() if series.unit != "%" else "Per cent"
    line_layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "line", "color": LIMIT, "strokeWidth": 1.5, "strokeDash": [6, 4]},
            "encoding": {
                "x": x,
                "y": {"field": field_name, "type": "quantitative"},
                "detail": {"field": "segment"},
            },
        }
        for field_name in ("lpl", "upl")
    ]
    layers: list[dict[str, Any]] = [
        *line_layers,
        {
            "mark": {"type": "line", "color": LIMIT, "strokeWidth": 1.5},
            "encoding": {
                "x": x,
                "y": {"field": "mean", "type": "quantitative"},
                "detail": {"field": "segment"},
            },
        },
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
        "layer": layers,
        "config": base_config(),
    }
