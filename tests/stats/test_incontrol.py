"""The in-control model's sums over the baseline's columns only: the same bits as over the whole panel.

The reference is the model itself over a panel cut after its baseline (an exact identity, written here): the
baseline, its variance, tau_w^2, phi, rho and the baseline's z-scores cannot depend on later periods.
"""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.stats.incontrol import ScaledPanel, own_baseline_model, summed_width


@pytest.mark.parametrize("width", [9, 16, 17, 33, 36, 60])
def test_row_sums_cut_after_a_multiple_of_eight_columns_keep_their_bits(width: int) -> None:
    """The premise of :func:`summed_width`: zeros beyond the cut change no bit of a row's sum (values spread
    over 16 orders of magnitude, so any other order of addition would show)."""
    rng = np.random.default_rng(width)
    values = rng.normal(size=(5000, width)) * 10.0 ** rng.uniform(-8, 8, size=(5000, width))
    for used in range(1, width + 1):
        inside = np.zeros((5000, width), dtype=bool)
        inside[:, :used] = True
        cut = summed_width(inside, width)
        assert cut >= used and (cut == width or cut % 8 == 0)
        zeroed = np.where(inside, values, 0.0)
        np.testing.assert_array_equal(zeroed[:, :cut].sum(axis=1), zeroed.sum(axis=1))


def _panel(series: int, periods: int, seed: int) -> ScaledPanel:
    """Poisson-like series on the square-root scale, levels that differ, 5% of points missing, an
    autocorrelated wobble and a few series that shift late (so later periods differ from the baseline)."""
    rng = np.random.default_rng(seed)
    expected = rng.lognormal(3, 1, (series, 1)) * np.ones((1, periods))
    wobble = np.zeros((series, periods))
    for t in range(1, periods):  # an AR(1) wobble, coefficient 0.8 (periods: tens)
        wobble[:, t] = 0.8 * wobble[:, t - 1] + rng.normal(0, 0.1, series)
    level = 1 + rng.normal(0, 0.1, (series, 1)) + wobble
    level[: series // 20, periods // 2 :] += 0.3
    y = level + rng.normal(0, 1, (series, periods)) * np.sqrt(1 / (4 * expected))
    y[rng.random((series, periods)) < 0.05] = np.nan
    return ScaledPanel(y=y, variance=1 / (4 * expected), reference=np.ones((series, periods)))


@pytest.mark.parametrize("periods", [36, 60])
def test_model_over_a_long_panel_equals_the_model_over_its_baseline_columns(periods: int) -> None:
    scaled = _panel(3000, periods, seed=periods)
    groups = np.arange(3000) % 3
    full = own_baseline_model(scaled, groups, n_groups=3, baseline_periods=12, min_baseline_points=4)
    cut = 24  # every series' 12 baseline points lie in its first 24 columns at 5% missing (checked below)
    present = np.isfinite(scaled.y)
    assert (np.cumsum(present, axis=1)[:, cut - 1] >= 12).all()
    short = own_baseline_model(
        ScaledPanel(scaled.y[:, :cut], scaled.variance[:, :cut], scaled.reference[:, :cut]),
        groups,
        n_groups=3,
        baseline_periods=12,
        min_baseline_points=4,
    )
    for name in ("baseline", "baseline_variance", "baseline_points", "tau2", "phi", "rho"):
        np.testing.assert_array_equal(getattr(full, name), getattr(short, name), err_msg=name)
    np.testing.assert_array_equal(full.z[:, :cut], short.z)
    assert full.tau2.min() > 0 and full.rho.max() > 0  # the over-dispersion and autocorrelation steps ran
