"""Tests of forewarn.stats.spc (XmR charts, Making Data Count rules) against NHSRplotthedots 0.2.2.

Reference files: tests/fixtures/nhsrplotthedots/ (see SOURCE.md there for the calls).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from forewarn.stats.spc import (
    AssuranceType,
    PointType,
    SpcOptions,
    SpecialCauseType,
    XmrChart,
    _bytes_to_panel,
    special_cause_type_labels,
    xmr_chart,
    xmr_limits,
)
from forewarn.stats.spc_layout import segment_layout
from forewarn.stats.spc_rules import (
    outside_limits_rule,
    relative_to_mean,
    shift_rule,
    trend_direction,
    trend_rule,
    two_in_three_rule,
)
from forewarn.stats.spc_types import XMR_LIMIT_FACTOR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nhsrplotthedots"
RTOL = 1e-9


def read_csv(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def rrk_input(name: str) -> list[dict[str, str]]:
    return sorted(read_csv(name), key=lambda row: row["period"])


def rrk_breaches(name: str = "input_rrk_all.csv") -> np.ndarray:
    return np.array([[float(row["breaches"]) for row in rrk_input(name)]])


def rrk_performance() -> np.ndarray:
    rows = rrk_input("input_rrk_all.csv")
    return np.array([[1 - float(r["breaches"]) / float(r["attendances"]) for r in rows]])


def rnorm20() -> np.ndarray:
    return np.array([[float(row["y"]) for row in read_csv("input_testfixture_rnorm20.csv")]])


def type1_panel(column: str) -> tuple[list[str], np.ndarray]:
    rows = read_csv("input_type1_36m_performance.csv")
    orgs = sorted({row["org_code"] for row in rows})
    periods = sorted({row["period"] for row in rows})
    panel = np.full((len(orgs), len(periods)), np.nan)
    org_index = {org: i for i, org in enumerate(orgs)}
    period_index = {period: j for j, period in enumerate(periods)}
    for row in rows:
        panel[org_index[row["org_code"]], period_index[row["period"]]] = float(row[column])
    return orgs, panel


def assert_points_match(chart: XmrChart, name: str, phase_of_rows: bool = False) -> None:
    """Every column of NHSRplotthedots' as.data.frame() output, point by point (panel rows in file order)."""
    rows = read_csv(f"{name}_points.csv")
    facets = list(dict.fromkeys(row["f"] for row in rows))
    n_times = chart.values.shape[1]
    assert chart.values.shape[0] == len(facets)
    assert len(rows) == len(facets) * n_times

    def column(key: str) -> np.ndarray:
        return np.array([row[key] for row in rows]).reshape(len(facets), n_times)

    def numbers(key: str) -> np.ndarray:
        return column(key).astype(float)

    def flags(key: str) -> np.ndarray:
        return column(key) == "TRUE"

    np.testing.assert_allclose(chart.values, numbers("y"), rtol=1e-12)
    np.testing.assert_allclose(chart.mean, numbers("mean_col"), rtol=RTOL)
    np.testing.assert_allclose(chart.lpl, numbers("lpl"), rtol=RTOL)
    np.testing.assert_allclose(chart.upl, numbers("upl"), rtol=RTOL)
    np.testing.assert_array_equal(chart.segment, column("rebase_group").astype(int))
    np.testing.assert_array_equal(chart.outside_limits, flags("outside_limits"))
    np.testing.assert_array_equal(chart.relative_to_mean, column("relative_to_mean").astype(int))
    np.testing.assert_array_equal(chart.close_to_limits, flags("close_to_limits"))
    np.testing.assert_array_equal(chart.special_cause_flag, flags("special_cause_flag"))
    np.testing.assert_array_equal(chart.short_group_warning, flags("short_group_warning"))
    labels = np.array(chart.special_cause_labels)[chart.special_cause_type]
    np.testing.assert_array_equal(labels, column("special_cause_type"))
    point_types = np.array([code.label for code in PointType])[chart.point_type]
    np.testing.assert_array_equal(point_types, column("point_type"))


