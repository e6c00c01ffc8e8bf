"""False alarms of a one-sided normal CUSUM over a finite window, and the threshold for a false-alarm budget.

An average run length says how long a chart runs in control *on average*; a regulator watching thousands of
series over three years asks something else: "of the series that have not changed, how many will alarm in the
window I look at, and how many alarms are current?". Both come from the run-length distribution of the chart,
which the Markov chain of Brook & Evans (1972) gives exactly for the discretised chart:

- ``P(RL <= T)``: the chance that an in-control series alarms at least once in T periods;
- the expected number of alarms in each period when the chart restarts at 0 after every alarm (as the scan's
  charts do), summed over any window (the whole series, or the recent periods that count as current).

:func:`cusum_window_threshold` inverts the first for h, so thresholds are set for a share of in-control series
alarming over the window rather than for an ARL chosen by habit.

References
----------
Brook, D. & Evans, D. A. (1972). An approach to the probability distribution of cusum run length.
Biometrika 59, 539-549.
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import FloatArray

# Markov-chain cells: the chain's ARL is within about 0.1% of the integral equation's at 60 cells.
DEFAULT_STATES = 60
# Smallest threshold offered: with h this small the chart alarms whenever z > k (a Shewhart chart at k).
MIN_THRESHOLD = 1e-3
_MAX_THRESHOLD = 60.0
_BISECTION_STEPS = 48


@dataclass(frozen=True)
class WindowFalseAlarms:
    """In-control alarm figures of one-sided normal CUSUMs over a window of periods.

    Attributes
    ----------
    any_alarm : ndarray (charts,)
        ``P(RL <= periods)``: chance of at least one alarm in the window, from a start at 0.
    alarms_by_period : ndarray (charts, periods)
        Expected alarms in each period with a restart at 0 after every alarm.
    """

    any_alarm: FloatArray
    alarms_by_period: FloatArray

    def expected_alarms(self, last: int | None = None) -> FloatArray:
        """Expected alarms per chart over the whole window, or over its ``last`` periods."""
        window = self.alarms_by_period if last is None else self.alarms_by_period[:, -last:]
        return np.asarray(window.sum(axis=1), dtype=np.float64)


def _vector(name: str, values: ArrayLike) -> FloatArray:
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite numbers; got {values!r}")
    return array


def _transitions(k: FloatArray, h: FloatArray, states: int) -> tuple[FloatArray, FloatArray]:
    """Brook & Evans transition matrices (charts, states, states) and alarm probabilities (charts, states).

    A cell's bounds depend on its row and column only through ``j - i`` (the matrix is Toeplitz but for the
    first column, open below), so the normal distribution function is evaluated at the ``2 states - 1`` values
    of each bound and laid out by ``j - i``: the same numbers, by the same operations, as evaluating it at every
    cell (``2 states^2`` evaluations, most of the bisection's cost in ``cusum_window_threshold``)."""
    width = (2.0 * h / (2.0 * states - 1.0))[:, None]
    offset = np.arange(-(states - 1), states)[None, :]  # j - i
    upper = special.ndtr(offset * width + width / 2.0 + k[:, None])
    lower = special.ndtr(offset * width - width / 2.0 + k[:, None])
    cell = np.arange(states)[None, :] - np.arange(states)[:, None] + (states - 1)  # (i, j) -> j - i
    # ``take`` lays the cells out in C order (charts, i, j), as the cell-by-cell evaluation made them, so the
    # sums along rows below run in the same order.
    below = np.take(lower, cell, axis=1)
    below[:, :, 0] = special.ndtr(-np.inf)  # the first cell takes everything below its upper bound
    transition = np.take(upper, cell, axis=1) - below
    alarm = 1.0 - transition.sum(axis=2)
    return transition, np.clip(alarm, 0.0, 1.0)


def window_false_alarms(
    k: ArrayLike, h: ArrayLike, periods: int, *, states: int = DEFAULT_STATES
) -> WindowFalseAlarms:
    """In-control false-alarm figures of one-sided normal CUSUMs ``C_t = max(0, C_{t-1} + z_t - k)`` over
    ``periods`` periods, alarm when ``C_t >= h``.

    Parameters
    ----------
    k, h : float or array_like (charts,)
        Reference values (>= 0) and thresholds (> 0), one pair per chart.
    periods : int
        Length of the window, >= 1.
    states : int
        Cells of the Markov chain (default 60).

    Returns
    -------
    WindowFalseAlarms

    Notes
    -----
    With transition matrix Q between the transient cells and alarm probabilities a = 1 - Q 1, the chance of
    no alarm in T periods from a start at 0 is ``e_0' Q^T 1``; with restarts the state distribution evolves as
    ``pi_t = pi_{t-1} Q + (pi_{t-1} a) e_0`` and ``pi_{t-1} a`` is the expected number of alarms at t. Summing
    ``P(RL > t)`` over all t gives the chain's ARL, which equals
    ``forewarn.stats.arl.cusum_arl(k, h, method="markov", nodes=states)``.

    Examples
    --------
    k = 0.5 and h = 4 (ARL 335): over 36 months about one in-control series in eleven alarms:

    >>> figures = window_false_alarms(0.5, 4.0, 36)
    >>> figures.any_alarm
    array([0.09167])
    """
    ks, hs = np.broadcast_arrays(_vector("k", k), _vector("h", h))
    if (ks < 0).any() or (hs <= 0).any():
        raise ValueError("k must be >= 0 and h > 0")
    if not isinstance(periods, int) or periods < 1:
        raise ValueError(f"periods must be a positive integer; got {periods!r}")
    transition, alarm = _transitions(np.array(ks, dtype=np.float64), np.array(hs, dtype=np.float64), states)
    charts = ks.shape[0]
    survive = np.zeros((charts, states))
    survive[:, 0] = 1.0
    restarted = survive.copy()
    by_period = np.empty((charts, periods))
    for t in range(periods):  # over periods, every chart at once
        by_period[:, t] = np.einsum("cs,cs->c", restarted, alarm)
        restarted = np.einsum("cs,cst->ct", restarted, transition)
        restarted[:, 0] += by_period[:, t]
        survive = np.einsum("cs,cst->ct", survive, transition)
    return WindowFalseAlarms(any_alarm=1.0 - survive.sum(axis=1), alarms_by_period=by_period)


def _any_alarm(k: FloatArray, h: FloatArray, periods: int, states: int) -> FloatArray:
    """``window_false_alarms(k, h, periods).any_alarm`` by the same steps, without the chart that restarts
    after an alarm (the bisection for h needs only the chance of a first alarm)."""
    transition, _ = _transitions(np.array(k, dtype=np.float64), np.array(h, dtype=np.float64), states)
    survive = np.zeros((k.shape[0], states))
    survive[:, 0] = 1.0
    for _ in range(periods):  # over periods, every chart at once
        survive = np.einsum("cs,cst->ct", survive, transition)
    return np.asarray(1.0 - survive.sum(axis=1), dtype=np.float64)


def cusum_window_threshold(
    k: ArrayLike, periods: int, false_alarm_probability: float, *, states: int = DEFAULT_STATES
) -> FloatArray:
    """Threshold h of each one-sided normal CUSUM so that an in-control series alarms at least once in
    ``periods`` periods with the given probability.

    Parameters
    ----------
    k : float or array_like (charts,)
        Reference values, >= 0.
    periods : int
        The window, in periods (e.g. 36 for three years of months).
    false_alarm_probability : float
        Share of in-control series allowed to alarm over the window, in (0, 1).
    states : int
        Markov-chain cells.

    Returns
    -------
    ndarray (charts,)
        h per chart. Where even the smallest threshold (``MIN_THRESHOLD``: alarm whenever z > k) alarms less
        often than allowed, that smallest threshold is returned: the chart is then stricter than the budget,
        never looser; :func:`window_false_alarms` gives its actual figure.

    Notes
    -----
    ``P(RL <= T)`` falls as h rises, so h is found by bisection on log h, for all charts at once.

    Examples
    --------
    >>> h = cusum_window_threshold(0.5, 36, 0.05)
    >>> h
    array([4.578134])
    >>> window_false_alarms(0.5, h, 36).any_alarm
    array([0.05])
    """
    ks = _vector("k", k)
    if (ks < 0).any():
        raise ValueError("k must be >= 0")
    if not 0 < false_alarm_probability < 1:
        raise ValueError(f"false_alarm_probability must be in (0, 1); got {false_alarm_probability!r}")
    low = np.full(ks.shape, np.log(MIN_THRESHOLD))
    high = np.full(ks.shape, np.log(_MAX_THRESHOLD))
    at_low = _any_alarm(ks, np.exp(low), periods, states)
    strict = at_low <= false_alarm_probability
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        too_many = _any_alarm(ks, np.exp(middle), periods, states)
        above = too_many > false_alarm_probability
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    return np.where(strict, MIN_THRESHOLD, np.exp(high))


__all__ = ["MIN_THRESHOLD", "WindowFalseAlarms", "cusum_window_threshold", "window_false_alarms"]
