"""Rank-interval charts: each organisation's rank with its interval, so nobody reads a rank as exact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt

from forewarn.charts.palette import COMMON_CAUSE, CONCERN, HIGHLIGHT, IMPROVEMENT
from forewarn.charts.render import layer, layered, spec_of


@dataclass(frozen=True)
class RankInterval:
    label: str
    rank: float
    lower: float
    upper: float
    distinguishable: int = 0  # -1 worse than the middle, 0 not distinguishable, +1 better
    highlight: bool = False


_CLASS = {
    -1: ("Worse than the middle", CONCERN),
    0: ("Not distinguishable", COMMON_CAUSE),
    1: ("Better than the middle", IMPROVEMENT),
}


TALL = 1800
"""Height in pixels beyond which rows get thinner rather than the chart taller (down to a pixel a row)."""


def rank_interval_spec(
    intervals: Sequence[RankInterval],
    *,
    of: int,
    title: str,
    width: int = 620,
    row_height: int = 9,
    visible: int | None = None,
) -> dict[str, Any]:
    """The Vega-Lite spec of :func:`rank_interval_chart` (what the pages embed and the server draws as SVG)."""
    return spec_of(
        rank_interval_chart(
            intervals, of=of, title=title, width=width, row_height=row_height, visible=visible
        )
    )


def rank_interval_chart(
    intervals: Sequence[RankInterval],
    *,
    of: int,
    title: str,
    width: int = 620,
    row_height: int = 9,
    visible: int | None = None,
) -> alt.LayerChart:
    """One row per organisation, ordered by rank: a bar over the rank interval and a point at the rank.

    ``visible`` is how many ranked organisations the viewer may see when ``intervals`` are only some of them
    (a chart of tens of thousands of rows is too big to send): the description then says how many are drawn, and
    ``usermeta`` (which Vega ignores) carries both counts for the page to say so too. The rows travel as the
    named dataset ``ranks``."""
    rows = [
        {
            "label": r.label,
            "rank": r.rank,
            "lower": r.lower,
            "upper": r.upper,
            "class": _CLASS.get(r.distinguishable, _CLASS[0])[0],
            "own": r.highlight,
        }
        for r in sorted(intervals, key=lambda r: (r.rank, r.label))
    ]
    present = [v[0] for k, v in sorted(_CLASS.items()) if any(row["class"] == v[0] for row in rows)] or [
        _CLASS[0][0]
    ]
    colours = {v[0]: v[1] for v in _CLASS.values()}
    y = {
        "field": "label",
        "type": "nominal",
        "sort": None,
        "title": None,
        "axis": {"labels": len(rows) <= 60},
    }
    x_scale = {"domain": [1, max(of, 1)], "reverse": False}
    color = {
        "field": "class",
        "type": "nominal",
        "title": "Rank",
        "scale": {"domain": present, "range": [colours[c] for c in present]},
    }
    tooltip = [
        {"field": "label", "title": "Organisation"},
        {"field": "rank", "type": "quantitative", "title": "Rank", "format": ".0f"},
        {"field": "lower", "type": "quantitative", "title": "Interval from", "format": ".0f"},
        {"field": "upper", "type": "quantitative", "title": "Interval to", "format": ".0f"},
    ]
    # Past TALL pixels rows get thinner, down to a pixel each, and points smaller, so the chart stays one picture.
    height = max(60, row_height * len(rows))
    point_size = 30
    if height > TALL:
        height = max(TALL, len(rows))
        point_size = 30 if height / len(rows) >= 6 else 8
    description = f"Ranks with intervals for {title}: {len(rows)} organisations out of {of}"
    partial = visible is not None and visible > len(rows)
    if partial:
        description = (
            f"Ranks with intervals for {title}: {len(rows)} of the {visible} organisations you can see "
            f"(yours and an even spread across the ranks), out of {of}"
        )
    layers = [
        layer(
            None,
            {"type": "rule", "strokeWidth": 2},
            y=y,
            x={
                "field": "lower",
                "type": "quantitative",
                "title": f"Rank (1 = best of {of})",
                "scale": x_scale,
            },
            x2={"field": "upper"},
            color=color,
            tooltip=tooltip,
        ),
        layer(
            None,
            {"type": "point", "filled": True, "size": point_size},
            y=y,
            x={"field": "rank", "type": "quantitative", "scale": x_scale},
            color=color,
            stroke={"condition": {"test": "datum.own", "value": HIGHLIGHT}, "value": None},
            tooltip=tooltip,
        ),
    ]
    return layered(
        layers,
        data="ranks",
        description=description,
        **({"usermeta": {"shown": len(rows), "visible": visible}} if partial else {}),
        width=width,
        height=height,
        datasets={"ranks": rows},
    )