def assert_summary_matches(chart: XmrChart, name: str) -> None:
    """Every column of NHSRplotthedots' summary(): one row per facet and rebase group."""
    rows = read_csv(f"{name}_summary.csv")
    summary = chart.summary
    assert summary.series.size == len(rows)
    for key, got in (("mean_col", summary.mean), ("lpl", summary.lpl), ("upl", summary.upl)):
        np.testing.assert_allclose(got, [float(row[key]) for row in rows], rtol=RTOL)
    for key, got in (
        ("n", summary.n),
        ("common_cause", summary.common_cause),
        ("special_cause_improvement", summary.special_cause_improvement),
        ("special_cause_concern", summary.special_cause_concern),
    ):
        np.testing.assert_array_equal(got, [int(row[key]) for row in rows])
    assert [PointType(code).label for code in summary.variation] == [row["variation_type"] for row in rows]
    if "rebase_group" in rows[0]:
        np.testing.assert_array_equal(summary.segment, [int(row["rebase_group"]) for row in rows])
    if "assurance_type" in rows[0]:
        expected = [None if row["assurance_type"] == "NA" else row["assurance_type"] for row in rows]
        assert [AssuranceType(code).label for code in summary.assurance] == expected
    else:
        assert (summary.assurance == AssuranceType.NOT_ASSESSED).all()


# ------------------------------------------------------------------------------------------------------------
# NHSRplotthedots reference files
# ------------------------------------------------------------------------------------------------------------


def test_rrk_stable_breaches_matches_nhsrplotthedots() -> None:
    chart = xmr_chart(rrk_breaches("input_rrk_stable.csv"), SpcOptions(improvement="decrease"))
    assert_points_match(chart, "rrk_stable_breaches")
    assert_summary_matches(chart, "rrk_stable_breaches")
    # the README's figures: mean 1711.875, 8 points by the 7-below rule, 1 above the UPL
    assert chart.summary.mean[0] == pytest.approx(1711.875, rel=1e-12)
    assert chart.shift.sum() == 8
    assert chart.outside_limits.sum() == 1
    assert chart.warnings == ()


def test_rrk_rebase_breaches_matches_nhsrplotthedots() -> None:
    periods = [row["period"] for row in rrk_input("input_rrk_all.csv")]
    phase = np.array([[int(period >= "2018-07-01") for period in periods]])
    chart = xmr_chart(rrk_breaches(), SpcOptions(improvement="decrease"), phase=phase)
    assert_points_match(chart, "rrk_rebase_breaches")
    assert_summary_matches(chart, "rrk_rebase_breaches")
    # the 9-point rebase group is short: a warning, not an error
    assert chart.summary.short_group_warning.tolist() == [False, True]
    assert len(chart.warnings) == 1
    assert "fewer than 13 points" in chart.warnings[0]


def test_rrk_performance_fixed_baseline_matches_nhsrplotthedots() -> None:
    chart = xmr_chart(rrk_performance(), SpcOptions(fix_after_n_points=12))
    assert_points_match(chart, "rrk_performance_fix12")
    assert_summary_matches(chart, "rrk_performance_fix12")


@pytest.mark.parametrize(
    ("name", "screen"),
    [("rrk_performance_target95", True), ("rrk_performance_target95_noscreen", False)],
)
def test_rrk_performance_target_matches_nhsrplotthedots(name: str, screen: bool) -> None:
    chart = xmr_chart(rrk_performance(), SpcOptions(target=0.95, screen_outliers=screen))
    assert_points_match(chart, name)
    assert_summary_matches(chart, name)
    assert chart.assurance.tolist() == [AssuranceType.CONSISTENT_FAIL]


