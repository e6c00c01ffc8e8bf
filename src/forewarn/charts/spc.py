"""SPC (XmR) charts in the Making Data Count style: points coloured and shaped by type, mean, process limits,
target, and a marker where the baseline was reset.

:func:`spc_chart_spec` turns one series, as the surveillance scan charted it
(:mod:`forewarn.surveillance.series`), into a Vega-Lite spec; nothing here computes limits or rules. A limit
beyond the measure's natural bounds (a count's lower limit of -1.56) is drawn at the bound, and the chart says so
in its description and beside the line; the numbers themselves (tables, JSON) stay as the scan computed them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from forewarn.charts.display import Scale, scale_of
from forewarn.charts.palette import LIMIT, POINT_TYPES, TARGET, base_config

Improvement = Literal["increase", "decrease", "neutral"]


@dataclass(frozen=True)
class SpcSeries:
    """One indicator's chart for one organisation, one tuple per column (one entry per period).

    ``value`` is None for a missing period; ``mean``, ``lpl`` and ``upl`` are None where no limits apply;
    ``point_type`` is a Making Data Count point type (``special_cause_concern``...); ``rule`` the wording of the
    special-cause rule that labels the point, None for common cause. ``kind`` is the indicator's kind
    (``proportion``, ``count``...), which decides how values read and where limits are clipped
    (:func:`forewarn.charts.display.scale_of`); None for a plain number.
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
    kind: str | None = None


def improvement_of(polarity: str) -> Improvement:
    """Making Data Count's improvement direction for an indicator's polarity."""
    return {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(polarity, "neutral")  # type: ignore[return-value]


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
        while segment < len(series.rebases) and period >= series.rebases[segment]:
            segment += 1
        mean, lpl, upl = series.mean[t], series.lpl[t], series.upl[t]
        if series.value[t] is None or mean is None or lpl is None or upl is None:
            continue
        if rows and rows[-1]["segment"] == segment:
            rows[-1]["to"] = period.isoformat()
            continue
        lpl, lower_clipped = _clipped(lpl, scale)
        upl, upper_clipped = _clipped(upl, scale)
        row: dict[str, Any] = {
            "segment": segment,
            "from": period.isoformat(),
            "to": period.isoformat(),
            "mean": _shown(mean),
            "lpl": _shown(lpl),
            "upl": _shown(upl),
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
    """A Vega-Lite spec of one XmR chart: the points, and each baseline segment's mean and limits drawn across
    the segment (limits are given once a segment, not on every point, which halves a page of charts)."""
    scale = scale_of(series.kind, series.unit)
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
    segments = _segments(series, scale)
    notes = clipping_notes(segments, scale)
    shown = {series.point_type[t] for t in range(len(series.period)) if series.value[t] is not None}
    present = [k for k in POINT_TYPES if k in shown] or ["common_cause"]
    x = {
        "field": "period",
        "type": "temporal",
        "title": "Period",
        "axis": {"format": "%b %Y", "labelAngle": -40},
    }
    y_title = (series.unit or "value").capitalize() if series.unit != "%" else "Per cent"
    y_axis = {"axis": {"format": scale.axis_format}} if scale.axis_format else {}
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
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": y_title,
                    "scale": {"zero": False},
                    **y_axis,
                },
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
                    {
                        "field": "value",
                        "type": "quantitative",
                        "title": "Value",
                        "format": scale.tooltip_format,
                    },
                    {"field": "type", "title": "Variation"},
                    {"field": "rule", "title": "Rule"},
                ],
            },
        },
    ]
    for name, anchor in (("lpl", "bottom"), ("upl", "top")):  # the note sits inside the plot, by its line
        clipped = [row for row in segments if name in row.get("clipped", ())]
        if clipped:
            # Beside the line, for those who see the chart; the description says it for everyone else.
            layers.append(
                {
                    "data": {
                        "values": [
                            {"from": row["from"], name: row[name], "note": notes[name].capitalize()}
                            for row in clipped
                        ]
                    },
                    "mark": {
                        "type": "text",
                        "align": "left",
                        "baseline": anchor,
                        "dx": 2,
                        "dy": 2 if anchor == "top" else -2,
                        "fontSize": 11,
                        "color": LIMIT,
                        "aria": False,
                    },
                    "encoding": {
                        "x": limit_x,
                        "y": {"field": name, "type": "quantitative"},
                        "text": {"field": "note"},
                    },
                }
            )
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
        + "".join(f"; {note}" for note in notes.values())
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
