"""Tests of forewarn.stats.spc_attribute (qicharts2-style control charts) against qicharts2 0.8.1.

Reference files: tests/fixtures/qicharts2/ (see SOURCE.md there for the calls and how inputs are rebuilt).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from forewarn.stats.spc_attribute import (
    ControlChart,
    ControlChartOptions,
    c4,
    c_chart,
    control_chart,
    i_chart,
    p_chart,
    pprime_chart,
    s_chart,
    u_chart,
    uprime_chart,
    xbar_chart,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qicharts2"
RTOL = 1e-9
HAI_MULTIPLY = 10000.0


def read_csv(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float:
    return float("nan") if text == "NA" else float(text)


def column(rows: list[dict[str, str]], key: str, shape: tuple[int, int]) -> np.ndarray:
    return np.array([number(row[key]) for row in rows]).reshape(shape)


def cdi_counts() -> np.ndarray:
    return np.array([[float(row["y"]) for row in read_csv("cdi_run_points.csv")]])


def assert_chart_matches(
    chart: ControlChart, points: list[dict[str, str]], summary: list[dict[str, str]]
) -> None:
    """Every numeric column of qic()$data, point by point, and of summary(qic()), segment by segment."""
    shape = chart.y.shape
    for key, got in (
        ("y", chart.y),
        ("cl", chart.centre),
        ("lcl", chart.lcl),
        ("ucl", chart.ucl),
        ("lcl.95", chart.lcl_95),
        ("ucl.95", chart.ucl_95),
    ):
        np.testing.assert_allclose(got, column(points, key, shape), rtol=RTOL, atol=1e-12, err_msg=key)
    signal = np.array([row["sigma.signal"] == "TRUE" for row in points]).reshape(shape)
    np.testing.assert_array_equal(chart.sigma_signal, signal)
    s, runs = chart.summary, chart.summary.runs
    for key, got in (
        ("n.obs", runs.n_obs),
        ("n.useful", runs.n_useful),
        ("longest.run", runs.longest_run),
        ("longest.run.max", runs.longest_run_max),
        ("n.crossings", runs.n_crossings),
        ("n.crossings.min", runs.n_crossings_min),
        ("runs.signal", runs.runs_signal.astype(int)),
        ("sigma.signal", s.n_sigma_signals),
    ):
        np.testing.assert_array_equal(got, [int(row[key]) for row in summary], err_msg=key)
    for key, got in (
        ("aLCL", s.mean_lcl),
        ("aLCL.95", s.mean_lcl_95),
        ("CL", s.centre),
        ("aUCL.95", s.mean_ucl_95),
        ("aUCL", s.mean_ucl),
    ):
        np.testing.assert_allclose(
            got, [number(row[key]) for row in summary], rtol=RTOL, atol=1e-12, err_msg=key
        )


def reference(name: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return read_csv(f"{name}_points.csv"), read_csv(f"{name}_summary.csv")


# ------------------------------------------------------------------------------------------------------------
# qicharts2 reference files
# ------------------------------------------------------------------------------------------------------------


def test_cdi_i_chart_screened_matches_qicharts2() -> None:
    chart = i_chart(cdi_counts())
    assert_chart_matches(chart, *reference("cdi_i"))
    # the README's figures: centre 14.8333, limits 3.3346 to 26.3321, 2 points outside
    assert chart.summary.centre[0] == pytest.approx(14.8333, abs=1e-4)
    assert chart.sigma_signal.sum() == 2


def test_cdi_i_chart_unscreened_matches_qicharts2() -> None:
    chart = i_chart(cdi_counts(), ControlChartOptions(screen_moving_ranges=False))
    assert_chart_matches(chart, *reference("cdi_i_unscreened"))


def test_cdi_c_chart_matches_qicharts2() -> None:
    assert_chart_matches(c_chart(cdi_counts()), *reference("cdi_c"))


def test_cdi_u_chart_matches_qicharts2() -> None:
    points, summary = reference("cdi_u")
    exposure = np.array([[float(row["n"]) for row in points]])
    chart = u_chart(cdi_counts(), exposure, ControlChartOptions(multiply=10000))
    assert_chart_matches(chart, points, summary)


def test_hospital_infections_u_facets_in_one_call_match_qicharts2() -> None:
    points, summary = reference("hai_u_facets")
    shape = (18, 24)
    rate = column(points, "y", shape)
    exposure = column(points, "n", shape)
    counts = rate * exposure / HAI_MULTIPLY
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    chart = u_chart(np.round(counts), exposure, ControlChartOptions(multiply=HAI_MULTIPLY))
    # points come in R's split() order (hospital fastest), the summary sorted by hospital then infection
    block_to_summary = [(block % 6) * 3 + block // 6 for block in range(18)]
    assert_chart_matches(chart, points, [summary[k] for k in block_to_summary])
    assert (chart.lcl >= 0).all()  # BOH's lower limits are clipped at 0


@pytest.mark.parametrize(
    ("name", "chart_function"), [("nhs_accidents_p", p_chart), ("nhs_accidents_pprime", pprime_chart)]
)
def test_nhs_accidents_p_and_pprime_match_qicharts2(name: str, chart_function: object) -> None:
    points, summary = reference(name)
    proportion = column(points, "y", (1, 20))
    trials = column(points, "n", (1, 20))
    counts = np.round(proportion * trials)
    chart = chart_function(counts, trials)  # type: ignore[operator]
    assert_chart_matches(chart, points, summary)


def test_p_and_pprime_figures_from_the_readme() -> None:
    points, _ = reference("nhs_accidents_p")
    trials = column(points, "n", (1, 20))
    counts = np.round(column(points, "y", (1, 20)) * trials)
    p = p_chart(counts, trials)
    assert p.summary.centre[0] == pytest.approx(0.952900, abs=1e-6)
    assert p.sigma_signal.sum() == 16
    laney = pprime_chart(counts, trials)
    assert laney.summary.mean_lcl[0] == pytest.approx(0.940102, abs=1e-6)
    assert laney.summary.mean_ucl[0] == pytest.approx(0.965698, abs=1e-6)
    assert laney.sigma_signal.sum() == 0


def cabg_subgroups() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and SDs from the xbar and s points; sizes recovered from the s chart's B4 = ucl / cl."""
    s_points, x_points = read_csv("cabg_s_age_points.csv"), read_csv("cabg_xbar_age_points.csv")
    candidates = np.arange(2, 500)
    b4 = 1 + 3 * np.sqrt(1 - c4(candidates) ** 2) / c4(candidates)
    ratio = np.array([float(row["ucl"]) / float(row["cl"]) for row in s_points])
    nearest = np.abs(b4[None, :] - ratio[:, None]).argmin(axis=1)
    np.testing.assert_allclose(b4[nearest], ratio, rtol=1e-12)
    sizes = candidates[nearest][None, :].astype(float)
    means = np.array([[float(row["y"]) for row in x_points]])
    sds = np.array([[float(row["y"]) for row in s_points]])
    return means, sds, sizes


