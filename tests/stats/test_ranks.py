"""Rank uncertainty (Goldstein & Spiegelhalter 1996; Marshall & Spiegelhalter 1998) vs exact derivations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from forewarn.stats.ranks import RankOptions, expected_ranks, probability_of_order, rank_uncertainty


def test_widely_separated_units_have_certain_ranks() -> None:
    # Gaps of 100 standard errors: every replicate ranks the units the same way: zero-width intervals.
    estimates = np.array([300.0, 0.0, 100.0, 400.0, 200.0])
    ranks = rank_uncertainty(estimates, np.ones(5))
    exact = stats.rankdata(estimates)
    np.testing.assert_array_equal(ranks.median_rank, exact)
    np.testing.assert_array_equal(ranks.lower_rank, exact)
    np.testing.assert_array_equal(ranks.upper_rank, exact)
    np.testing.assert_array_equal(ranks.mean_rank, exact)
    # the middle rank is 3: the unit holding it cannot be told apart from the middle, the others can
    np.testing.assert_array_equal(ranks.differs_from_middle, exact != 3)
    np.testing.assert_array_equal(ranks.group_size, np.full(5, 5))


def test_descending_ranks_reverse_the_order() -> None:
    ranks = rank_uncertainty([0.0, 100.0, 200.0], [1.0, 1.0, 1.0], options=RankOptions(descending=True))
    np.testing.assert_array_equal(ranks.median_rank, [3.0, 2.0, 1.0])


def test_groups_are_ranked_separately() -> None:
    estimates = np.array([0.0, 500.0, 100.0, 900.0, 200.0, 50.0])
    group = np.array(["b", "a", "b", "a", "a", "c"])
    ranks = rank_uncertainty(estimates, np.ones(6), group=group)
    np.testing.assert_array_equal(ranks.median_rank, [1.0, 2.0, 2.0, 3.0, 1.0, 1.0])
    np.testing.assert_array_equal(ranks.group_size, [2, 3, 2, 3, 3, 1])
    # a table of one has rank 1 = its middle rank; a table of two has middle 1.5, which ranks 1 and 2 exclude
    np.testing.assert_array_equal(ranks.differs_from_middle, [True, False, True, True, True, False])


def test_two_identical_units_are_a_coin_toss() -> None:
    # Symmetric case: P(unit 0 ranks first) = 1/2, each unit's mean rank is 1.5 and its interval is [1, 2].
    options = RankOptions(n_draws=4000, seed=7)
    ranks = rank_uncertainty([0.0, 0.0], [1.0, 1.0], options=options)
    standard_error = 0.5 / math.sqrt(options.n_draws)
    assert abs(ranks.mean_rank[0] - 1.5) < 4 * standard_error
    assert ranks.mean_rank[0] + ranks.mean_rank[1] == pytest.approx(3.0)
    np.testing.assert_array_equal(ranks.lower_rank, [1, 1])
    np.testing.assert_array_equal(ranks.upper_rank, [2, 2])
    assert not ranks.differs_from_middle.any()


def test_probability_of_order_matches_the_simulated_frequency() -> None:
    # For two units the rank distribution is P(theta_a < theta_b) = Phi((b - a)/sqrt(se_a^2 + se_b^2)).
    options = RankOptions(n_draws=5000, seed=3)
    ranks = rank_uncertainty([0.0, 0.8], [1.0, 0.5], options=options)
    probability = float(probability_of_order(0.0, 1.0, 0.8, 0.5))
    assert probability == pytest.approx(stats.norm.cdf(0.8 / math.sqrt(1.25)), rel=1e-12)
    frequency_first = 2.0 - ranks.mean_rank[0]  # rank 1 with probability p, 2 otherwise
    assert abs(frequency_first - probability) < 4 * math.sqrt(
        probability * (1 - probability) / options.n_draws
    )


def test_probability_of_order_edge_cases() -> None:
    np.testing.assert_array_equal(
        probability_of_order([0.0, 1.0, 0.0], 0.0, [1.0, 0.0, 0.0], 0.0), [1.0, 0.0, 0.5]
    )
    # broadcasting: one unit against several
    np.testing.assert_allclose(
        probability_of_order(0.0, 1.0, np.array([-1.0, 0.0, 1.0]), 1.0),
        stats.norm.cdf([-1, 0, 1] / np.sqrt(2)),
    )


def test_expected_ranks_small_exact_case() -> None:
    # E[rank_i] = 1 + sum_{j != i} Phi((theta_i - theta_j) / sqrt(se_i^2 + se_j^2)), written out for 3 units.
    estimates, errors = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 0.5])
    by_hand = [
        1
        + sum(
            stats.norm.cdf((estimates[i] - estimates[j]) / math.hypot(errors[i], errors[j]))
            for j in range(3)
            if j != i
        )
        for i in range(3)
    ]
    np.testing.assert_allclose(expected_ranks(estimates, errors), by_hand, rtol=1e-12)
    # expected ranks of a table sum to n(n + 1)/2, and descending ranks are n + 1 minus ascending ones
    assert expected_ranks(estimates, errors).sum() == pytest.approx(6.0)
    np.testing.assert_allclose(
        expected_ranks(estimates, errors, descending=True), 4 - expected_ranks(estimates, errors), rtol=1e-12
    )


def test_expected_ranks_within_groups_equal_separate_tables() -> None:
    rng = np.random.default_rng(1)
    estimates, errors = rng.normal(size=12), rng.uniform(0.2, 1.0, size=12)
    group = np.repeat([2, 0, 1], 4)
    together = expected_ranks(estimates, errors, group=group)
    for label in (0, 1, 2):
        rows = group == label
        np.testing.assert_allclose(together[rows], expected_ranks(estimates[rows], errors[rows]), rtol=1e-12)


@pytest.mark.parametrize("with_groups", [False, True])
def test_simulated_mean_rank_agrees_with_the_exact_expected_rank(with_groups: bool) -> None:
    # Goldstein & Spiegelhalter's normal model: the simulated mean rank estimates E[rank_i] (expected_ranks)
    # with Monte Carlo standard error rank_sd / sqrt(draws); every unit must lie within 4.5 of them.
    rng = np.random.default_rng(12)
    n = 60
    estimates, errors = rng.normal(0.0, 1.0, n), rng.uniform(0.1, 1.0, n)
    group = rng.integers(0, 4, n) if with_groups else None
    options = RankOptions(n_draws=3000, seed=5)
    ranks = rank_uncertainty(estimates, errors, group=group, options=options)
    exact = expected_ranks(estimates, errors, group=group)
    standard_error = ranks.rank_sd / math.sqrt(options.n_draws)
    assert np.all(standard_error > 0)
    z = (ranks.mean_rank - exact) / standard_error
    assert np.all(np.abs(z) < 4.5)


def test_interval_contains_the_median_and_is_ordered() -> None:
    rng = np.random.default_rng(2)
    ranks = rank_uncertainty(rng.normal(size=200), rng.uniform(0.1, 2.0, 200), group=rng.integers(0, 5, 200))
    assert np.all(ranks.lower_rank <= ranks.median_rank)
    assert np.all(ranks.median_rank <= ranks.upper_rank)
    assert np.all(ranks.lower_rank >= 1)
    assert np.all(ranks.upper_rank <= ranks.group_size)
    middle = (ranks.group_size + 1) / 2
    np.testing.assert_array_equal(
        ranks.differs_from_middle, (ranks.upper_rank < middle) | (ranks.lower_rank > middle)
    )


def test_block_size_does_not_change_the_result() -> None:
    rng = np.random.default_rng(9)
    estimates, errors, group = rng.normal(size=300), rng.uniform(0.1, 1.0, 300), rng.integers(0, 3, 300)
    default = rank_uncertainty(estimates, errors, group=group)
    small = rank_uncertainty(estimates, errors, group=group, options=RankOptions(block_elements=1000))
    for field in ("median_rank", "lower_rank", "upper_rank", "mean_rank"):
        np.testing.assert_array_equal(getattr(default, field), getattr(small, field))


def test_units_known_exactly_tie_at_the_lowest_rank() -> None:
    # Two units with se = 0 and the same estimate always tie: both get the lower rank, the next skips one.
    ranks = rank_uncertainty([1.0, 1.0, 50.0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ranks.median_rank, [1.0, 1.0, 3.0])


def test_interval_level_sets_the_quantiles() -> None:
    # Uniform ranks: unit 0 ranks 1 or 2 with probability 1/2 each; an 80% interval still spans both ranks.
    ranks = rank_uncertainty([0.0, 0.0], [1.0, 1.0], options=RankOptions(level=0.8))
    assert ranks.level == 0.8
    np.testing.assert_array_equal(ranks.lower_rank, [1, 1])
    np.testing.assert_array_equal(ranks.upper_rank, [2, 2])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rank_uncertainty([1.0, 2.0], [1.0]), "shape of estimate"),
        (lambda: rank_uncertainty([[1.0, 2.0]], [[1.0, 1.0]]), "1-D"),
        (lambda: rank_uncertainty([1.0, np.nan], [1.0, 1.0]), "estimate must be finite"),
        (lambda: rank_uncertainty([1.0, 2.0], [1.0, -1.0]), "standard_error must be finite and >= 0"),
        (lambda: rank_uncertainty([1.0, 2.0], [1.0, 1.0], group=[1]), "group must have the shape"),
        (lambda: RankOptions(n_draws=10), "n_draws"),
        (lambda: RankOptions(level=1.0), "level"),
        (lambda: RankOptions(seed=1.5), "seed"),  # type: ignore[arg-type]
        (lambda: RankOptions(block_elements=0), "block_elements"),
        (lambda: probability_of_order(0.0, -1.0, 1.0, 1.0), "standard errors must be >= 0"),
        (lambda: expected_ranks([], []), "non-empty"),
    ],
)
def test_bad_input_raises_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
