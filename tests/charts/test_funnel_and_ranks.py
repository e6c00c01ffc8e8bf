"""Funnel and rank-interval charts. The funnel view must agree with :func:`forewarn.stats.funnel.funnel_statistics`
(itself checked against FunnelPlotR 0.6.0): each unit's position against the drawn curve matches its outlier flag."""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.charts.funnel import FunnelCurve, FunnelUnit, funnel_plot_spec, funnel_view
from forewarn.charts.ranks import RankInterval, rank_interval_spec
from forewarn.stats.funnel import FunnelOptions, funnel_statistics


def test_funnel_view_of_proportions_matches_the_statistics() -> None:
    rng = np.random.default_rng(3)
    denominator = rng.integers(200, 5000, 60).astype(float)
    numerator = rng.binomial(denominator.astype(int), 0.8).astype(float)
    numerator[5] = denominator[5] * 0.5  # one clear outlier
    view = funnel_view("proportion", list(numerator), list(denominator), [None] * 60, limit=99.8)
    assert view is not None
    result = funnel_statistics(
        numerator, denominator, options=FunnelOptions(data_type="PR", overdispersion="cqc", limit=99.8)
    )
    assert view.ratio == pytest.approx(list(result.ratio))
    assert view.outside_limits == int(result.outlier.sum()) >= 1
    assert view.target == pytest.approx(float(result.target[0]))
    assert {c.name for c in view.curves} == {"95% lower", "95% upper", "99.8% lower", "99.8% upper"}


def test_funnel_view_leaves_out_units_that_cannot_enter() -> None:
    view = funnel_view("proportion", [5.0, None, 7.0, 9.0], [10.0, 10.0, 0.0, 12.0], [None] * 4)
    assert view is not None and list(view.index) == [0, 3]
    assert funnel_view("mean", [1.0, 2.0], [1.0, 1.0], [None, None]) is None


def test_rates_are_compared_with_the_pooled_rate() -> None:
    events = [10.0, 20.0, 30.0, 40.0]
    beds = [1000.0, 2000.0, 3000.0, 4000.0]
    view = funnel_view("rate", events, beds, [None] * 4)
    assert view is not None
    assert view.ratio == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert view.denominator == pytest.approx(events)  # expected = beds x pooled rate 0.01


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
    assert {p["label"] for p in points["data"]["values"]} == {"Alpha", "Peer 1"}
    label = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert label["data"]["values"][0]["label"] == "Alpha"
    assert "1 outside the limits" in spec["description"]


def test_rank_chart_orders_by_rank_and_draws_each_interval() -> None:
    spec = rank_interval_spec(
        [RankInterval("B", 2, 1, 3), RankInterval("A", 1, 1, 2, distinguishable=1, highlight=True)],
        of=3,
        title="P",
    )
    rows = spec["data"]["values"]
    assert [r["label"] for r in rows] == ["A", "B"]
    assert spec["layer"][0]["encoding"]["x2"] == {"field": "upper"}
    assert rows[0]["class"] == "Better than the middle"
