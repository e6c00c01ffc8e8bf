"""The in-control model's winsorising (``incontrol._winsorised``) against the formulation it replaced (kept
verbatim: the values by ``np.nonzero`` and fancy indexing, a mask per group, a copy written back), to the bit:
one group (a partition of one indicator), several, empty groups and rows, and no trimming."""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.stats.incontrol import _winsorised


def _reference(
    u: np.ndarray, inside: np.ndarray, group: np.ndarray, n_groups: int, trim: float
) -> np.ndarray:
    out = u.copy()
    if trim <= 0:
        return out
    rows, cols = np.nonzero(inside)
    values = u[rows, cols]
    groups = group[rows]
    counts = np.bincount(groups, minlength=n_groups)
    low = np.full(n_groups, -np.inf)
    high = np.full(n_groups, np.inf)
    for g in np.flatnonzero(counts).tolist():
        count = int(counts[g])
        bounds = []
        for prob in (trim, 1.0 - trim):
            position = (count - 1) * prob
            below = int(np.floor(position))
            bounds.append((below, min(below + 1, count - 1), position - below))
        ordered = np.partition(values[groups == g], sorted({k for b, a, _ in bounds for k in (b, a)}))
        (b_low, a_low, f_low), (b_high, a_high, f_high) = bounds
        low[g] = ordered[b_low] + f_low * (ordered[a_low] - ordered[b_low])
        high[g] = ordered[b_high] + f_high * (ordered[a_high] - ordered[b_high])
    clipped = np.clip(u, low[group][:, None], high[group][:, None])
    out[inside] = clipped[inside]
    return out


@pytest.mark.parametrize("groups", [1, 2, 5])
@pytest.mark.parametrize("trim", [0.0, 0.1, 0.3])
def test_winsorising_has_the_bits_of_the_formulation_it_replaced(groups: int, trim: float) -> None:
    rng = np.random.default_rng(groups * 10 + int(trim * 10))
    n = 3000
    inside = rng.random((n, 13)) < 0.6
    inside[:50] = False  # rows without baseline points
    u = np.where(inside, rng.standard_t(3, size=(n, 13)), 0.0)
    group = np.sort(rng.integers(0, groups, n))
    n_groups = groups + 2  # groups without any series
    got = _winsorised(u, inside, group, n_groups, trim)
    want = _reference(u, inside, group, n_groups, trim)
    assert (got.view(np.int64) == want.view(np.int64)).all()
    if trim > 0:  # something was clipped, and only inside
        assert (got != u).any() and (got[~inside] == u[~inside]).all()


def test_nothing_inside_leaves_the_values_as_they_are() -> None:
    u = np.arange(12.0).reshape(3, 4)
    got = _winsorised(u, np.zeros(u.shape, dtype=bool), np.zeros(3, dtype=np.int64), 1, 0.1)
    assert np.array_equal(got, u) and got is not u
