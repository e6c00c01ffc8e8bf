"""Average run lengths of CUSUMs of counts (Poisson, binomial, Bernoulli), and thresholds for a target ARL.

Exact Markov chains on the lattice of multiples of 1/m for rational k and h (Lucas 1985; Hawkins 1992), with
either alarm convention (``S >= h`` as ``surveillance::arlCusum``, ``S > h`` as ``spc::pois.cusum.arl``), upward
or downward, with a head start; :func:`poisson_cusum_crit` and :func:`binomial_cusum_crit` give the smallest
lattice h reaching a target ARL. Zero-state ARLs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import sparse, stats
from scipy.sparse import linalg as sparse_linalg

from forewarn.stats.arl.numerics import check_finite, check_target
from forewarn.stats.arrays import FloatArray, IntArray

AlarmWhen = Literal[">=", ">"]
Direction = Literal["upper", "lower"]
# Largest number of transient states accepted for a count-CUSUM chain (a sparse solve of this size is
# instant).
_MAX_COUNT_STATES = 2_000_000
# Slack when snapping a head start to the lattice of a count CUSUM (absorbs float error in h/2 and the like).
_LATTICE_SLACK = 1e-9


def _as_fraction(name: str, value: float | Fraction, max_denominator: int) -> Fraction:
    if isinstance(value, Fraction):
        return value
    finite = check_finite(name, value)
    return Fraction(finite).limit_denominator(max_denominator)


def _count_lattice(k: float | Fraction, h: float | Fraction, max_denominator: int) -> tuple[int, int, int]:
    """Common denominator m and the integers k m, h m of a count CUSUM's lattice."""
    if not isinstance(max_denominator, int) or max_denominator < 1:
        raise ValueError(f"max_denominator must be a positive integer; got {max_denominator!r}")
    k_fraction = _as_fraction("k", k, max_denominator)
    h_fraction = _as_fraction("h", h, max_denominator)
    if k_fraction < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")
    if h_fraction <= 0:
        raise ValueError(f"h must be > 0; got {h!r}")
    denominator = math.lcm(k_fraction.denominator, h_fraction.denominator)
    return denominator, int(k_fraction * denominator), int(h_fraction * denominator)


