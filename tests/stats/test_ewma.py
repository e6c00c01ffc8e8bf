"""EWMA chart: exact time-varying limits (Montgomery 2019, eq. 9.24), gaps, resets, L for a target ARL."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forewarn.stats import arl
from forewarn.stats.ewma import EwmaOptions, ewma_chart


def _loop_ewma(values: np.ndarray, lam: float, width: float, reset: bool) -> tuple[np.ndarray, np.ndarray]:
    """Point-by-point EWMA with the exact variance recursion: an independent implementation."""
    statistic = np.full(values.shape, np.nan)
    half_width = np.full(values.shape, np.nan)
    for i in range(values.shape[0]):
        z, v = 0.0, 0.0
        for t in range(values.shape[1]):
            x = values[i, t]
            if math.isnan(x):
                continue
            z = lam * x + (1 - lam) * z
            v = (1 - lam) ** 2 * v + lam**2
            statistic[i, t] = z
            half_width[i, t] = width * math.sqrt(v)
            if reset and abs(z) > half_width[i, t]:
                z, v = 0.0, 0.0
    return statistic, half_width


def test_limits_are_the_exact_time_varying_limits() -> None:
    # Without gaps sd(Z_t) = sqrt(lambda/(2 - lambda) (1 - (1 - lambda)^(2t))), Montgomery eq. 9.24; as
    # qcc::ewma(x, center = 10, std.dev = 2, lambda = 0.3, nsigmas = 2.8).
    lam, width, centre, sd = 0.3, 2.8, 10.0, 2.0
    values = np.array([[11.0, 9.0, 14.0, 12.0, 8.0, 10.0]])
    chart = ewma_chart(values, EwmaOptions(lam=lam, L=width), centre=centre, sd=sd)
    t = np.arange(1, 7)
    half_width = width * sd * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
    np.testing.assert_allclose(chart.upper_limit[0], centre + half_width, rtol=1e-12)
    np.testing.assert_allclose(chart.lower_limit[0], centre - half_width, rtol=1e-12)
    z = [centre]
    for x in values[0]:
        z.append(lam * x + (1 - lam) * z[-1])
    np.testing.assert_allclose(chart.statistic[0], z[1:], rtol=1e-12)
    used_width, used_lambda = chart.L, chart.lam
    assert used_width == width
    assert used_lambda == lam


def test_panel_with_gaps_and_resets_matches_the_loop() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(0.4, 1.0, size=(25, 60))
    values[rng.random(values.shape) < 0.1] = np.nan
    for reset in (False, True):
        chart = ewma_chart(values, EwmaOptions(lam=0.25, L=2.2, reset=reset))
        statistic, half_width = _loop_ewma(values, 0.25, 2.2, reset)
        np.testing.assert_allclose(chart.statistic, statistic, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(chart.upper_limit, half_width, rtol=1e-12)
        np.testing.assert_allclose(chart.lower_limit, -half_width, rtol=1e-12)
        with np.errstate(invalid="ignore"):
            alarm = np.abs(statistic) > half_width
        np.testing.assert_array_equal(chart.alarm, alarm)
        np.testing.assert_array_equal(chart.alarm_upper | chart.alarm_lower, chart.alarm)
        assert chart.alarm.any()


def test_a_gap_keeps_the_statistic_and_its_limits() -> None:
    chart = ewma_chart([[1.0, np.nan, 1.0]], EwmaOptions(lam=0.5, L=3.0))
    assert np.isnan(chart.statistic[0, 1])
    assert np.isnan(chart.upper_limit[0, 1])
    # the third point updates from the first as if the gap were not there
    assert chart.statistic[0, 2] == pytest.approx(0.75)
    assert chart.upper_limit[0, 2] == pytest.approx(3.0 * math.sqrt(0.25 * 0.25 + 0.25))


def test_per_series_centre_and_sd() -> None:
    values = np.array([[5.0, 5.0], [100.0, 130.0]])
    chart = ewma_chart(values, EwmaOptions(lam=1.0, L=3.0), centre=[5.0, 100.0], sd=[1.0, 10.0])
    # lambda = 1 is the Shewhart chart: limits centre +- 3 sd; 130 sits on its limit, which does not signal
    np.testing.assert_allclose(chart.upper_limit, [[8.0, 8.0], [130.0, 130.0]])
    assert chart.alarm.tolist() == [[False, False], [False, False]]
    assert chart.first_alarm.tolist() == [-1, -1]


def test_target_arl_uses_the_varying_limits_arl() -> None:
    chart = ewma_chart([[0.0]], EwmaOptions(lam=0.2, target_arl=370.0))
    width = chart.L
    assert width == pytest.approx(arl.ewma_crit(0.2, 370.0, limits="varying"), rel=1e-12)
    # the exact limits are tighter early on, so L is larger than spc's fixed-limit xewma.crit
    assert width > arl.ewma_crit(0.2, 370.0)


def test_chart_in_control_run_length_meets_the_target() -> None:
    # End to end: run the chart on simulated in-control series and compare the mean first-alarm time with the
    # target (a horizon of 10 x target censors a negligible share of runs).
    target = 40.0
    rng = np.random.default_rng(21)
    values = rng.standard_normal((10000, 400))
    chart = ewma_chart(values, EwmaOptions(lam=0.3, target_arl=target))
    assert (chart.first_alarm >= 0).mean() > 0.999
    run_length = np.where(chart.first_alarm >= 0, chart.first_alarm + 1, values.shape[1])
    assert abs(run_length.mean() - target) < 4 * run_length.std() / math.sqrt(run_length.size)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: EwmaOptions(lam=0.0, L=3.0), "lam must be in"),
        (lambda: EwmaOptions(lam=0.2), "exactly one of L and target_arl"),
        (lambda: EwmaOptions(lam=0.2, L=3.0, target_arl=100.0), "exactly one of L and target_arl"),
        (lambda: EwmaOptions(lam=0.2, L=-1.0), "L must be"),
        (lambda: EwmaOptions(lam=0.2, target_arl=0.5), "target_arl"),
        (lambda: EwmaOptions(lam=0.2, L=3.0, reset=1), "reset"),  # type: ignore[arg-type]
        (lambda: ewma_chart([[[1.0]]], EwmaOptions(L=3.0)), "2-D panel"),
        (lambda: ewma_chart([[np.inf]], EwmaOptions(L=3.0)), "infinite"),
        (lambda: ewma_chart([[1.0]], EwmaOptions(L=3.0), sd=0.0), "sd must be finite and positive"),
        (
            lambda: ewma_chart([[1.0], [2.0]], EwmaOptions(L=3.0), centre=[1.0, 2.0, 3.0]),
            "one value per series",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
