"""The watchlist's places: ties where intervals overlap, against a count written out pair by pair."""

from __future__ import annotations

import numpy as np

from forewarn.views.risk import places


def test_places_count_the_intervals_wholly_above_and_not_wholly_below() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0.01, 0.5, 300)
    width = rng.uniform(0.0, 0.1, 300)
    lower, upper = p - width, p + width
    lower[:5] = upper[:5] = 0.2  # equal points: tied with each other
    best, worst = places(lower, upper)
    for i in range(p.size):
        above = sum(1 for j in range(p.size) if lower[j] > upper[i])
        not_below = sum(1 for j in range(p.size) if upper[j] >= lower[i])
        assert (best[i], worst[i]) == (above + 1, not_below)
    assert np.all(best <= worst)
    assert best[0] == best[4] and worst[0] == worst[4]