def _count_cusum_arl_by_state(
    probability: Callable[[IntArray], FloatArray],
    tail: Callable[[int], float],
    denominator: int,
    k_units: int,
    n_states: int,
    direction: Direction,
) -> FloatArray:
    """ARL from every transient state of a count CUSUM on the lattice j/m, j = 0..n_states-1.

    Upper: S' = max(0, S + X - k); lower: S' = max(0, S + k - X); any S' at or past state n_states signals.
    The ARL is infinite (every state) when no count can raise S.
    """
    if n_states > _MAX_COUNT_STATES:
        raise ValueError(
            f"the chain would need {n_states} states; use a smaller max_denominator or a coarser k and h"
        )
    if direction == "upper":
        # every x >= x_all signals from every state
        x_all = -(-(n_states + k_units) // denominator)
        counts = np.arange(x_all, dtype=np.int64)
        step = denominator * counts - k_units
    else:
        # every x >= x_all resets to 0 from every state
        x_all = max(0, -(-(n_states - 1 + k_units) // denominator))
        counts = np.arange(x_all, dtype=np.int64)
        step = k_units - denominator * counts
    p = probability(counts)
    # the CUSUM can only climb on steps > 0 (for the upper chart, counts >= x_all climb too); without any it
    # never signals and the ARL is infinite (I - Q would be singular)
    climbing = float(p[step > 0].sum()) + (max(0.0, 1.0 - float(p.sum())) if direction == "upper" else 0.0)
    if climbing <= 0.0:
        return np.full(n_states, np.inf)
    state = np.arange(n_states, dtype=np.int64)[:, None]
    destination = np.maximum(state + step[None, :], 0)
    keep = destination < n_states
    rows = np.broadcast_to(state, destination.shape)[keep]
    columns = destination[keep]
    values = np.broadcast_to(p[None, :], destination.shape)[keep]
    if direction == "lower":
        rows = np.concatenate([rows, np.arange(n_states)])
        columns = np.concatenate([columns, np.zeros(n_states, dtype=np.int64)])
        values = np.concatenate([values, np.full(n_states, tail(x_all))])
    transition = sparse.csc_matrix((values, (rows, columns)), shape=(n_states, n_states))
    system = sparse.identity(n_states, format="csc") - transition
    return np.atleast_1d(np.asarray(sparse_linalg.spsolve(system, np.ones(n_states)), dtype=np.float64))


def _count_states(h_units: int, alarm_when: AlarmWhen) -> int:
    if alarm_when not in (">=", ">"):
        raise ValueError(f"alarm_when must be '>=' or '>'; got {alarm_when!r}")
    return h_units if alarm_when == ">=" else h_units + 1


def _head_start_state(head_start: float | Fraction, denominator: int, n_states: int) -> int:
    value = float(head_start)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"head_start must be a finite number >= 0; got {head_start!r}")
    state = math.floor(value * denominator + _LATTICE_SLACK)
    if state >= n_states:
        raise ValueError(f"head_start {head_start!r} is at or beyond the alarm threshold")
    return state


def _check_direction(direction: Direction) -> None:
    if direction not in ("upper", "lower"):
        raise ValueError(f"direction must be 'upper' or 'lower'; got {direction!r}")


def _poisson_law(mean: float) -> tuple[Callable[[IntArray], FloatArray], Callable[[int], float]]:
    mean = check_finite("mu", mean)
    if mean < 0:
        raise ValueError(f"the Poisson mean mu must be >= 0; got {mean!r}")
    return (
        lambda x: np.asarray(stats.poisson.pmf(x, mean), dtype=np.float64),
        lambda x: float(stats.poisson.sf(x - 1, mean)),
    )


def _binomial_law(p: float, trials: int) -> tuple[Callable[[IntArray], FloatArray], Callable[[int], float]]:
    p = check_finite("p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1]; got {p!r}")
    if not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials must be a positive integer; got {trials!r}")
    n = int(trials)
    return (
        lambda x: np.asarray(stats.binom.pmf(x, n, p), dtype=np.float64),
        lambda x: float(stats.binom.sf(x - 1, n, p)),
    )


def poisson_cusum_arl(
    mu: float,
    k: float | Fraction,
    h: float | Fraction,
    *,
    head_start: float | Fraction = 0.0,
    alarm_when: AlarmWhen = ">=",
    direction: Direction = "upper",
    max_denominator: int = 1000,
) -> float:
    """Exact zero-state ARL of a Poisson CUSUM with rational reference value and decision interval.

    Parameters
    ----------
    mu : float
        Poisson mean of each count, >= 0.
    k : float or Fraction
        Reference value, >= 0. A float is read as the nearest fraction with denominator <= ``max_denominator``
        (so 0.07 is exactly 7/100); the chain is exact for that fraction.
    h : float or Fraction
        Decision interval, > 0, read the same way.
    head_start : float or Fraction
        Start value (FIR), rounded down to the lattice of multiples of 1/m; below the alarm threshold.
        ``surveillance::arlCusum``'s ``FIR.ARL`` is ``head_start = h/2``.
    alarm_when : {">=", ">"}
        ``">="`` (default): signal when ``S >= h`` (``surveillance::arlCusum``, Lucas 1985, Steiner et al.
        2000). ``">"``: signal when ``S > h`` (``spc::pois.cusum.arl``).
    direction : {"upper", "lower"}
        ``"upper"``: ``S_t = max(0, S_{t-1} + X_t - k)`` detects an increase. ``"lower"``:
        ``S_t = max(0, S_{t-1} + k - X_t)`` detects a decrease.
    max_denominator : int
        Largest denominator m used to read k and h as fractions (default 1000).

    Returns
    -------
    float
        The average run length.

    Raises
    ------
    ValueError
        If an argument is out of range or the lattice would need more than two million states.

    Notes
    -----
    With k = K/m and h = H/m, m X - K is an integer, so S lives on the lattice j/m and the CUSUM is a finite
    Markov chain with transient states j = 0, ..., H - 1 (``>=``) or 0, ..., H (``>``). Upper direction:

    .. math:: P(j \\to j') = P(X = (j' - j + K)/m) \\; (j' > 0), \\qquad P(j \\to 0) = P(m X \\le K - j),

    and the ARL vector solves ``(I - Q) L = 1`` (Brook & Evans 1972; Lucas 1985). This is exact, not an
    approximation: no discretisation of a continuous statistic is involved.

    References
    ----------
    Lucas, J. M. (1985). Counted data CUSUM's. Technometrics 27, 129-144.
    Hawkins, D. M. (1992). Evaluation of average run lengths of cumulative sum charts for an arbitrary data
    distribution. Communications in Statistics - Simulation and Computation 21, 1001-1020.
    Hoehle, M. (2007). surveillance: an R package for the monitoring of infectious diseases. Computational
    Statistics 22, 571-582 (``arlCusum``).

    Examples
    --------
    Same as R ``surveillance::arlCusum(h = 10, k = 3, theta = 2.4, distr = "poisson")$ARL`` and
    ``spc::pois.cusum.arl(mu = 2.4, km = 3, hm = 10, m = 1)``:

    >>> poisson_cusum_arl(2.4, 3, 10)
    548.362266
    >>> poisson_cusum_arl(2.4, 3, 10, alarm_when=">")
    854.451928
    """
    _check_direction(direction)
    probability, tail = _poisson_law(mu)
    denominator, k_units, h_units = _count_lattice(k, h, max_denominator)
    n_states = _count_states(h_units, alarm_when)
    start = _head_start_state(head_start, denominator, n_states)
    arl = _count_cusum_arl_by_state(probability, tail, denominator, k_units, n_states, direction)
    return float(arl[start])


def binomial_cusum_arl(
    p: float,
    k: float | Fraction,
    h: float | Fraction,
    *,
    trials: int = 1,
    head_start: float | Fraction = 0.0,
    alarm_when: AlarmWhen = ">=",
    direction: Direction = "upper",
    max_denominator: int = 1000,
) -> float:
    """Exact zero-state ARL of a binomial (``trials = 1``: Bernoulli) CUSUM with rational k and h.

    Parameters
    ----------
    p : float
        Probability of an event per trial, in [0, 1].
    k : float or Fraction
        Reference value, >= 0, read as the nearest fraction with denominator <= ``max_denominator``.
        The Bernoulli CUSUM for odds ratio R at p0 has the irrational
        ``k = -ln((1 - p1)/(1 - p0)) / ln(p1 (1 - p0) / (p0 (1 - p1)))``; the fraction read from it is a
        discretisation of k (error below ``1/max_denominator^2``), after which the chain is exact.
    h : float or Fraction
        Decision interval, > 0.
    trials : int
        Trials per observation (binomial size n), >= 1.
    head_start : float or Fraction
        Start value, rounded down to the lattice.
    alarm_when : {">=", ">"}
        ``">="`` as ``surveillance::arlCusum`` (default) or ``">"``.
    direction : {"upper", "lower"}
        Detect an increase (``X - k`` increments) or a decrease (``k - X``).
    max_denominator : int
        Largest denominator used to read k and h as fractions (default 1000).

    Returns
    -------
    float
        The average run length.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    The same lattice chain as :func:`poisson_cusum_arl` with binomial(``trials``, p) transition probabilities.
    ``surveillance::arlCusum(distr = "binomial")`` rounds k and h to ``digits`` decimals and builds this chain
    on their common denominator; with k, h given to that many decimals the two agree to rounding error.

    References
    ----------
    Reynolds, M. R. & Stoumbos, Z. G. (1999). A CUSUM chart for monitoring a proportion when inspecting
    continuously. Journal of Quality Technology 31, 87-108.
    Hawkins, D. M. (1992). Evaluation of average run lengths of cumulative sum charts for an arbitrary data
    distribution. Communications in Statistics - Simulation and Computation 21, 1001-1020.

    Examples
    --------
    Same as R ``surveillance::arlCusum(h = 3, k = 0.15, theta = 0.1, distr = "binomial", digits = 2)$ARL``
    (n = 1):

    >>> binomial_cusum_arl(0.1, 0.15, 3)
    346.886256
    """
    _check_direction(direction)
    probability, tail = _binomial_law(p, trials)
    denominator, k_units, h_units = _count_lattice(k, h, max_denominator)
    n_states = _count_states(h_units, alarm_when)
    start = _head_start_state(head_start, denominator, n_states)
    arl = _count_cusum_arl_by_state(probability, tail, denominator, k_units, n_states, direction)
    return float(arl[start])


@dataclass(frozen=True)
class CountCusumThreshold:
    """A decision interval on a count CUSUM's lattice and the ARLs either side of the target.

    Attributes
    ----------
    h : float
        The smallest lattice value ``j/m`` whose in-control ARL reaches the target.
    arl : float
        The in-control ARL at ``h`` (>= target).
    arl_below : float
        The in-control ARL at ``h - 1/m`` (< target): the ARL jumps between lattice points, so the target is
        usually not hit exactly.
    denominator : int
        The lattice denominator m (from k).
    """

    h: float
    arl: float
    arl_below: float
    denominator: int


def _count_cusum_crit(
    probability: Callable[[IntArray], FloatArray],
    tail: Callable[[int], float],
    k: float | Fraction,
    target_arl: float,
    head_start_fraction: float,
    alarm_when: AlarmWhen,
    direction: Direction,
    max_denominator: int,
) -> CountCusumThreshold:
    target = check_target(target_arl)
    _check_direction(direction)
    if not (isinstance(head_start_fraction, int | float) and 0.0 <= head_start_fraction < 1.0):
        raise ValueError(f"head_start_fraction must be in [0, 1); got {head_start_fraction!r}")
    denominator, k_units, _ = _count_lattice(k, 1, max_denominator)

    def arl_at(h_units: int) -> float:
        n_states = _count_states(h_units, alarm_when)
        start = math.floor(head_start_fraction * h_units + _LATTICE_SLACK)
        by_state = _count_cusum_arl_by_state(probability, tail, denominator, k_units, n_states, direction)
        return float(by_state[min(start, n_states - 1)])

    low, high = 0, 1
    high_arl = arl_at(high)
    while high_arl < target:
        low, high = high, high * 2
        if high > _MAX_COUNT_STATES:
            raise ValueError(f"target_arl {target!r} is not reached below h = {high / denominator:g}")
        high_arl = arl_at(high)
    low_arl = arl_at(low) if low > 0 else 1.0
    while high - low > 1:
        middle = (low + high) // 2
        middle_arl = arl_at(middle)
        if middle_arl >= target:
            high, high_arl = middle, middle_arl
        else:
            low, low_arl = middle, middle_arl
    return CountCusumThreshold(h=high / denominator, arl=high_arl, arl_below=low_arl, denominator=denominator)


def poisson_cusum_crit(
    mu0: float,
    k: float | Fraction,
    target_arl: float,
    *,
    head_start_fraction: float = 0.0,
    alarm_when: AlarmWhen = ">=",
    direction: Direction = "upper",
    max_denominator: int = 1000,
) -> CountCusumThreshold:
    """Smallest lattice decision interval giving a Poisson CUSUM an in-control ARL of at least a target.

    Parameters
    ----------
    mu0 : float
        In-control Poisson mean, >= 0.
    k : float or Fraction
        Reference value, read as a fraction with denominator <= ``max_denominator``; its denominator m sets
        the lattice of h.
    target_arl : float
        Required in-control ARL, > 1.
    head_start_fraction : float
        Head start as a fraction of h (0.5 for the usual FIR), in [0, 1), rounded down to the lattice.
    alarm_when : {">=", ">"}
        Alarm convention, as in :func:`poisson_cusum_arl`.
    direction : {"upper", "lower"}
        Detect an increase or a decrease.
    max_denominator : int
        Largest denominator for k (default 1000).

    Returns
    -------
    CountCusumThreshold
        h, its ARL, the ARL one lattice step below, and m.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    The ARL of a count CUSUM is a step function of h that rises only at lattice points j/m, so there is
    usually no h with ARL exactly equal to the target; this returns the smallest lattice h with
    ``ARL(h) >= target`` (by doubling, then bisection on j, each step an exact chain solve).

    References
    ----------
    Lucas, J. M. (1985). Counted data CUSUM's. Technometrics 27, 129-144.

    Examples
    --------
    >>> threshold = poisson_cusum_crit(2.4, 3, 500.0)
    >>> threshold.h, round(threshold.arl, 3)  # surveillance::arlCusum(h = 10, k = 3, theta = 2.4)
    (10.0, 548.362)
    """
    probability, tail = _poisson_law(mu0)
    return _count_cusum_crit(
        probability, tail, k, target_arl, head_start_fraction, alarm_when, direction, max_denominator
    )


def binomial_cusum_crit(
    p0: float,
    k: float | Fraction,
    target_arl: float,
    *,
    trials: int = 1,
    head_start_fraction: float = 0.0,
    alarm_when: AlarmWhen = ">=",
    direction: Direction = "upper",
    max_denominator: int = 1000,
) -> CountCusumThreshold:
    """Smallest lattice decision interval giving a binomial or Bernoulli CUSUM an ARL of at least a target.

    Parameters
    ----------
    p0 : float
        In-control event probability per trial, in [0, 1].
    k : float or Fraction
        Reference value, read as a fraction with denominator <= ``max_denominator``.
    target_arl : float
        Required in-control ARL, > 1.
    trials : int
        Trials per observation (1: Bernoulli).
    head_start_fraction : float
        Head start as a fraction of h, in [0, 1).
    alarm_when : {">=", ">"}
        Alarm convention.
    direction : {"upper", "lower"}
        Detect an increase or a decrease.
    max_denominator : int
        Largest denominator for k (default 1000).

    Returns
    -------
    CountCusumThreshold
        h, its ARL, the ARL one lattice step below, and m.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    As :func:`poisson_cusum_crit`, with binomial(``trials``, p0) counts.

    References
    ----------
    Reynolds, M. R. & Stoumbos, Z. G. (1999). A CUSUM chart for monitoring a proportion when inspecting
    continuously. Journal of Quality Technology 31, 87-108.

    Examples
    --------
    >>> threshold = binomial_cusum_crit(0.1, 0.15, 900.0)
    >>> threshold.h, round(threshold.arl, 3)
    (4.0, 938.527)

    The ARL is R ``surveillance::arlCusum(h = 4, k = 0.15, theta = 0.1, distr = "binomial", digits = 2)``.
    """
    probability, tail = _binomial_law(p0, trials)
    return _count_cusum_crit(
        probability, tail, k, target_arl, head_start_fraction, alarm_when, direction, max_denominator
    )


__all__ = [
    "AlarmWhen",
    "CountCusumThreshold",
    "Direction",
    "binomial_cusum_arl",
    "binomial_cusum_crit",
    "poisson_cusum_arl",
    "poisson_cusum_crit",
]
