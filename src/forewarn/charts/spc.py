"""SPC (XmR) charts in the Making Data Count style: points coloured and shaped by type, mean, process limits,
target, and a marker where the baseline was reset.

:func:`xmr_series` computes the chart data of one organisation's indicators at once (through
:func:`forewarn.stats.spc.xmr_chart`) where the surveillance scan does not provide it; :func:`spc_chart_spec`
turns one series into a Vega-Lite spec.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from forewarn.charts.palette import LIMIT, POINT_TYPES, TARGET, base_config
from forewarn.stats.spc import AssuranceType, PointType, SpcOptions, xmr_chart

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


@dataclass(frozen=True)
class SeriesInput:
    """Plain data for :func:`xmr_series`: one indicator's values in period order."""

    indicator_code: str
    indicator_name: str
    unit: str | None
    improvement: Improvement
    periods: Sequence[dt.date]
    values: Sequence[float | None]
    target: float | None = None
    rebases: Sequence[dt.date] = ()


def improvement_of(polarity: str) -> Improvement:
    """Making Data Count's improvement direction for an indicator's polarity."""
    return {"higher_is_better": "increase", "lower_is_better": "decrease"}.get(polarity, "neutral")  # type: ignore[return-value]


def _phases(
    periods: Sequence[dt.date], rebases: Sequence[dt.date], observed: np.ndarray
) -> tuple[list[int], list[dt.date]]:
    """Segment of each point; a rebase that would leave a segment with fewer than 2 points is ignored."""
    kept: list[dt.date] = []
    for date in sorted(set(rebases)):
        before = sum(
            1
            for p, o in zip(periods, observed, strict=True)
            if o and (not kept or p >= kept[-1]) and p < date
        )
        after = sum(1 for p, o in zip(periods, observed, strict=True) if o and p >= date)
        if before >= 2 and after >= 2:
            kept.append(date)
    return [sum(1 for date in kept if p >= date) for p in periods], kept


def _observed(values: Sequence[float | None]) -> int:
    as_array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return int(np.count_nonzero(np.isfinite(as_array)))


def xmr_series(inputs: Sequence[SeriesInput], *, min_points: int = 2) -> list[SpcSeries]:
    """XmR chart data for every input series, computed together (one call per improvement direction).

    Series with fewer than ``min_points`` values (at least 2) get their points and no limits, as the
    surveillance scan leaves them without an SPC status.
    """
    min_points = max(2, min_points)
    results: dict[int, SpcSeries] = {}
    for improvement in ("increase", "decrease", "neutral"):
        chosen = [
            i
            for i, s in enumerate(inputs)
            if s.improvement == improvement and _observed(s.values) >= min_points
        ]
        if not chosen:
            continue
        width = max(len(inputs[i].values) for i in chosen)
        panel = np.full((len(chosen), width), np.nan)
        phase = np.zeros((len(chosen), width), dtype=np.int64)
        kept_rebases: list[list[dt.date]] = []
        for row, i in enumerate(chosen):
            values = np.array([np.nan if v is None else v for v in inputs[i].values], dtype=np.float64)
            panel[row, : len(values)] = values
            segments, kept = _phases(inputs[i].periods, inputs[i].rebases, np.isfinite(values))
            phase[row, : len(segments)] = segments
            phase[row, len(segments) :] = segments[-1] if segments else 0
            kept_rebases.append(kept)
        targets = np.array([np.nan if inputs[i].target is None else inputs[i].target for i in chosen])
        chart = xmr_chart(panel, SpcOptions(improvement=improvement, target=targets), phase=phase)
        # XmrChart's per-point arrays are computed on each access: take each once, NaN as None.
        columns = [
            np.where(np.isfinite(a), a, np.nan).astype(object)
            for a in (chart.values, chart.mean, chart.lpl, chart.upl)
        ]
        for column in columns:
            column[column != column] = None  # NaN is the only value not equal to itself
        type_names = np.array([PointType(k).label for k in range(len(PointType))], dtype=object)
        rule_names = np.array([None, *chart.special_cause_labels[1:]], dtype=object)
        observed_all = np.isfinite(chart.values)
        # Missing points carry no type or rule: look them up as common cause.
        types_all = type_names[np.where(observed_all, chart.point_type, 0)]
        rules_all = rule_names[np.where(observed_all, chart.special_cause_type, 0)]
        for row, i in enumerate(chosen):
            source = inputs[i]
            n = len(source.periods)
            results[i] = SpcSeries(
                indicator_code=source.indicator_code,
                indicator_name=source.indicator_name,
                unit=source.unit,
                improvement=source.improvement,
                period=tuple(source.periods),
                value=tuple(columns[0][row, :n].tolist()),
                mean=tuple(columns[1][row, :n].tolist()),
                lpl=tuple(columns[2][row, :n].tolist()),
                upl=tuple(columns[3][row, :n].tolist()),
                point_type=tuple(types_all[row, :n].tolist()),
                rule=tuple(rules_all[row, :n].tolist()),
                target=source.target,
                rebases=tuple(kept_rebases[row]),
                variation=PointType(int(chart.variation[row])).label,
                assurance=AssuranceType(int(chart.assurance[row])).label,
            )
    for i, source in enumerate(inputs):
        if i not in results:
            results[i] = SpcSeries(
                indicator_code=source.indicator_code,
                indicator_name=source.indicator_name,
                unit=source.unit,
                improvement=source.improvement,
                period=tuple(source.periods),
                value=tuple(source.values),
                mean=(None,) * len(source.periods),
                lpl=(None,) * len(source.periods),
                upl=(None,) * len(source.periods),
                point_type=("common_cause",) * len(source.periods),
                rule=(None,) * len(source.periods),
                target=source.target,
                warnings=(f"fewer than {min_points} values: no process limits are drawn",),
            )
    return [results[i] for i in range(len(inputs))]


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
