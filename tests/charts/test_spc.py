"""SPC chart specs: point types by colour and shape, target and rebase marks, and the same spec drawn as SVG.

The chart data come from the scan; they are checked against NHSRplotthedots in tests/surveillance/test_series.py."""

from __future__ import annotations

import datetime as dt

from forewarn.charts.render import svg
from forewarn.charts.spc import SpcSeries, improvement_of, spc_chart_spec


def test_improvement_follows_polarity() -> None:
    assert [improvement_of(p) for p in ("higher_is_better", "lower_is_better", "neutral")] == [
        "increase",
        "decrease",
        "neutral",
    ]


def _series() -> SpcSeries:
    months = range(1, 13)
    return SpcSeries(
        indicator_code="perf",
        indicator_name="Performance",
        unit="%",
        improvement="increase",
        period=tuple(dt.date(2020, m, 1) for m in months),
        value=tuple(float(m) for m in months),
        mean=(6.0,) * 12,
        lpl=(1.0,) * 12,
        upl=(11.0,) * 12,
        point_type=tuple("special_cause_concern" if m == 12 else "common_cause" for m in months),
        rule=(None,) * 11 + ("Above UCL",),
        target=9.0,
        rebases=(dt.date(2020, 6, 1),),
    )


def test_spec_shows_type_by_colour_and_shape_with_target_and_rebase() -> None:
    spec = spc_chart_spec(_series())
    points_layer = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points_layer["encoding"]["shape"]["scale"]["domain"] == ["Common cause", "Special cause: concern"]
    assert (
        points_layer["encoding"]["color"]["scale"]["domain"]
        == points_layer["encoding"]["shape"]["scale"]["domain"]
    )
    assert [layer["mark"]["type"] for layer in spec["layer"]].count("rule") == 2  # target and the rebase
    assert spec["data"]["values"][5]["segment"] == 1 and spec["data"]["values"][4]["segment"] == 0
    assert "baseline reset 1 time" in spec["description"]


def test_the_server_draws_the_same_spec_as_accessible_svg() -> None:
    drawn = svg(spc_chart_spec(_series()))
    assert drawn.startswith("<svg") and 'role="img"' in drawn.split(">", 1)[0]
    assert "<title>XmR chart of Performance, 12 points" in drawn
