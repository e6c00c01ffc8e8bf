"""forewarn.stats.neighbours and forewarn.stats.intervals: exact derivations by hand, agreement with a brute-force
search, properties (invariances, symmetry, weights that switch an attribute off) and the outcome weights'
behaviour on data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from forewarn.stats.intervals import normal_interval, poisson_ratio_interval, proportion_interval
from forewarn.stats.neighbours import (
    design,
    log_where_skewed,
    nearest,
    neighbour_stability,
    normalised_weights,
    outcome_weights,
    precision_weights,
)


def brute_force(columns: np.ndarray, attribute: np.ndarray, weights: np.ndarray, row: int, k: int):
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    scaled = columns * np.sqrt(w[attribute])
    d = np.sqrt(((scaled - scaled[row]) ** 2).sum(axis=1))
    d[row] = np.inf
    order = np.lexsort((np.arange(d.size), d))[:k]
    return order, d[order]


def test_a_small_example_by_hand() -> None:
    # Three organisations: staff 10, 20, 40 (mean 70/3, population variance 1400/9, sd 12.472);
    # deprivation 0.2, 0.2, 0.5 (mean 0.3, variance 0.02, sd 0.14142); type a, b, a. Weights 1:1:2.
    numeric = [[10.0, 0.2], [20.0, 0.2], [40.0, 0.5]]
    categorical = [[0], [1], [0]]
    d = design(numeric, categorical)
    sd_staff = math.sqrt(1400 / 9)
    sd_dep = math.sqrt(0.02)
    w = np.array([1, 1, 2]) / 4
    # Organisation 0 against 1: staff differs by 10, deprivation by 0, type mismatch (squared difference 2).
    d01 = math.sqrt(w[0] * (10 / sd_staff) ** 2 + w[2] * 2)
    # Against 2: staff by 30, deprivation by 0.3, same type.
    d02 = math.sqrt(w[0] * (30 / sd_staff) ** 2 + w[1] * (0.3 / sd_dep) ** 2)
    assert d01 == pytest.approx(math.sqrt(0.25 * 0.642857 + 1.0), rel=1e-5)
    assert d02 == pytest.approx(math.sqrt(0.25 * 5.785714 + 0.25 * 4.5), rel=1e-5)
    found = nearest(d, [1, 1, 2], k=2, query=[0])
    assert found.index.tolist() == [[1, 2]]
    assert found.distance[0] == pytest.approx([d01, d02], rel=1e-12)
    # With type switched off, organisation 1 is nearer still (10 staff, no deprivation difference).
    assert nearest(d, [1, 1, 0], k=1, query=[0]).distance[0, 0] == pytest.approx(
        math.sqrt(0.5 * (10 / sd_staff) ** 2), rel=1e-12
    )


def test_missing_values_sit_at_the_mean_and_a_missing_level_is_half_a_mismatch() -> None:
    d = design([[0.0], [2.0], [np.nan]], [[0], [1], [-1]])
    # Numbers 0 and 2: mean 1, sd 1, so z = -1, 1, and 0 for the missing one. Levels: (1,0), (0,1), (0,0).
    assert d.columns.tolist() == [[-1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    found = nearest(d, [1, 1], k=2, query=[2])
    # Row 2 to row 0: 0.5 * 1 + 0.5 * 1 = 1 (z differs by 1; one level column differs); same to row 1: tie.
    assert found.index.tolist() == [[0, 1]]
    assert found.distance[0] == pytest.approx([1.0, 1.0])


def test_ties_go_to_the_lower_row() -> None:
    categorical = np.array([[0]] * 30 + [[1]] * 30)
    found = nearest(design(np.zeros((60, 0)), categorical), [1], k=5)
    assert found.index[0].tolist() == [1, 2, 3, 4, 5]
    assert found.index[40].tolist() == [30, 31, 32, 33, 34]
    assert np.all(found.distance == 0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 40),
    p=st.integers(0, 3),
    m=st.integers(0, 2),
    k=st.integers(1, 8),
    seed=st.integers(0, 10_000),
)
def test_nearest_agrees_with_a_brute_force_search(n: int, p: int, m: int, k: int, seed: int) -> None:
    if p + m == 0:
        p = 1
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, p))
    numeric[rng.random((n, p)) < 0.1] = np.nan
    categorical = rng.integers(-1, 3, size=(n, m))
    d = design(numeric, categorical)
    weights = rng.uniform(0.1, 3.0, size=d.n_attributes)
    found = nearest(d, weights, k)
    k_eff = min(k, n - 1)
    assert found.index.shape == (n, k_eff)
    for row in range(n):
        order, dist = brute_force(d.columns, d.attribute, weights, row, n - 1)
        assert found.distance[row] == pytest.approx(dist[:k_eff], rel=1e-9, abs=1e-9)
        assert row not in found.index[row]
        # Indices agree wherever the distance is not tied within rounding with the one before or after it (the
        # one after may be the first left out).
        gaps = np.diff(np.concatenate([dist, [np.inf]]))
        clear = (np.concatenate([[True], gaps[:-1] > 1e-9]) & (gaps > 1e-9))[:k_eff]
        assert np.array_equal(found.index[row][clear], order[:k_eff][clear])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0), shift=st.floats(-1e3, 1e3))
def test_standardising_makes_units_irrelevant(seed: int, scale: float, shift: float) -> None:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(25, 2))
    categorical = rng.integers(0, 3, size=(25, 1))
    before = nearest(design(numeric, categorical), [1, 2, 1], 5)
    moved = numeric * np.array([scale, 1.0]) + np.array([shift, 0.0])
    after = nearest(design(moved, categorical), [1, 2, 1], 5)
    assert after.distance == pytest.approx(before.distance, rel=1e-7, abs=1e-9)


def test_distances_are_symmetric_and_a_zero_weight_ignores_an_attribute() -> None:
    rng = np.random.default_rng(1)
    numeric = rng.normal(size=(50, 3))
    d = design(numeric, np.zeros((50, 0), dtype=int))
    everyone = nearest(d, [1, 1, 1], 49)
    table = np.zeros((50, 50))
    table[np.arange(50)[:, None], everyone.index] = everyone.distance
    assert table == pytest.approx(table.T, abs=1e-12)
    # Changing a zero-weighted attribute changes nothing.
    noisy = numeric.copy()
    noisy[:, 2] = rng.normal(size=50)
    assert np.array_equal(
        nearest(design(noisy, np.zeros((50, 0), dtype=int)), [1, 1, 0], 5).index,
        nearest(d, [1, 1, 0], 5).index,
    )


def test_candidates_and_small_populations() -> None:
    d = design([[0.0], [1.0], [2.0], [3.0]], np.zeros((4, 0), dtype=int))
    assert nearest(d, [1], k=10).index.shape == (4, 3)
    only_even = nearest(d, [1], k=2, query=[1], candidates=np.array([True, False, True, False]))
    assert only_even.index.tolist() == [[0, 2]]
    # A query row outside the candidates may use every candidate.
    assert nearest(d, [1], k=2, query=[3], candidates=[0, 1]).index.tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="k must be"):
        nearest(d, [1], k=0)
    with pytest.raises(ValueError, match="attribute weights"):
        nearest(d, [1, 1], k=1)
    with pytest.raises(ValueError, match="non-negative"):
        normalised_weights([-1.0], 1)


def test_sizes_are_logged_when_that_removes_their_skew() -> None:
    rng = np.random.default_rng(3)
    staff = np.exp(rng.normal(5, 1, size=500))
    values, logged = log_where_skewed(np.column_stack([staff, rng.normal(size=500), -staff]))
    assert logged.tolist() == [True, False, False]
    assert values[:, 0] == pytest.approx(np.log(staff))


def test_outcome_weights_find_the_attribute_that_predicts() -> None:
    rng = np.random.default_rng(7)
    n = 600
    numeric = rng.normal(size=(n, 3))
    categorical = rng.integers(0, 3, size=(n, 1))
    d = design(numeric, categorical)
    y = 2.0 * numeric[:, 1] + np.array([0.0, 0.0, 1.5])[categorical[:, 0]] + rng.normal(size=n)
    learnt = outcome_weights(d, y, seed=1)
    assert learnt.informative and learnt.r2_cv > 0.7
    # Variance of each part of the prediction: 4 for x1, 1.5^2 * (1/3)(2/3) = 0.5 for the category.
    assert learnt.weights[1] == pytest.approx(4 / 4.5, abs=0.04)
    assert learnt.weights[3] == pytest.approx(0.5 / 4.5, abs=0.04)
    assert learnt.weights[[0, 2]].sum() < 0.01
    noise = outcome_weights(d, rng.normal(size=n), seed=1)
    assert noise.r2_cv < 0.02


def test_precision_weights_discount_noisy_levels() -> None:
    rng = np.random.default_rng(11)
    n = 800
    x = rng.normal(size=(n, 1))
    variance = np.where(np.arange(n) % 2 == 0, 0.01, 25.0)  # half precise, half very noisy
    y = x[:, 0] + rng.normal(size=n) * np.sqrt(variance)
    d = design(x, np.zeros((n, 0), dtype=int))
    weighted = outcome_weights(d, y, sample_weight=precision_weights(y, variance))
    plain = outcome_weights(d, y)
    # The weights 1/(s^2 + tau^2) keep tau^2 = 1 (the spread the context explains), so the noisy half still
    # counts 1/26 each: weighted R^2 about 0.5, against about 0.08 when every level counts the same.
    assert weighted.r2_cv > 0.4 and plain.r2_cv < 0.15
    assert weighted.coefficients[0] == pytest.approx(1.0, abs=0.02)


def test_neighbours_of_a_separated_cluster_are_perfectly_stable() -> None:
    rng = np.random.default_rng(5)
    numeric = np.concatenate([rng.normal(0, 0.05, size=(13, 2)), rng.normal(10, 3, size=(200, 2))])
    d = design(numeric, np.zeros((213, 0), dtype=int))
    found = nearest(d, [1, 1], 12, query=[0])
    assert set(found.index[0].tolist()) == set(range(1, 13))
    stable = neighbour_stability(
        numeric, np.zeros((213, 0), dtype=int), found, weights=[1, 1], replicates=50, seed=1
    )
    assert stable.tolist() == [[1.0] * 12]
    # Learnt weights: the outcome follows x0 only, so x1 stops mattering and the set may change; stability is a
    # share of replicates either way.
    y = numeric[:, 0] + rng.normal(0, 0.01, size=213)
    learnt = outcome_weights(d, y)
    found_y = nearest(d, learnt.weights, 12, query=[0])
    share = neighbour_stability(
        numeric, np.zeros((213, 0), dtype=int), found_y, outcome=y, alpha=learnt.alpha, replicates=30
    )
    assert np.all((share >= 0) & (share <= 1))
    with pytest.raises(ValueError, match="either fixed weights or an outcome"):
        neighbour_stability(numeric, np.zeros((213, 0), dtype=int), found)


def test_ten_thousand_organisations_queried_in_blocks_equal_the_brute_force() -> None:
    """At 10,000 organisations the queries run in blocks of QUERY_BLOCK_ROWS: rows from every block get the
    neighbours and distances of the brute force. (How long it takes is bench/peers_bench.py's to say: tests never
    time things.)"""
    rng = np.random.default_rng(0)
    n = 10_000
    numeric = rng.normal(size=(n, 4))
    categorical = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 9, n)])
    d = design(numeric, categorical)
    found = nearest(d, np.ones(6), 12)
    assert found.index.shape == (n, 12)
    for row in rng.choice(n, 25, replace=False):
        order, distance = brute_force(d.columns, d.attribute, np.ones(6), int(row), 12)
        assert found.index[row].tolist() == order.tolist()
        np.testing.assert_allclose(found.distance[row], distance, rtol=1e-9)


def test_exact_intervals_match_scipy() -> None:
    x, n = np.array([0, 1, 7, 20]), np.array([20, 20, 20, 20])
    ci = proportion_interval(x, n)
    for i in range(4):
        ref = stats.binomtest(int(x[i]), int(n[i])).proportion_ci(0.95, method="exact")
        assert (ci.lower[i], ci.upper[i]) == pytest.approx((ref.low, ref.high), abs=1e-10)
    events, expected = np.array([0, 3, 40]), np.array([2.0, 2.0, 50.0])
    pc = poisson_ratio_interval(events, expected)
    lower = np.where(events > 0, stats.chi2.ppf(0.025, 2 * events) / 2, 0) / expected
    upper = stats.chi2.ppf(0.975, 2 * events + 2) / 2 / expected
    assert pc.lower == pytest.approx(lower) and pc.upper == pytest.approx(upper)
    rate = poisson_ratio_interval([5], [1000.0], multiplier=1000)
    assert rate.estimate[0] == pytest.approx(5.0)
    assert np.isnan(proportion_interval([1], [0]).lower[0])
    assert normal_interval([1.0], [0.5], coverage=95).lower[0] == pytest.approx(1 - 1.959964 * 0.5)
