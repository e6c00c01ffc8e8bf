"""The Brook & Evans chain of :mod:`forewarn.stats.arl.false_alarms`, laid out by ``j - i``, against the
cell-by-cell formulation it replaced (kept here verbatim): the same transition matrices and alarm
probabilities to the bit, so thresholds and false-alarm figures are unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from forewarn.stats.arl.false_alarms import _transitions, cusum_window_threshold, window_false_alarms


def _reference(k: np.ndarray, h: np.ndarray, states: int) -> tuple[np.ndarray, np.ndarray]:
    width = (2.0 * h / (2.0 * states - 1.0))[:, None, None]
    i = np.arange(states)[None, :, None]
    j = np.arange(states)[None, None, :]
    upper = (j - i) * width + width / 2.0 + k[:, None, None]
    lower = np.where(j == 0, -np.inf, (j - i) * width - width / 2.0 + k[:, None, None])
    transition = special.ndtr(upper) - special.ndtr(lower)
    alarm = 1.0 - transition.sum(axis=2)
    return transition, np.clip(alarm, 0.0, 1.0)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int64)


@pytest.mark.parametrize("states", [1, 2, 7, 60, 101])
def test_the_chain_has_the_bits_of_the_cell_by_cell_formulation(states: int) -> None:
    rng = np.random.default_rng(states)
    for charts in (1, 2, 5):
        k = rng.uniform(0.0, 3.0, charts)
        h = np.exp(rng.uniform(np.log(1e-3), np.log(60.0), charts))
        transition, alarm = _transitions(k, h, states)
        want_transition, want_alarm = _reference(k, h, states)
        assert transition.shape == want_transition.shape
        assert (_bits(transition) == _bits(want_transition)).all()
        assert (_bits(alarm) == _bits(want_alarm)).all()


def test_the_threshold_still_meets_its_budget() -> None:
    """The bisection's h gives the share asked for (the docstring's example, to 6 decimals)."""
    h = cusum_window_threshold(0.5, 36, 0.05)
    assert h == pytest.approx([4.578134], abs=5e-7)
    assert window_false_alarms(0.5, h, 36).any_alarm == pytest.approx([0.05], abs=1e-9)