@pytest.mark.parametrize(
    ("name", "spike", "screen"),
    [
        ("testfixture_rnorm20", False, True),
        ("testfixture_rnorm20_y15eq10_screened", True, True),
        ("testfixture_rnorm20_y15eq10_unscreened", True, False),
    ],
)
def test_package_fixture_matches_nhsrplotthedots(name: str, spike: bool, screen: bool) -> None:
    values = rnorm20()
    if spike:
        values[0, 14] = 10.0  # R: y[15] <- 10
    chart = xmr_chart(values, SpcOptions(screen_outliers=screen))
    assert_points_match(chart, name)
    assert_summary_matches(chart, name)


def test_130_trusts_performance_in_one_call_matches_nhsrplotthedots() -> None:
    orgs, panel = type1_panel("performance")
    chart = xmr_chart(panel, SpcOptions(improvement="increase", target=0.95))
    assert_points_match(chart, "type1_36m_performance_facets")
    assert_summary_matches(chart, "type1_36m_performance_facets")
    assert [row["f"] for row in read_csv("type1_36m_performance_facets_summary.csv")] == orgs
    # the README's figures: variation 84 common cause, 42 concern, 4 improvement; assurance 87 fail,
    # 41 inconsistent, 2 pass
    variation = np.bincount(chart.variation, minlength=len(PointType))
    assert variation[PointType.COMMON_CAUSE] == 84
    assert variation[PointType.SPECIAL_CAUSE_CONCERN] == 42
    assert variation[PointType.SPECIAL_CAUSE_IMPROVEMENT] == 4
    assurance = np.bincount(chart.assurance, minlength=len(AssuranceType))
    assert assurance[AssuranceType.CONSISTENT_FAIL] == 87
    assert assurance[AssuranceType.INCONSISTENT] == 41
    assert assurance[AssuranceType.CONSISTENT_PASS] == 2


def test_130_trusts_breaches_neutral_matches_nhsrplotthedots() -> None:
    _, panel = type1_panel("breaches")
    chart = xmr_chart(panel, SpcOptions(improvement="neutral"))
    assert_points_match(chart, "type1_36m_breaches_facets_neutral")
    assert_summary_matches(chart, "type1_36m_breaches_facets_neutral")


# ------------------------------------------------------------------------------------------------------------
# Derivations: limits and rules on hand-made data
# ------------------------------------------------------------------------------------------------------------


def test_limits_follow_the_formula_with_screening() -> None:
    # moving ranges 1, 1, 1, 1, 10: mean 2.8; 10 >= 3.267 * 2.8 = 9.15 is screened, leaving 1.0
    values = np.array([[0.0, 1.0, 0.0, 1.0, 0.0, 10.0]])
    limits = xmr_limits(values, np.array([6]))
    assert limits.mean[0] == pytest.approx(2.0)
    assert limits.mean_moving_range[0] == pytest.approx(1.0)
    assert limits.upl[0] == pytest.approx(2.0 + XMR_LIMIT_FACTOR)
    assert limits.lower_close[0] == pytest.approx(2.0 - 2 * XMR_LIMIT_FACTOR / 3)
    unscreened = xmr_limits(values, np.array([6]), screen_outliers=False)
    assert unscreened.mean_moving_range[0] == pytest.approx(2.8)


def test_constant_series_keeps_zero_moving_range_instead_of_nan() -> None:
    chart = xmr_chart([[5.0] * 15])
    assert chart.summary.lpl[0] == 5.0
    assert chart.summary.upl[0] == 5.0
    assert not chart.special_cause_flag.any()


def test_shift_is_broken_by_a_point_on_the_mean() -> None:
    side = np.array([[1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, -1]], dtype=np.int8)
    assert shift_rule(side).astype(int).tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]]
    assert not shift_rule(side[:, :10]).any()  # only 6 in a row before the end


