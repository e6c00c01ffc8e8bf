"""Risk-adjusted and normal CUSUM charts: exact derivations, an independent loop, and the arl fixtures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from forewarn.stats import arl
from forewarn.stats.cusum import (
    NormalCusumOptions,
    RiskAdjustedCusumOptions,
    llr_cusum_threshold,
    llr_increments,
    normal_cusum,
    risk_adjusted_cusum,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "arl" / "arl_reference.csv"


def _reference_value(fun: str, args: str) -> float:
    with FIXTURE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["fun"] == fun and row["args"] == args:
                return float(row["value"])
    raise KeyError(args)


def _loop_cusum(
    increments: np.ndarray, threshold: np.ndarray, head_start: float, reset_value: float
) -> tuple[np.ndarray, np.ndarray]:
    """The CUSUM written out point by point: an independent implementation of the definition."""
    statistic = np.full(increments.shape, np.nan)
    alarm = np.zeros(increments.shape, dtype=bool)
    for i in range(increments.shape[0]):
        s = head_start
        for t in range(increments.shape[1]):
            w = increments[i, t]
            if math.isnan(w):
                continue
            s = max(0.0, s + w)
            statistic[i, t] = s
            if s >= threshold[i]:
                alarm[i, t] = True
                s = reset_value
    return statistic, alarm


def _random_panel(
    seed: int, n_series: int = 30, n_time: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    denominators = rng.integers(5, 60, size=(n_series, n_time)).astype(float)
    expected = denominators * rng.uniform(0.01, 0.2, size=(n_series, 1))
    observed = rng.binomial(denominators.astype(int), np.minimum(1.0, 1.8 * expected / denominators)).astype(
        float
    )
    observed[rng.random((n_series, n_time)) < 0.05] = np.nan
    return observed, expected, denominators


def test_poisson_increments_are_the_log_likelihood_ratio() -> None:
    # log of Poisson(O; R E) / Poisson(O; E) = O ln R - (R - 1) E
    observed = np.array([[0.0, 3.0, 7.0]])
    expected = np.array([[2.0, 1.5, 4.2]])
    for ratio in (2.0, 0.5):
        direct = np.log(
            np.exp(-ratio * expected)
            * (ratio * expected) ** observed
            / (np.exp(-expected) * expected**observed)
        )
        assert llr_increments(observed, expected, rate_ratio=ratio) == pytest.approx(direct, rel=1e-12)


def test_bernoulli_increments_sum_the_per_patient_likelihood_ratios() -> None:
    # Steiner et al. (2000): per patient y ln R - ln(1 - p + R p). With N patients at risk p = E/N and O
    # deaths, summing patient by patient gives the aggregate form exactly.
    observed, expected, denominators = np.array([[2.0]]), np.array([[3.0]]), np.array([[40.0]])
    p = 3.0 / 40.0
    for ratio in (2.0, 0.5):
        per_patient = [math.log(ratio) * y - math.log(1 - p + ratio * p) for y in [1] * 2 + [0] * 38]
        aggregate = llr_increments(
            observed, expected, rate_ratio=ratio, form="bernoulli", denominators=denominators
        )
        assert aggregate[0, 0] == pytest.approx(sum(per_patient), rel=1e-12)


def test_bernoulli_form_approaches_the_poisson_form_for_rare_events() -> None:
    observed, expected = np.array([[4.0]]), np.array([[3.0]])
    bernoulli = llr_increments(observed, expected, form="bernoulli", denominators=np.array([[1e7]]))
    assert bernoulli == pytest.approx(llr_increments(observed, expected), abs=1e-5)


@pytest.mark.parametrize("ratio", [2.0, 0.5])
def test_equal_risk_aggregate_is_conservative_when_risks_vary(ratio: float) -> None:
    # ln(1 + (R - 1) p) is concave in p, so giving every patient the mean risk lowers W (Jensen) for R > 1 and
    # for R < 1 alike: the aggregate never signals earlier than the patient-level CUSUM would.
    risks = np.array([0.01, 0.02, 0.05, 0.3, 0.6])
    outcomes = np.array([0, 0, 1, 0, 1])
    exact = float(np.sum(outcomes * math.log(ratio) - np.log1p((ratio - 1) * risks)))
    aggregate = llr_increments(
        [[outcomes.sum()]], [[risks.sum()]], rate_ratio=ratio, form="bernoulli", denominators=[[risks.size]]
    )[0, 0]
    assert aggregate < exact


def test_hand_worked_chart_with_alarm_and_reset() -> None:
    # W = O ln 2 - E with E = 1: W = [1.0794, 1.7726, -1.0, 2.4657];
    # S = [1.0794, 2.8520 (alarm at h = 2.5, reset to 0), 0 (max(0, -1)), 2.4657].
    result = risk_adjusted_cusum([[3, 4, 0, 5]], [[1, 1, 1, 1]], threshold=2.5)
    log2 = math.log(2)
    expected_statistic = [3 * log2 - 1, 3 * log2 - 1 + 4 * log2 - 1, 0.0, 5 * log2 - 1]
    assert result.statistic[0] == pytest.approx(expected_statistic, rel=1e-12)
    assert result.alarm.tolist() == [[False, True, False, False]]
    assert result.n_alarms.tolist() == [1]
    assert result.first_alarm.tolist() == [1]
    assert result.threshold.tolist() == [2.5]


def test_lower_cusum_accumulates_evidence_of_improvement() -> None:
    # R = 0.5: W = -O ln 2 + E / 2; no deaths against 3 expected per month adds 1.5 a month.
    options = RiskAdjustedCusumOptions(rate_ratio=0.5)
    result = risk_adjusted_cusum([[0, 0, 0]], [[3, 3, 3]], threshold=4.0, options=options)
    assert result.statistic[0] == pytest.approx([1.5, 3.0, 4.5])
    assert result.first_alarm.tolist() == [2]


@pytest.mark.parametrize("form", ["poisson", "bernoulli"])
@pytest.mark.parametrize(("head_start", "reset"), [(0.0, "zero"), (1.0, "head_start"), (1.0, "zero")])
def test_panel_recursion_matches_a_point_by_point_loop(form: str, head_start: float, reset: str) -> None:
    observed, expected, denominators = _random_panel(seed=3)
    thresholds = np.linspace(2.0, 6.0, observed.shape[0])
    options = RiskAdjustedCusumOptions(rate_ratio=2.0, form=form, head_start=head_start, reset=reset)  # type: ignore[arg-type]
    result = risk_adjusted_cusum(observed, expected, thresholds, denominators=denominators, options=options)
    increments = llr_increments(observed, expected, form=form, denominators=denominators)  # type: ignore[arg-type]
    statistic, alarm = _loop_cusum(
        increments, thresholds, head_start, head_start if reset == "head_start" else 0.0
    )
    np.testing.assert_allclose(result.statistic, statistic, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.alarm, alarm)
    np.testing.assert_array_equal(result.n_alarms, alarm.sum(axis=1))
    first = np.array([np.flatnonzero(row)[0] if row.any() else -1 for row in alarm])
    np.testing.assert_array_equal(result.first_alarm, first)
    assert result.alarm.any()  # the panel was built so that some series signal


def test_more_series_than_one_block_match_the_loop() -> None:
    # 5,000 series cross the 4,096-row block boundary of the recursion.
    rng = np.random.default_rng(8)
    expected = rng.uniform(0.2, 3.0, size=(5000, 12))
    observed = rng.poisson(1.5 * expected).astype(float)
    result = risk_adjusted_cusum(observed, expected, threshold=3.0)
    statistic, alarm = _loop_cusum(llr_increments(observed, expected), np.full(5000, 3.0), 0.0, 0.0)
    np.testing.assert_allclose(result.statistic, statistic, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.alarm, alarm)


def test_one_dimensional_input_is_one_series() -> None:
    one = risk_adjusted_cusum([3, 4, 0, 5], [1, 1, 1, 1], threshold=2.5)
    two = risk_adjusted_cusum([[3, 4, 0, 5]], [[1, 1, 1, 1]], threshold=2.5)
    np.testing.assert_array_equal(one.statistic, two.statistic)


def _rate_ratio_for_integer_k(expected: float, k: float) -> float:
    # (R - 1) E / ln R = k: the LLR CUSUM divided by ln R is then a Poisson CUSUM with reference value k.
    return float(optimize.brentq(lambda r: (r - 1) * expected / math.log(r) - k, 1.0001, 10.0, xtol=1e-15))


def test_markov_threshold_reproduces_surveillance_arlcusum() -> None:
    # With E = 2.4 and R chosen so that k = (R - 1) E / ln R = 3, the chart S/ln R is the Poisson CUSUM of
    # surveillance::arlCusum(h = 10, k = 3, theta = 2.4) = 548.36 (and h = 9 stays below 500).
    ratio = _rate_ratio_for_integer_k(2.4, 3.0)
    threshold = llr_cusum_threshold(500.0, 2.4, rate_ratio=ratio)
    assert threshold.h / math.log(ratio) == pytest.approx(10.0, rel=1e-12)
    assert threshold.arl == pytest.approx(
        _reference_value("arlCusum", "poisson,h=10,k=3,theta=2.4"), rel=1e-9
    )
    assert threshold.method == "markov"
    assert threshold.expected == 2.4


def test_markov_threshold_uses_the_typical_expected_count() -> None:
    # The median of the panel's expected counts is the E of the chain.
    panel = np.array([[1.0, 2.4, 9.0], [2.4, np.nan, 0.5]])
    assert llr_cusum_threshold(100.0, panel).h == llr_cusum_threshold(100.0, 2.4).h


@pytest.mark.parametrize("ratio", [2.0, 0.5])
def test_markov_threshold_reaches_the_target_at_the_smallest_lattice_point(ratio: float) -> None:
    threshold = llr_cusum_threshold(60.0, 2.4, rate_ratio=ratio)
    k = (ratio - 1) * 2.4 / math.log(ratio)
    direction = "upper" if ratio > 1 else "lower"
    count_h = threshold.h / abs(math.log(ratio))
    lattice = arl.poisson_cusum_crit(2.4, k, 60.0, direction=direction, max_denominator=200)
    assert count_h == pytest.approx(lattice.h, rel=1e-12)
    assert threshold.arl >= 60.0 > lattice.arl_below


def test_bernoulli_markov_threshold_is_the_binomial_chain() -> None:
    ratio, expected, patients = 2.0, 2.4, 40
    threshold = llr_cusum_threshold(60.0, expected, form="bernoulli", denominators=patients, rate_ratio=ratio)
    p = expected / patients
    k = patients * math.log1p((ratio - 1) * p) / math.log(ratio)
    count_h = threshold.h / math.log(ratio)
    assert threshold.arl == pytest.approx(
        arl.binomial_cusum_arl(p, k, count_h, trials=patients, max_denominator=200), rel=1e-9
    )


def test_simulated_threshold_finds_the_lattice_step_of_the_exact_chain() -> None:
    # Constant E = 2.4 with k = 3 on the count scale: the exact ARL is 350.0 for 8 < h <= 9 and 548.4 for
    # 9 < h <= 10, so a target of 450 is crossed just above h = 9 (count scale), whatever the Monte Carlo
    # noise (standard error about 15 here).
    ratio = _rate_ratio_for_integer_k(2.4, 3.0)
    low, high = arl.poisson_cusum_arl(2.4, 3, 9), arl.poisson_cusum_arl(2.4, 3, 10)
    assert low < 400
    assert high > 500
    threshold = llr_cusum_threshold(
        450.0, 2.4, rate_ratio=ratio, method="simulation", n_paths=1000, horizon_multiple=4.0, seed=1
    )
    grid_step = 2 * 10 / 4000  # the grid spans twice the Markov threshold (10 on the count scale)
    assert threshold.h / math.log(ratio) == pytest.approx(9.0, abs=2 * grid_step)
    assert threshold.method == "simulation"
    assert 0 < threshold.arl_standard_error < 30


def test_simulated_threshold_gives_the_target_arl_for_a_seasonal_pattern() -> None:
    # Expected deaths with a winter peak: check the threshold by simulating the chart directly (another seed).
    pattern = 2.0 + 1.5 * np.cos(2 * np.pi * np.arange(12) / 12)
    threshold = llr_cusum_threshold(36.0, pattern, method="simulation", n_paths=4000, seed=5)
    rng = np.random.default_rng(99)
    runs = 20000
    statistic = np.zeros(runs)
    run_length = np.zeros(runs)
    active = np.arange(runs)
    t = 0
    while active.size:
        mean = pattern[t % 12]
        t += 1
        statistic = np.maximum(0.0, statistic + rng.poisson(mean, active.size) * math.log(2) - mean)
        done = statistic >= threshold.h
        run_length[active[done]] = t
        active, statistic = active[~done], statistic[~done]
    error = math.hypot(run_length.std() / math.sqrt(runs), threshold.arl_standard_error)
    assert abs(run_length.mean() - 36.0) < 4 * error


def test_simulated_threshold_is_reproducible() -> None:
    first = llr_cusum_threshold(24.0, [1.0, 2.0, 3.0], method="simulation", n_paths=500, seed=4)
    second = llr_cusum_threshold(24.0, [1.0, 2.0, 3.0], method="simulation", n_paths=500, seed=4)
    assert first == second


def test_normal_cusum_matches_the_definition() -> None:
    # C+ = max(0, C+ + z - k), C- = max(0, C- - z - k), each resetting to 0 at h (qcc::cusum's pos and -neg).
    rng = np.random.default_rng(2)
    z = rng.normal(0.3, 1.0, size=(20, 50))
    z[rng.random(z.shape) < 0.05] = np.nan
    result = normal_cusum(z, NormalCusumOptions(k=0.5, h=3.0))
    upper, alarm_upper = _loop_cusum(z - 0.5, np.full(20, 3.0), 0.0, 0.0)
    lower, alarm_lower = _loop_cusum(-z - 0.5, np.full(20, 3.0), 0.0, 0.0)
    np.testing.assert_allclose(result.upper, upper, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.lower, lower, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.alarm, alarm_upper | alarm_lower)
    np.testing.assert_array_equal(result.n_alarms, (alarm_upper | alarm_lower).sum(axis=1))


def test_normal_cusum_one_side_only() -> None:
    result = normal_cusum([[1.0, 2.0, 1.5, -0.5]], NormalCusumOptions(h=2.0, sided="upper"))
    assert result.upper[0] == pytest.approx([0.5, 2.0, 1.0, 0.0])
    assert np.isnan(result.lower).all()
    assert result.first_alarm.tolist() == [1]


def test_normal_cusum_threshold_from_target_is_spc_xcusum_crit() -> None:
    # Two-sided, k = 0.5, ARL0 = 370: spc::xcusum.crit(0.5, 370, sided = "two") = 4.7738.
    result = normal_cusum([[0.0]], NormalCusumOptions(k=0.5, target_arl=370.0, sided="two"))
    assert result.h == pytest.approx(_reference_value("xcusum.crit", "k=0.5,L0=370,sided=two"), rel=1e-8)
    upper_only = normal_cusum([[0.0]], NormalCusumOptions(k=0.5, target_arl=370.0, sided="upper"))
    assert upper_only.h == pytest.approx(_reference_value("xcusum.crit", "k=0.5,L0=370,sided=one"), rel=1e-8)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: risk_adjusted_cusum([[1, 2]], [[1, 2, 3]], 3.0), "shape"),
        (lambda: risk_adjusted_cusum([[-1, 2]], [[1, 2]], 3.0), "observed counts must be >= 0"),
        (lambda: risk_adjusted_cusum([[1, 2]], [[-1, 2]], 3.0), "expected counts must be >= 0"),
        (lambda: risk_adjusted_cusum([[1, 2]], [[1, np.inf]], 3.0), "infinite"),
        (lambda: risk_adjusted_cusum([[1, 2]], [[1, 2]], 0.0), "threshold must be positive"),
        (lambda: risk_adjusted_cusum([[1, 2]], [[1, 2]], [3.0, 4.0]), "one value per series"),
        (lambda: risk_adjusted_cusum([[[1]]], [[[1]]], 3.0), "2-D panel"),
        (
            lambda: risk_adjusted_cusum(
                [[1, 2]], [[1, 2]], 3.0, options=RiskAdjustedCusumOptions(head_start=3.0)
            ),
            "head_start",
        ),
        (
            lambda: risk_adjusted_cusum(
                [[1, 2]], [[1, 2]], 3.0, options=RiskAdjustedCusumOptions(form="bernoulli")
            ),
            "denominators",
        ),
        (
            lambda: risk_adjusted_cusum(
                [[5, 2]],
                [[1, 2]],
                3.0,
                denominators=[[4, 9]],
                options=RiskAdjustedCusumOptions(form="bernoulli"),
            ),
            "cannot exceed",
        ),
        (lambda: RiskAdjustedCusumOptions(rate_ratio=1.0), "rate_ratio"),
        (lambda: RiskAdjustedCusumOptions(form="normal"), "form"),  # type: ignore[arg-type]
        (lambda: RiskAdjustedCusumOptions(reset="never"), "reset"),  # type: ignore[arg-type]
        (lambda: NormalCusumOptions(), "exactly one of h and target_arl"),
        (lambda: NormalCusumOptions(h=3.0, target_arl=100.0), "exactly one of h and target_arl"),
        (lambda: NormalCusumOptions(h=3.0, head_start=3.0), "head_start"),
        (lambda: NormalCusumOptions(h=3.0, sided="both"), "sided"),  # type: ignore[arg-type]
        (lambda: normal_cusum([[0.0, np.inf]], NormalCusumOptions(h=3.0)), "infinite"),
        (lambda: llr_cusum_threshold(1.0, 2.4), "target_arl"),
        (lambda: llr_cusum_threshold(60.0, [[-1.0]]), "expected counts"),
        (lambda: llr_cusum_threshold(60.0, 2.4, form="bernoulli"), "denominators"),
        (lambda: llr_cusum_threshold(60.0, 2.4, method="exact"), "method"),  # type: ignore[arg-type]
        (lambda: llr_cusum_threshold(60.0, 2.4, method="simulation", n_paths=10), "n_paths"),
        (lambda: llr_cusum_threshold(60.0, [0.0, 0.0, 1.0]), "expected count is 0"),
        (lambda: llr_cusum_threshold(60.0, [0.0, 0.0], method="simulation"), "every expected count is 0"),
    ],
)
def test_bad_input_raises_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