def test_cabg_xbar_chart_matches_qicharts2() -> None:
    means, sds, sizes = cabg_subgroups()
    assert len(np.unique(sizes)) > 1  # varying sizes: the pooled SD is used
    assert_chart_matches(xbar_chart(means, sds, sizes), *reference("cabg_xbar_age"))


def test_cabg_s_chart_matches_qicharts2() -> None:
    _, sds, sizes = cabg_subgroups()
    assert_chart_matches(s_chart(sds, sizes), *reference("cabg_s_age"))


# ------------------------------------------------------------------------------------------------------------
# Derivations: freeze, part, clipping, constant subgroup sizes, Laney u'
# ------------------------------------------------------------------------------------------------------------


def test_freeze_takes_limits_from_the_first_points() -> None:
    counts = cdi_counts()
    frozen = i_chart(counts, ControlChartOptions(freeze=24))
    first = i_chart(counts[:, :24])
    assert frozen.summary.centre[0] == pytest.approx(first.summary.centre[0], rel=1e-12)
    np.testing.assert_allclose(frozen.ucl[0], first.ucl[0, 0], rtol=1e-12)
    # the runs analysis still covers all 36 points
    assert frozen.summary.runs.n_obs.tolist() == [36]


def test_phases_equal_separate_charts() -> None:
    counts = cdi_counts()
    phase = np.array([[0] * 24 + [1] * 12])
    for chart_function in (i_chart, c_chart):
        parted = chart_function(counts, phase=phase)
        for k, columns in enumerate((slice(0, 24), slice(24, 36))):
            single = chart_function(counts[:, columns])
            assert parted.summary.centre[k] == pytest.approx(single.summary.centre[0], rel=1e-12)
            np.testing.assert_allclose(parted.lcl[0, columns], single.lcl[0], rtol=1e-12)
            assert parted.summary.runs.longest_run[k] == single.summary.runs.longest_run[0]


