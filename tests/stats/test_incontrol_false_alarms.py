"""The in-control model and the false-alarm chain: exact derivations and simulation written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from forewarn.stats.arl import cusum_arl
from forewarn.stats.arl.false_alarms import cusum_window_threshold, window_false_alarms
from forewarn.stats.cusum import panel_cusum
from forewarn.stats.incontrol import ScaledPanel, own_baseline_model, winsorised_second_moment
from forewarn.stats.random_effects import random_effects_posterior
from forewarn.stats.trend import linear_trend


def test_restarted_chain_alarms_at_the_rate_of_one_per_arl() -> None:
    """Renewal: a chart restarted at 0 after each alarm alarms, in the long run, once per ARL periods; the ARL
    is the same Brook & Evans chain's (spc's xcusum.arl with the Markov-chain method)."""
    figures = window_false_alarms(0.5, 4.0, 6000)
    assert figures.alarms_by_period[0, -1] == pytest.approx(
        1.0 / cusum_arl(0.5, 4.0, method="markov", nodes=60), rel=1e-6
    )
    assert np.all(np.diff(window_false_alarms(0.5, 4.0, 60).alarms_by_period[0]) >= -1e-15)


def test_first_period_alarm_is_the_normal_tail() -> None:
    """From 0 the chart alarms at once when z - k >= h: P = 1 - Phi(k + h), up to half a chain cell."""
    k, h = 1.0, 2.0
    figure = window_false_alarms(k, h, 1, states=400).any_alarm[0]
    assert figure == pytest.approx(stats.norm.sf(k + h), rel=0.02)


def test_window_share_matches_simulation() -> None:
    """20,000 simulated in-control series of 36 N(0, 1) points through panel_cusum."""
    k = 0.8
    h = float(cusum_window_threshold(k, 36, 0.05)[0])
    z = np.random.default_rng(5).standard_normal((20000, 36))
    share = (panel_cusum(z, k, h).n_alarms > 0).mean()
    assert share == pytest.approx(0.05, abs=4 * np.sqrt(0.05 * 0.95 / 20000) + 0.003)


def test_tau2_within_is_recovered_and_z_is_standard_normal() -> None:
    """Series at different levels with sampling variance s^2 and extra period noise tau^2 = 0.04."""
    rng = np.random.default_rng(7)
    n_series, n_time = 3000, 36
    s2 = rng.uniform(0.005, 0.05, (n_series, 1)) * np.ones((1, n_time))
    level = rng.normal(0, 1, (n_series, 1))
    y = level + rng.normal(0, np.sqrt(s2 + 0.04))
    scaled = ScaledPanel(y=y, variance=s2, reference=np.zeros_like(y))
    groups = np.zeros(n_series, dtype=np.int64)
    # Without winsorising, DerSimonian-Laird is unbiased.
    assert own_baseline_model(scaled, groups, trim=0.0).tau2[0] == pytest.approx(0.04, rel=0.05)
    # Winsorised (the default, robust to series that changed in their baseline) it is low by about 10% when
    # sampling variances differ tenfold between series, as here: the price of robustness, documented.
    model = own_baseline_model(scaled, groups)
    assert 0.8 * 0.04 < model.tau2[0] < 1.02 * 0.04
    after = model.z[:, 12:]
    assert after.mean() == pytest.approx(0.0, abs=0.02)
    assert after.std() == pytest.approx(1.0, abs=0.04)


def test_winsorised_second_moment_by_simulation() -> None:
    z = np.random.default_rng(2).standard_normal(2_000_000)
    low, high = np.quantile(z, [0.1, 0.9])
    assert np.mean(np.clip(z, low, high) ** 2) == pytest.approx(winsorised_second_moment(0.1), abs=2e-3)


def test_random_effects_posterior_two_groups() -> None:
    """Each group is its own DerSimonian-Laird problem; the second has no spread beyond chance (tau2 0), so
    every unit's posterior is the pooled mean with variance 1 / sum w."""
    post = random_effects_posterior([0.0, 2.0, 4.0, 1.0, 1.1], [1.0, 1.0, 1.0, 1.0, 1.0], [0, 0, 0, 1, 1])
    assert post.tau2 == pytest.approx([3.0, 0.0])
    assert post.mean[3:] == pytest.approx([1.05, 1.05])
    assert post.sd[3:] == pytest.approx([np.sqrt(0.5)] * 2)


def test_trend_matches_scipy_linregress() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(50, 9)) + np.arange(9) * rng.normal(size=(50, 1))
    t = np.tile(np.arange(9.0), (50, 1))
    y[0, 4] = np.nan
    trend = linear_trend(y, t)
    for i in (0, 1, 49):
        keep = np.isfinite(y[i])
        ref = stats.linregress(t[i][keep], y[i][keep])
        assert trend.slope[i] == pytest.approx(ref.slope, rel=1e-12)
        assert trend.standard_error[i] == pytest.approx(ref.stderr, rel=1e-12)
        assert trend.p_value[i] == pytest.approx(ref.pvalue, rel=1e-9)


def test_winsorising_clips_each_group_at_its_type_7_quantiles() -> None:
    """Each group's bounds are numpy's default (type 7, linear) quantiles of the group's values inside the
    window, with ties and groups of one value; values outside the window are left alone."""
    from forewarn.stats.incontrol import _winsorised

    rng = np.random.default_rng(11)
    u = np.round(rng.normal(size=(300, 9)), 1)
    inside = rng.random((300, 9)) < 0.8
    group = rng.integers(0, 4, 300)
    group[0] = 4  # a group of a single series
    out = _winsorised(u, inside, group, 6, 0.1)
    for g in range(5):
        rows = group == g
        values = u[rows][inside[rows]]
        low, high = np.quantile(values, [0.1, 0.9])
        expected = np.where(inside[rows], np.clip(u[rows], low, high), u[rows])
        np.testing.assert_allclose(out[rows], expected, rtol=1e-15, atol=0)


def test_row_medians_are_numpys_nanmedian() -> None:
    """One sort per row gives numpy.nanmedian's numbers exactly: odd and even counts, ties, rows of NaN only."""
    import warnings

    from forewarn.stats.incontrol import row_nanmedian

    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(400, 13)) * 10, 1)
    x[rng.random(x.shape) < 0.4] = np.nan
    x[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(x, axis=1)
    before = x.copy()
    np.testing.assert_array_equal(row_nanmedian(x), expected)
    np.testing.assert_array_equal(x, before)  # the caller's rows are left as they were
    assert np.isnan(row_nanmedian(x)[0]) and np.isfinite(row_nanmedian(x)[1:]).all()
    # Sorting a temporary's rows in place gives the same medians.
    np.testing.assert_array_equal(row_nanmedian(x.copy(), overwrite=True), expected)
