"""Conditional-expected-rank intervals, checked against exact sums and brute-force simulation of the same model
(mu_j ~ N(theta_j, s_j^2) independently; Goldstein & Spiegelhalter 1996)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from forewarn.stats.rank_bounds import conditional_rank_intervals


def test_units_far_apart_get_exact_ranks_and_no_width() -> None:
    theta = np.array([3.0, 1.0, 2.0, 10.0])
    bounds = conditional_rank_intervals(theta, np.full(4, 1e-3))
    np.testing.assert_allclose(bounds.rank, [3, 1, 2, 4], atol=1e-6)
    np.testing.assert_allclose(bounds.lower_rank, bounds.upper_rank, atol=1e-6)
    descending = conditional_rank_intervals(theta, np.full(4, 1e-3), descending=True)
    np.testing.assert_allclose(descending.rank, [2, 4, 3, 1], atol=1e-6)


def test_curve_matches_the_exact_sum() -> None:
    """r_i(x) = 1 + sum_{j != i} Phi((theta_j - x)/s_j), evaluated directly for every unit."""
    rng = np.random.default_rng(5)
    theta, se = rng.normal(0, 1, 400), rng.uniform(0.1, 1.0, 400)
    bounds = conditional_rank_intervals(theta, se, descending=True)
    others = ~np.eye(400, dtype=bool)
    exact = 1 + np.where(others, ndtr((theta[None, :] - theta[:, None]) / se[None, :]), 0).sum(axis=1)
    np.testing.assert_allclose(bounds.rank, exact, atol=0.1)


def test_intervals_agree_with_brute_force_simulation() -> None:
    rng = np.random.default_rng(11)
    n = 300
    theta, se = rng.normal(0, 1, n), rng.uniform(0.05, 0.6, n)
    bounds = conditional_rank_intervals(theta, se, descending=True)
    draws = rng.normal(theta, se, size=(20_000, n))
    ranks = 1 + np.argsort(np.argsort(-draws, axis=1), axis=1)
    lower, median, upper = np.quantile(ranks, [0.025, 0.5, 0.975], axis=0)
    tolerance = 0.02 * n + 2
    assert np.abs(bounds.lower_rank - lower).max() < tolerance
    assert np.abs(bounds.upper_rank - upper).max() < tolerance
    assert np.abs(bounds.rank - median).max() < tolerance
    middle = (n + 1) / 2
    simulated = (upper < middle) | (lower > middle)
    assert (bounds.differs_from_middle == simulated).mean() > 0.97


def test_many_tables_in_one_call_equal_separate_calls() -> None:
    rng = np.random.default_rng(2)
    theta, se = rng.normal(0, 1, 500), rng.uniform(0.1, 0.5, 500)
    group = np.repeat([0, 1], [200, 300])
    together = conditional_rank_intervals(theta, se, group=group)
    first = conditional_rank_intervals(theta[:200], se[:200])
    np.testing.assert_allclose(together.rank[:200], first.rank, atol=1e-9)
    assert together.group_size.tolist() == [200] * 200 + [300] * 300


@pytest.mark.parametrize(
    ("theta", "se", "message"),
    [
        ([1.0, 2.0], [0.1], "differ in length"),
        ([1.0, np.nan], [0.1, 0.1], "must be finite"),
        ([1.0, 2.0], [0.1, 0.0], "standard errors must be positive; unit 1"),
    ],
)
def test_bad_input(theta: list[float], se: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conditional_rank_intervals(theta, se)