def test_trend_needs_strict_steps_and_a_tie_breaks_it() -> None:
    rising = np.array([[1.0, 2, 3, 4, 5, 6, 7]])
    assert trend_rule(rising).all()
    with_tie = np.array([[1.0, 2, 3, 3, 4, 5, 6, 7]])
    assert not trend_rule(with_tie).any()
    assert trend_rule(np.array([[1.0, 2, 3, 4, 5, 6]]), length=6).all()


def test_trend_direction_at_a_peak_follows_nhsrplotthedots() -> None:
    # the peak belongs to both trends; NHSRplotthedots reads the step to the next point (falling)
    values = np.array([[1.0, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1]])
    direction = trend_direction(values, trend_rule(values))
    assert direction[0, 6] == -1
    assert direction[0, :6].tolist() == [1] * 6


def test_two_in_three_flags_only_close_points_on_one_side() -> None:
    close = np.array([[True, False, True, False, False, True, True]])
    side = np.array([[1, 1, 1, -1, -1, 1, -1]], dtype=np.int8)
    flags = two_in_three_rule(close, side)
    # window 0..2: two close, all above -> points 0 and 2; window 4..6 mixes sides -> nothing
    assert flags.astype(int).tolist() == [[1, 0, 1, 0, 0, 0, 0]]


def test_outside_limits_is_strict() -> None:
    flags = outside_limits_rule(np.array([[1.0, 2.0, 3.0]]), np.array([1.0]), np.array([3.0]))
    assert not flags.any()
    assert relative_to_mean(np.array([[1.0, 2.0, np.nan]]), np.array([2.0])).tolist() == [[-1, 0, 0]]


def test_precedence_outside_before_trend_before_shift() -> None:
    # baseline +-1 alternating: mean 0, mean moving range 2, limits +-5.32, close band from +-3.5467;
    # then a rise from -1 to 9: points 11-19 are a 9-point trend, 12-19 are 8 points above the mean, 9 is
    # outside, 4.0 is the only close point (no two-in-three)
    values = np.array([[1.0, -1.0] * 6 + [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 9.0]])
    chart = xmr_chart(values, SpcOptions(fix_after_n_points=12))
    assert chart.summary.upl[0] == pytest.approx(5.32)
    assert chart.shift[0].tolist() == [False] * 12 + [True] * 8
    assert chart.trend[0].tolist() == [False] * 11 + [True] * 9
    assert chart.close_to_limits[0].tolist() == [False] * 18 + [True, False]
    assert not chart.two_in_three.any()
    expected = [SpecialCauseType.COMMON_CAUSE] * 11 + [SpecialCauseType.TREND_INCREASING] * 8
    assert chart.special_cause_type[0].tolist() == [*expected, SpecialCauseType.ABOVE_UPPER_LIMIT]
    assert (chart.point_type[0, 11:] == PointType.SPECIAL_CAUSE_IMPROVEMENT).all()
    assert chart.variation[0] == PointType.SPECIAL_CAUSE_IMPROVEMENT


def test_configured_lengths_change_rules_and_labels() -> None:
    labels = special_cause_type_labels(shift_length=8, trend_length=6)
    assert labels[SpecialCauseType.SHIFT_ABOVE] == "8 Points Above CL"
    assert labels[SpecialCauseType.TREND_DECREASING] == "6 Point Trend (Decreasing)"
    values = np.array([[0.5, -0.5, 0.4, -0.4, 0.3, -0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, 0.6, -0.6]])
    six = xmr_chart(values, SpcOptions(trend_length=6))
    seven = xmr_chart(values, SpcOptions(trend_length=7))
    # 0.2 > 0.1 > ... > -0.3 (points 6 to 11): six falling points, one short of seven
    assert six.trend[0].tolist() == [False] * 6 + [True] * 6 + [False] * 2
    assert not seven.trend.any()


# ------------------------------------------------------------------------------------------------------------
# Panels: padding, gaps, phases and many series give the same answer as one series at a time
# ------------------------------------------------------------------------------------------------------------


