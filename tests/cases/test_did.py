"""Difference in differences, derived by hand on a 2x2 table, and the stacked form and the naive mean agree with it.

Table (two treated units A, B; three comparison units C, D, E):

    unit  group      before  after  change
    A     treated      10     14      4
    B     treated      12     18      6
    C     comparison    8      9      1
    D     comparison   11     13      2
    E     comparison    9      9      0

Cell means: treated 11 -> 16, comparison 28/3 -> 31/3, so DiD = (16 - 11) - (31/3 - 28/3) = 5 - 1 = 4.

In the saturated regression the interaction is the contrast sum_i a_i y_i with a = +-1/n_T (treated after/before)
and -+1/n_C (comparison), so its cluster-robust (CR0) variance, clustering by unit, is
sum_g (sum_t a_gt e_gt)^2 = sum_T (change - mean change_T)^2 / n_T^2 + sum_C (...)^2 / n_C^2
= (1 + 1) / 4 + (0 + 1 + 1) / 9 = 0.5 + 2/9. statsmodels' CR1 multiplies by G / (G - 1) * (N - 1) / (N - K):
long form G = 5, N = 10, K = 4; per-unit changes G = 5, N = 5, K = 2. The interval is t on G - 1 = 4 df.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from forewarn.stats.did import did_panel, mean_change, stacked_did

BEFORE = {"A": 10.0, "B": 12.0, "C": 8.0, "D": 11.0, "E": 9.0}
AFTER = {"A": 14.0, "B": 18.0, "C": 9.0, "D": 13.0, "E": 9.0}
TREATED = {"A", "B"}
CR0 = 0.5 + 2.0 / 9.0


def long_table() -> tuple[list[float], list[int], list[int], list[str]]:
    y, treated, post, unit = [], [], [], []
    for u in BEFORE:
        for p, values in ((0, BEFORE), (1, AFTER)):
            y.append(values[u])
            treated.append(int(u in TREATED))
            post.append(p)
            unit.append(u)
    return y, treated, post, unit


def test_did_panel_is_the_hand_derivation() -> None:
    r = did_panel(*long_table())
    assert r.estimate == pytest.approx(4.0, abs=1e-12)
    variance = CR0 * 5 / 4 * 9 / 6
    assert r.standard_error == pytest.approx(math.sqrt(variance), rel=1e-10)
    assert r.df == 4
    half = stats.t.ppf(0.975, 4) * math.sqrt(variance)
    assert (r.ci_low, r.ci_high) == pytest.approx((4.0 - half, 4.0 + half), rel=1e-10)
    assert r.p_value == pytest.approx(2 * stats.t.sf(4.0 / math.sqrt(variance), 4), rel=1e-8)
    assert (r.n_treated, r.n_comparison, r.n_clusters) == (2, 3, 5)


def test_stacked_form_on_changes_gives_the_same_estimate() -> None:
    units = list(BEFORE)
    change = [AFTER[u] - BEFORE[u] for u in units]
    r = stacked_did(change, [u in TREATED for u in units], [1] * 5, units)
    assert r.estimate == pytest.approx(4.0, abs=1e-12)
    assert r.standard_error == pytest.approx(math.sqrt(CR0 * 5 / 4 * 4 / 3), rel=1e-10)
    assert r.df == 4


def test_stacks_are_weighted_equally_when_balanced() -> None:
    # Stack 1: treated +3 against +1 and +1 (own DiD 2); stack 2: treated +2 against 0 and +2 (own DiD 1).
    r = stacked_did([3, 1, 1, 2, 0, 2], [1, 0, 0, 1, 0, 0], [1, 1, 1, 2, 2, 2], [1, 3, 4, 2, 3, 5])
    assert r.estimate == pytest.approx(1.5, abs=1e-12)
    assert r.n_clusters == 5  # comparison unit 3 serves both stacks: one cluster


def test_a_stack_without_comparison_identifies_nothing_and_is_dropped() -> None:
    r = stacked_did([3, 1, 1, 9], [1, 0, 0, 1], [1, 1, 1, 2], [1, 3, 4, 2])
    assert r.estimate == pytest.approx(2.0, abs=1e-12)
    assert r.n_treated == 1


def test_the_naive_estimate_is_the_mean_change_of_the_treated() -> None:
    r = mean_change([4.0, 6.0], ["A", "B"])
    assert r.estimate == pytest.approx(5.0)
    # one observation per cluster: CR1 = the classical standard error of a mean
    assert r.standard_error == pytest.approx(np.std([4.0, 6.0], ddof=1) / math.sqrt(2), rel=1e-10)


def test_covariates_adjust_within_stacks() -> None:
    # The change is 1 + 0.5 x level for everyone, plus 2 for the treated: adjustment recovers 2 exactly.
    level = np.array([0.0, 1.0, 2.0, 4.0, 1.0, 3.0, 5.0, 0.5])
    treated = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    change = 1 + 0.5 * level + 2 * treated
    stack = [1, 1, 1, 1, 2, 2, 2, 2]
    r = stacked_did(change, treated, stack, np.arange(8), covariates=level)
    assert r.estimate == pytest.approx(2.0, abs=1e-10)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="two clusters"):
        mean_change([1.0, 2.0], [1, 1])
    with pytest.raises(ValueError, match="expected 3"):
        did_panel([1, 2, 3], [1, 0], [0, 1, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="both a treated and a comparison"):
        stacked_did([1.0, 2.0], [1, 1], [1, 2], [1, 2])
