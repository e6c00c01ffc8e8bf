"""forewarn.stats.neighbour_agreement: the overlap and Jaccard index of two neighbour sets by hand, the expected
Jaccard index of random sets against enumerating every pair of sets, and the attribute bootstrap against the
probability a multinomial draw gives by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from forewarn.stats.neighbour_agreement import attribute_bootstrap, random_jaccard, set_overlap
from forewarn.stats.neighbours import design, nearest


def test_overlap_by_hand() -> None:
    found = set_overlap([[1, 2, 3], [4, 5, -1], [-1, -1, -1]], [[3, 2, 9], [6, 7, 8], [-1, -1, -1]])
    # {1,2,3} and {3,2,9}: 2 shared of 4; {4,5} and {6,7,8}: none of 5; two empty sets: undefined.
    assert found.shared.tolist() == [2, 0, 0]
    assert found.jaccard[:2].tolist() == [0.5, 0.0]
    assert np.isnan(found.jaccard[2])
    with pytest.raises(ValueError, match="same rows"):
        set_overlap([[1, 2]], [[1, 2], [3, 4]])


@pytest.mark.parametrize(("k", "n"), [(1, 3), (2, 4), (3, 7), (4, 9)])
def test_random_jaccard_against_every_pair_of_sets(k: int, n: int) -> None:
    sets = [set(c) for c in itertools.combinations(range(n), k)]
    mean = np.mean([len(a & b) / len(a | b) for a in sets for b in sets])
    assert random_jaccard(k, n) == pytest.approx(mean, rel=1e-12)
    with pytest.raises(ValueError):
        random_jaccard(0, n)


def test_attribute_bootstrap_matches_the_multinomial_probability() -> None:
    # Organisation 0's nearest is 1 on attribute 0 alone and on both together (unscaled squared differences
    # 0.01 + 0.64 against 1 + 0.01; the two columns' standard deviations are within 2% of each other), and 2 on
    # attribute 1 alone. Two attributes drawn with replacement: both draws attribute 1 with
    # probability 1/4, so neighbour 1 stays in 3/4 of replicates and the set's mean Jaccard index is 3/4.
    numeric = np.array([[0.0, 0.0], [0.1, 0.8], [1.0, 0.1], [5.0, 5.0]])
    d = design(numeric, np.zeros((4, 0), dtype=np.int64))
    found = nearest(d, [1, 1], k=1, query=[0])
    assert found.index.tolist() == [[1]]
    boot = attribute_bootstrap(d, found, replicates=4000, seed=3)
    # Binomial standard error sqrt(0.75 * 0.25 / 4000) = 0.007: five of them.
    assert boot.stability[0, 0] == pytest.approx(0.75, abs=0.035)
    assert boot.jaccard[0] == pytest.approx(boot.stability[0, 0])
    # Weights that never draw attribute 1 keep the neighbour every time.
    assert attribute_bootstrap(d, found, weights=[1, 0], replicates=50).stability[0, 0] == 1.0