def test_p_limits_are_clipped_to_zero_and_one() -> None:
    chart = p_chart([[1.0, 9.0, 5.0]], [[10.0, 10.0, 10.0]])
    # p-bar = 0.5, sigma = sqrt(0.25 / 10) = 0.158: limits 0.026 and 0.974 stay inside [0, 1]
    assert chart.ucl[0, 0] == pytest.approx(0.5 + 3 * np.sqrt(0.025))
    assert chart.lcl[0, 0] == pytest.approx(0.5 - 3 * np.sqrt(0.025))
    # n = 2: sigma = 0.354, limits -0.56 and 1.56 are clipped
    tiny = p_chart([[1.0, 2.0, 0.0]], [[2.0, 2.0, 2.0]])
    assert tiny.lcl.tolist() == [[0.0, 0.0, 0.0]]
    assert tiny.ucl.tolist() == [[1.0, 1.0, 1.0]]


def test_xbar_with_constant_sizes_uses_the_mean_sd() -> None:
    chart = xbar_chart([[10.0, 12.0, 11.0]], [[1.0, 2.0, 3.0]], [[4, 4, 4]])
    a3 = 3 / (c4(4) * 2)
    assert chart.ucl[0, 0] == pytest.approx(11.0 + a3 * 2.0)


def test_uprime_chart_follows_laney() -> None:
    counts = np.array([[20.0, 45.0, 30.0, 38.0, 25.0]])
    exposure = np.array([[1000.0, 1100.0, 900.0, 1200.0, 1000.0]])
    chart = uprime_chart(counts, exposure, ControlChartOptions(screen_moving_ranges=False))
    u_bar = counts.sum() / exposure.sum()
    z = (counts / exposure - u_bar) / np.sqrt(u_bar / exposure)
    sigma_z = np.abs(np.diff(z)).mean() / 1.128
    expected = u_bar + 3 * sigma_z * np.sqrt(u_bar / exposure)
    np.testing.assert_allclose(chart.ucl, expected, rtol=1e-12)


def test_missing_points_in_either_input_are_skipped() -> None:
    counts = cdi_counts()
    exposure = np.full(counts.shape, 1000.0)
    exposure[0, 5] = np.nan
    chart = u_chart(counts, exposure)
    assert np.isnan(chart.y[0, 5]) and np.isnan(chart.ucl[0, 5])
    assert not chart.sigma_signal[0, 5]
    kept = np.delete(np.arange(36), 5)
    single = u_chart(counts[:, kept], exposure[:, kept])
    np.testing.assert_allclose(chart.ucl[0, kept], single.ucl[0], rtol=1e-12)


def test_a_point_missing_in_one_input_is_missing_in_all() -> None:
    means = np.array([[10.0, 12.0, 11.0, 13.0, 30.0]])
    sds = np.array([[1.0, 2.0, 1.5, 1.0, np.nan]])
    sizes = np.full((1, 5), 5.0)
    chart = xbar_chart(means, sds, sizes)
    first = xbar_chart(means[:, :4], sds[:, :4], sizes[:, :4])
    assert np.isnan(chart.y[0, 4]) and np.isnan(chart.ucl[0, 4])
    assert chart.summary.runs.n_obs.tolist() == [4]
    assert chart.summary.runs.longest_run.tolist() == first.summary.runs.longest_run.tolist()
    np.testing.assert_allclose(chart.ucl[0, :4], first.ucl[0], rtol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freeze": 0}, "freeze"),
        ({"freeze": True}, "freeze"),
        ({"screen_moving_ranges": 1}, "screen_moving_ranges"),
        ({"multiply": 0.0}, "multiply"),
        ({"multiply": float("nan")}, "multiply"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControlChartOptions(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="counts must be non-negative"):
        c_chart([[1.0, -2.0, 3.0]])
    with pytest.raises(ValueError, match="exposure must be positive"):
        u_chart([[1.0, 2.0]], [[10.0, 0.0]])
    with pytest.raises(ValueError, match="counts must not exceed trials"):
        p_chart([[1.0, 12.0]], [[10.0, 10.0]])
    with pytest.raises(ValueError, match="shape"):
        p_chart([[1.0, 2.0]], [[10.0, 10.0, 10.0]])
    with pytest.raises(ValueError, match="sizes must be at least 2"):
        s_chart([[1.0, 2.0]], [[1, 5]])
    with pytest.raises(ValueError, match="sds must be non-negative"):
        xbar_chart([[1.0, 2.0]], [[-1.0, 2.0]], [[5, 5]])
    with pytest.raises(ValueError, match="freeze must be at least 2 for a i chart"):
        i_chart(cdi_counts(), ControlChartOptions(freeze=1))
    with pytest.raises(ValueError, match="fewer than 2 observed points"):
        i_chart([[3.0, np.nan, np.nan]])
    with pytest.raises(ValueError, match="chart must be one of"):
        control_chart("g", {"y": [[1.0, 2.0]]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2-D"):
        c_chart([1.0, 2.0, 3.0])