def assert_same_chart_rows(panel_chart: XmrChart, row: int, single: XmrChart, columns: slice) -> None:
    for field in (
        "special_cause_type",
        "point_type",
        "outside_limits",
        "close_to_limits",
        "relative_to_mean",
        "shift",
        "trend",
        "two_in_three",
    ):
        np.testing.assert_array_equal(getattr(panel_chart, field)[row, columns], getattr(single, field)[0])
    np.testing.assert_allclose(panel_chart.lpl[row, columns], single.lpl[0], rtol=1e-12)
    np.testing.assert_allclose(panel_chart.upl[row, columns], single.upl[0], rtol=1e-12)


def test_padded_panel_equals_series_one_at_a_time() -> None:
    _, panel = type1_panel("breaches")
    panel = panel[:6].copy()
    lengths = [36, 30, 20, 14, 36, 25]
    for row, length in enumerate(lengths):
        panel[row, length:] = np.nan
    options = SpcOptions(improvement="decrease", target=900.0)
    chart = xmr_chart(panel, options)
    for row, length in enumerate(lengths):
        single = xmr_chart(panel[row : row + 1, :length], options)
        assert_same_chart_rows(chart, row, single, slice(0, length))
        assert chart.variation[row] == single.variation[0]
        assert chart.assurance[row] == single.assurance[0]
        assert np.isnan(chart.mean[row, length:]).all()
        assert (chart.segment[row, length:] == -1).all()


def test_missing_points_are_skipped_as_if_absent() -> None:
    breaches = rrk_breaches()
    gappy = breaches.copy()
    gappy[0, [3, 17]] = np.nan
    leading = np.concatenate([np.full((1, 2), np.nan), breaches[:, :34]], axis=1)
    chart = xmr_chart(np.vstack([gappy, leading]))
    without_gaps = xmr_chart(np.delete(breaches, [3, 17], axis=1))
    kept = np.setdiff1d(np.arange(36), [3, 17])
    assert_same_chart_rows(chart, 0, without_gaps, kept)
    assert chart.point_type[0, 3] == PointType.COMMON_CAUSE
    assert np.isnan(chart.lpl[0, 3])
    assert_same_chart_rows(chart, 1, xmr_chart(breaches[:, :34]), slice(2, 36))


def test_rebased_segments_equal_separate_charts() -> None:
    breaches = np.vstack([rrk_breaches(), rrk_breaches()[:, ::-1]])
    phase = np.zeros(breaches.shape, dtype=int)
    phase[0, 20:] = 1
    phase[1, 14:] = 3
    phase[1, 30:] = 4
    options = SpcOptions(improvement="decrease", fix_after_n_points=12, target=1500.0)
    chart = xmr_chart(breaches, options, phase=phase)
    assert chart.summary.series.tolist() == [0, 0, 1, 1, 1]
    assert chart.summary.segment.tolist() == [0, 1, 0, 1, 2]
    assert chart.summary.is_last.tolist() == [False, True, False, False, True]
    for row, bounds in ((0, [(0, 20), (20, 36)]), (1, [(0, 14), (14, 30), (30, 36)])):
        for start, stop in bounds:
            single = xmr_chart(breaches[row : row + 1, start:stop], options)
            assert_same_chart_rows(chart, row, single, slice(start, stop))
    # assurance only on the last segment of each series
    assert chart.summary.assurance[0] == AssuranceType.NOT_ASSESSED
    assert chart.summary.assurance[1] != AssuranceType.NOT_ASSESSED
    last = xmr_chart(breaches[1:2, 30:], options)
    assert chart.assurance[1] == last.assurance[0]


def test_short_group_warning_threshold_is_13_points() -> None:
    values = rnorm20()
    assert xmr_chart(values[:, :13]).warnings == ()
    chart = xmr_chart(values[:, :12])
    assert chart.short_group_warning.all()
    assert len(chart.warnings) == 1


