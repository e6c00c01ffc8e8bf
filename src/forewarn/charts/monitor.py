"""Charts of the analyst's other tools: a monitoring statistic (CUSUM, EWMA) against its limits, and group means
with their intervals (psychometrics). Same palette, accessibility text and spec conventions as the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt

from forewarn.charts.palette import COMMON_CAUSE, CONCERN, LIMIT
from forewarn.charts.render import layer, layered


@dataclass(frozen=True)
class MonitoredSeries:
    """One series' statistic per period with its limits (None where there is none) and alarms."""

    name: str
    statistic_name: str
    period: tuple[str, ...]
    statistic: tuple[float | None, ...]
    upper: tuple[float | None, ...]
    lower: tuple[float | None, ...] | None = None
    centre: float | None = None
    alarm: tuple[bool, ...] = ()


def monitor_chart(series: MonitoredSeries, *, width: int = 560, height: int = 220) -> alt.LayerChart:
    """The statistic as a line, the limits as dashed lines, alarms as orange diamonds (shape and colour)."""
    rows = []
    for t, period in enumerate(series.period):
        value = series.statistic[t]
        if value is None:
            continue
        rows.append(
            {
                "period": period,
                "statistic": value,
                "upper": series.upper[t],
                "lower": None if series.lower is None else series.lower[t],
                "state": "Alarm" if series.alarm and series.alarm[t] else "No alarm",
            }
        )
    x = {"field": "period", "type": "ordinal", "title": "Period", "sort": None, "axis": {"labelAngle": -40}}
    layers = [
        layer(
            None,
            {"type": "line", "color": LIMIT, "strokeDash": [6, 4]},
            x=x,
            y={"field": "upper", "type": "quantitative"},
        )
    ]
    if series.lower is not None:
        layers.append(
            layer(
                None,
                {"type": "line", "color": LIMIT, "strokeDash": [6, 4]},
                x=x,
                y={"field": "lower", "type": "quantitative"},
            )
        )
    layers.append(
        layer(
            None,
            {"type": "line", "color": "#b1b4b6", "strokeWidth": 1.5},
            x=x,
            y={
                "field": "statistic",
                "type": "quantitative",
                "title": series.statistic_name,
                "scale": {"zero": False},
            },
        )
    )
    layers.append(
        layer(
            None,
            {"type": "point", "filled": True, "size": 50, "opacity": 1},
            x=x,
            y={"field": "statistic", "type": "quantitative"},
            color={
                "field": "state",
                "type": "nominal",
                "title": "Signal",
                "scale": {"domain": ["No alarm", "Alarm"], "range": [COMMON_CAUSE, CONCERN]},
            },
            shape={
                "field": "state",
                "type": "nominal",
                "scale": {"domain": ["No alarm", "Alarm"], "range": ["circle", "diamond"]},
            },
            tooltip=[
                {"field": "period", "title": "Period"},
                {
                    "field": "statistic",
                    "type": "quantitative",
                    "title": series.statistic_name,
                    "format": ",.4~g",
                },
                {"field": "state", "title": "Signal"},
            ],
        )
    )
    alarms = sum(1 for row in rows if row["state"] == "Alarm")
    return layered(
        layers,
        data="points",
        description=f"{series.statistic_name} chart of {series.name}: {len(rows)} periods, {alarms} alarm(s)",
        width=width,
        height=height,
        datasets={"points": rows},
    )


@dataclass(frozen=True)
class GroupMean:
    group: str
    mean: float
    lower: float | None
    upper: float | None
    n: int


def group_means_chart(
    groups: Sequence[GroupMean], *, title: str, width: int = 560, row_height: int = 14
) -> alt.LayerChart:
    """Each group's mean score with its interval, one row per group in the order given."""
    rows: list[dict[str, Any]] = [
        {"group": g.group, "mean": g.mean, "lower": g.lower, "upper": g.upper, "n": g.n} for g in groups
    ]
    y = {
        "field": "group",
        "type": "nominal",
        "sort": None,
        "title": None,
        "axis": {"labels": len(rows) <= 60},
    }
    tooltip = [
        {"field": "group", "title": "Group"},
        {"field": "mean", "type": "quantitative", "title": "Mean", "format": ".2f"},
        {"field": "lower", "type": "quantitative", "title": "Interval from", "format": ".2f"},
        {"field": "upper", "type": "quantitative", "title": "Interval to", "format": ".2f"},
        {"field": "n", "type": "quantitative", "title": "Respondents"},
    ]
    layers = [
        layer(
            None,
            {"type": "rule", "strokeWidth": 2, "color": LIMIT},
            y=y,
            x={"field": "lower", "type": "quantitative", "title": title, "scale": {"zero": False}},
            x2={"field": "upper"},
            tooltip=tooltip,
        ),
        layer(
            None,
            {"type": "point", "filled": True, "size": 40, "color": COMMON_CAUSE},
            y=y,
            x={"field": "mean", "type": "quantitative"},
            tooltip=tooltip,
        ),
    ]
    return layered(
        layers,
        data="groups",
        description=f"Mean {title} of {len(rows)} groups, each with its interval",
        width=width,
        height=max(60, row_height * len(rows)),
        datasets={"groups": rows},
    )
