"""Seeded, stratified allocation: reproducible from its documented recipe, balanced, and random across seeds."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from forewarn.stats.experiments.allocation import allocate

UNITS = [f"ORG{i:03d}" for i in range(41)]
STRATA = {u: ("north", "south", "east")[i % 3] for i, u in enumerate(UNITS)}


def test_the_recipe_redone_by_hand_gives_the_same_allocation() -> None:
    """The docstring's steps, written out independently for one stratum and an even block."""
    units = UNITS[:10]
    seed = 99
    order = sorted(units, key=lambda u: hashlib.sha256(f"{seed}||{u}".encode()).hexdigest())
    expected = {u: ("control", "intervention")[i % 2] for i, u in enumerate(order)}
    assert allocate(units, seed=seed).arm_of() == expected


def test_same_seed_same_allocation_whatever_the_order_given() -> None:
    a = allocate(UNITS, seed=5, strata=STRATA)
    b = allocate(list(reversed(UNITS)), seed=5, strata=dict(reversed(list(STRATA.items()))))
    assert a == b
    assert a.to_dict()["checksum"] == b.to_dict()["checksum"]
    assert allocate(UNITS, seed=6, strata=STRATA).arm_of() != a.arm_of()


def test_each_stratum_is_balanced_to_one() -> None:
    result = allocate(UNITS, seed=11, strata=STRATA)
    for counts in result.counts_by_stratum().values():
        assert abs(counts.get("control", 0) - counts.get("intervention", 0)) <= 1
    assert sum(result.counts().values()) == len(UNITS)


def test_ratio_and_several_arms() -> None:
    result = allocate(UNITS[:30], seed=3, arms=("a", "b", "c"), ratio=(2, 1, 1))
    counts = result.counts()
    # Seven whole blocks (a, a, b, c) and two places drawn from an eighth.
    assert sum(counts.values()) == 30
    assert 14 <= counts["a"] <= 16 and 7 <= counts["b"] <= 8 and 7 <= counts["c"] <= 8


def test_allocation_is_random_across_seeds() -> None:
    """Over many seeds each unit is in the intervention arm about half the time, and pairs are independent."""
    units = UNITS[:11]
    seeds = range(2000)
    hits = Counter()
    together = 0
    for seed in seeds:
        arms = allocate(units, seed=seed).arm_of()
        hits.update(u for u, a in arms.items() if a == "intervention")
        together += arms[units[0]] == arms[units[1]]
    shares = np.array([hits[u] for u in units]) / len(seeds)
    # An odd stratum gives the spare place to each arm half the time: every unit's chance is exactly 1/2.
    assert np.all(np.abs(shares - 0.5) < 4 * np.sqrt(0.25 / len(seeds)))
    # Two given units share an arm with probability (5*4 + 6*5)/(11*10) = 5/11 on average.
    assert together / len(seeds) == pytest.approx(5 / 11, abs=4 * np.sqrt(0.25 / len(seeds)))


def test_refusals() -> None:
    with pytest.raises(ValueError, match="twice"):
        allocate(["A", "A", "B"], seed=1)
    with pytest.raises(ValueError, match="no stratum"):
        allocate(["A", "B"], seed=1, strata={"A": "x"})
    with pytest.raises(ValueError, match="two distinct arms"):
        allocate(["A", "B"], seed=1, arms=("x",))
