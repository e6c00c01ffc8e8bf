"""Funnel and rank-interval charts: pure specs of the results they are given (the funnel's points and limits come
from the scan, checked in tests/surveillance/test_funnels.py)."""

from __future__ import annotations

import math

from forewarn.charts.funnel import FunnelCurve, FunnelUnit, funnel_plot_spec
from forewarn.charts.ranks import RankInterval, rank_interval_spec
from tests.charts.specs import rows


def test_funnel_spec_names_each_point_in_its_tooltip_and_marks_your_own() -> None:
    units = [
        FunnelUnit("Alpha", 100.0, 0.9, highlight=True),
        FunnelUnit("Peer 1", 200.0, 0.5, outlier=-1, concern=True),
    ]
    spec = funnel_plot_spec(
        units,
        [FunnelCurve("99.8% lower", [100.0, 200.0], [0.6, 0.7])],
        target=0.8,
        title="P",
        value_title="Proportion",
        denominator_title="N",
    )
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["encoding"]["tooltip"][0] == {"field": "label", "title": "Organisation"}
    assert {p["label"] for p in rows(spec, points)} == {"Alpha", "Peer 1"}
    label = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert rows(spec, label)[0]["label"] == "Alpha"
    assert "1 outside the limits" in spec["description"]


def test_funnel_spec_draws_the_curves_it_is_given_and_leaves_out_undefined_values() -> None:
    """The spec computes nothing: each curve point is drawn as given (NaN left out), narrower limits dashed."""
    curves = [
        FunnelCurve("95% upper", [10.0, 20.0, 40.0], [0.9, 0.85, math.nan], dashed=True),
        FunnelCurve("99.8% upper", [10.0, 40.0], [0.95, 0.88]),
    ]
    spec = funnel_plot_spec(
        [FunnelUnit("A", 20.0, 0.8)],
        curves,
        target=0.8,
        title="P",
        value_title="Proportion",
        denominator_title="N",
    )
    lines = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert rows(spec, lines) == [
        {"limit": "95% upper", "denominator": 10.0, "value": 0.9, "dashed": True},
        {"limit": "95% upper", "denominator": 20.0, "value": 0.85, "dashed": True},
        {"limit": "99.8% upper", "denominator": 10.0, "value": 0.95, "dashed": False},
        {"limit": "99.8% upper", "denominator": 40.0, "value": 0.88, "dashed": False},
    ]
    target = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    assert rows(spec, target) == [{"target": 0.8}]


def test_rank_chart_orders_by_rank_and_draws_each_interval() -> None:
    spec = rank_interval_spec(
        [RankInterval("B", 2, 1, 3), RankInterval("A", 1, 1, 2, distinguishable=1, highlight=True)],
        of=3,
        title="P",
    )
    ranked = rows(spec)
    assert [r["label"] for r in ranked] == ["A", "B"]
    assert spec["layer"][0]["encoding"]["x2"] == {"field": "upper"}
    assert ranked[0]["class"] == "Better than the middle"


def test_a_proportions_funnel_reads_in_per_cent_and_draws_its_limits_within_0_and_100() -> None:
    curves = [
        FunnelCurve("99.8% lower", [5.0, 50.0], [-0.12, 0.7]),
        FunnelCurve("99.8% upper", [5.0, 50.0], [1.05, 0.95]),
    ]
    units = [FunnelUnit("A", 20.0, 0.8)]
    spec = funnel_plot_spec(
        units,
        curves,
        target=0.8,
        title="P",
        value_title="Proportion",
        denominator_title="N",
        kind="proportion",
    )
    lines = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert [row["value"] for row in rows(spec, lines)] == [0.0, 0.7, 1.0, 0.95]
    assert spec["description"].endswith("; limits below 0% shown at 0%; limits above 100% shown at 100%")
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["encoding"]["y"]["axis"] == {"format": ".0%"}
    assert next(t for t in points["encoding"]["tooltip"] if t["field"] == "value")["format"] == ".1%"
    assert rows(spec, points)[0]["value"] == 0.8  # the data stay the stored fractions
    # Without a kind (or for a ratio) values read as numbers and nothing is moved above 1.
    plain = funnel_plot_spec(
        units, curves, target=0.8, title="P", value_title="Ratio", denominator_title="E", kind="ratio_oe"
    )
    lines = next(layer for layer in plain["layer"] if layer["mark"]["type"] == "line")
    assert [row["value"] for row in rows(plain, lines)] == [0.0, 0.7, 1.05, 0.95]
    points = next(layer for layer in plain["layer"] if layer["mark"]["type"] == "point")
    assert "axis" not in points["encoding"]["y"]


def test_a_rank_chart_of_many_rows_stays_one_picture_and_says_when_it_shows_only_some() -> None:
    intervals = [RankInterval(f"O{i}", i, max(i - 5, 1), i + 5) for i in range(1, 2001)]
    spec = rank_interval_spec(intervals, of=2000, title="P")
    assert len(rows(spec)) == 2000 and spec["height"] == 2000  # a pixel a row
    assert "usermeta" not in spec
    small = rank_interval_spec(intervals[:100], of=2000, title="P")
    assert small["height"] == 900  # nine pixels a row, as before
    some = rank_interval_spec(intervals[:100], of=50000, title="P", visible=50000)
    assert some["usermeta"] == {"shown": 100, "visible": 50000}
    assert "100 of the 50000 organisations you can see" in some["description"]