def test_per_series_targets() -> None:
    orgs, panel = type1_panel("performance")
    targets = np.full(len(orgs), np.nan)
    targets[:3] = [0.95, 0.5, 0.75]
    chart = xmr_chart(panel, SpcOptions(target=targets))
    assert chart.assurance[0] == xmr_chart(panel[:1], SpcOptions(target=0.95)).assurance[0]
    assert chart.assurance[1] == AssuranceType.CONSISTENT_PASS  # 50 % is below every trust's lower limit
    assert (chart.assurance[3:] == AssuranceType.NOT_ASSESSED).all()
    neutral = xmr_chart(panel, SpcOptions(improvement="neutral", target=0.95))
    assert (neutral.assurance == AssuranceType.NOT_ASSESSED).all()


# ------------------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"improvement": "up"}, "improvement"),
        ({"fix_after_n_points": 11}, "fix_after_n_points"),
        ({"fix_after_n_points": 12.5}, "fix_after_n_points"),
        ({"shift_length": 1}, "shift_length"),
        ({"trend_length": 2}, "trend_length"),
        ({"screen_outliers": "yes"}, "screen_outliers"),
        ({"short_group_threshold": 0}, "short_group_threshold"),
        ({"target": [[0.9]]}, "target"),
        ({"target": float("inf")}, "target"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpcOptions(**kwargs)  # type: ignore[arg-type]


def test_options_are_frozen() -> None:
    options = SpcOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.improvement = "decrease"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "phase", "message"),
    [
        ([1.0, 2.0, 3.0], None, "2-D"),
        (np.empty((0, 5)), None, "empty"),
        ([[1.0, np.inf, 2.0]], None, "infinite"),
        ([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], None, "no observed point"),
        ([[1.0, np.nan, np.nan]], None, "fewer than 2"),
        ([[1.0, 2.0, 3.0, 4.0]], [[0, 0, 0, 1]], "fewer than 2"),
        ([[1.0, 2.0, 3.0, 4.0]], [[0, 0, 1]], "shape"),
        ([[1.0, 2.0, 3.0, 4.0]], [[0.0, 0.0, 1.0, 1.0]], "integer"),
        ([[1.0, 2.0, 3.0, 4.0]], [[1, 1, 0, 0]], "decrease"),
        ([["a", "b"]], None, "numeric"),
    ],
)
def test_bad_panels_raise(values: object, phase: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        xmr_chart(values, phase=phase)  # type: ignore[arg-type]


def test_target_length_must_match_the_panel() -> None:
    with pytest.raises(ValueError, match="target has 2 values but the panel has 1 series"):
        xmr_chart(rnorm20(), SpcOptions(target=[0.1, 0.2]))


def test_error_names_the_row_of_a_large_panel() -> None:
    panel = np.tile(rnorm20(), (5000, 1))
    panel[4321, 1:] = np.nan
    with pytest.raises(ValueError, match="row 4321"):
        xmr_chart(panel)


def test_per_point_bytes_scattered_as_one_word_equal_one_scatter_each() -> None:
    """The per-point results of a block (one byte each) go to the panel as the bytes of one word a point: the
    same arrays as scattering each on its own, 0 at missing points and padding."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=(40, 12))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[5, 7:] = np.nan
    layout = segment_layout(values, None, min_points=0)
    assert layout.observed is not None  # the path with gaps
    shape = (layout.n_segments, layout.width)
    results = tuple(
        rng.integers(-3, 4, shape).astype(np.int8) if i % 2 else rng.random(shape) < 0.5 for i in range(8)
    )
    got = tuple(np.full(values.shape, 9, dtype=r.dtype) for r in results)
    _bytes_to_panel(layout, results, got)
    for result, array in zip(results, got, strict=True):
        np.testing.assert_array_equal(array, layout.to_panel(result, fill=0))
        assert array.dtype == result.dtype
