"""Average run lengths (ARLs) of control charts, computed rather than looked up.

The ARL is the expected number of observations until a chart signals. In control (ARL0) it sets the
false-alarm rate; after a shift (ARL1) it says how quickly a change is caught. Everything here is a solution
of a linear system (Markov chain or integral equation), so a chart's threshold can be chosen for a target
in-control ARL:

- normal CUSUM: Gauss-Legendre Nystrom solution of the ARL integral equation (the ``"igl"`` method of R
  ``spc``'s ``xcusum.arl``) or the Brook & Evans (1972) Markov chain (``method="markov"``, spc's ``"mc"``);
  one- and two-sided, head start; :func:`cusum_crit` finds h for a target ARL (``xcusum.crit``);
- EWMA: Crowder's (1987) integral equation by Nystrom (``xewma.arl``) with fixed asymptotic limits, and the
  exact time-varying limits by propagating the run-length density until the limits have converged;
  :func:`ewma_crit` finds L (``xewma.crit``);
- Shewhart chart with Western Electric runs rules: Champ & Woodall (1987) Markov chains, built from the rules
  (``xshewhartrunsrules.arl``);
- CUSUMs of counts (Poisson, binomial, Bernoulli) with rational k and h: exact Markov chains on the lattice of
  multiples of 1/m (Lucas 1985; Hawkins 1992), with either alarm convention (``S >= h`` as
  ``surveillance::arlCusum``, ``S > h`` as ``spc::pois.cusum.arl``), upward or downward, with a head start;
  :func:`poisson_cusum_crit` and :func:`binomial_cusum_crit` give the smallest lattice h reaching a target
  ARL.

All values are zero-state ARLs (the chart starts at its head start, by default 0, and the shift is present
from the first observation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, sparse, special, stats
from scipy.sparse import linalg as sparse_linalg

from forewarn.stats.arrays import FloatArray, IntArray

Sided = Literal["one", "two"]
CusumMethod = Literal["integral", "markov"]
EwmaLimits = Literal["fixed", "varying"]
AlarmWhen = Literal[">=", ">"]
Direction = Literal["upper", "lower"]

# Quadrature nodes of spc's defaults: xcusum.arl(r = 30) and xewma.arl(r = 40).
CUSUM_NODES = 30
EWMA_NODES = 40
# Time-varying EWMA limits are replaced by the asymptotic ones once 1 - (1 - lambda)^(2t) is this close to 1.
_VARYING_LIMITS_TOLERANCE = 1e-13
# Largest number of transient states accepted for a count-CUSUM chain (a sparse solve of this size is
# instant).
_MAX_COUNT_STATES = 2_000_000
# Slack when snapping a head start to the lattice of a count CUSUM (absorbs float error in h/2 and the like).
_LATTICE_SLACK = 1e-9


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def _check_finite(name: str, value: float) -> float:
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _check_nodes(nodes: int) -> int:
    if not isinstance(nodes, int | np.integer) or nodes < 4:
        raise ValueError(f"nodes must be an integer >= 4; got {nodes!r}")
    return int(nodes)


def _check_target(target_arl: float) -> float:
    if not (isinstance(target_arl, int | float | np.integer | np.floating) and math.isfinite(target_arl)):
        raise ValueError(f"target_arl must be a finite number > 1; got {target_arl!r}")
    if target_arl <= 1.0:
        raise ValueError(f"target_arl must be > 1 (every chart runs at least one step); got {target_arl!r}")
    return float(target_arl)


@lru_cache(maxsize=16)
def _standard_gauss_legendre(nodes: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    return np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)


def _gauss_legendre(nodes: int, lower: float, upper: float) -> tuple[FloatArray, FloatArray]:
    x, w = _standard_gauss_legendre(nodes)
    half = 0.5 * (upper - lower)
    return half * x + 0.5 * (upper + lower), half * w


def _normal_pdf(x: ArrayLike) -> FloatArray:
    return np.asarray(np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi), dtype=np.float64)


def _normal_cdf(x: ArrayLike) -> FloatArray:
    return np.asarray(special.ndtr(x), dtype=np.float64)


# ------------------------------------------------------------------------------------------------------------
# Normal CUSUM
# ------------------------------------------------------------------------------------------------------------


def _cusum_one_sided_integral(k: float, h: float, head_start: float, shift: float, nodes: int) -> float:
    # Nystrom solution of L(z) = 1 + L(0) F(k - z) + int_0^h L(y) f(y + k - z) dy, with the atom at 0 kept as
    # an extra unknown (Knoth's xc1_iglarl).
    z, w = _gauss_legendre(nodes, 0.0, h)
    size = nodes + 1
    system = np.zeros((size, size))
    system[:nodes, :nodes] = -w[None, :] * _normal_pdf(z[None, :] + k - z[:, None] - shift)
    system[:nodes, nodes] = -_normal_cdf(k - z - shift)
    system[nodes, :nodes] = -w * _normal_pdf(z + k - shift)
    system[nodes, nodes] = -float(_normal_cdf(k - shift))
    system += np.eye(size)
    arl_at_nodes = np.linalg.solve(system, np.ones(size))
    return float(
        1.0
        + _normal_cdf(k - head_start - shift) * arl_at_nodes[nodes]
        + np.sum(w * _normal_pdf(z + k - head_start - shift) * arl_at_nodes[:nodes])
    )


def _cusum_one_sided_markov(k: float, h: float, head_start: float, shift: float, states: int) -> float:
    # Brook & Evans: states are cells of width 2h/(2N - 1); state 0 is [0, w/2), state i is centred at i w.
    width = 2.0 * h / (2.0 * states - 1.0)
    i = np.arange(states)[:, None]
    j = np.arange(states)[None, :]
    upper = (j - i) * width + width / 2.0 + k
    lower = np.where(j == 0, -np.inf, (j - i) * width - width / 2.0 + k)
    transition = _normal_cdf(upper - shift) - _normal_cdf(lower - shift)
    arl_by_state = np.linalg.solve(np.eye(states) - transition, np.ones(states))
    return float(arl_by_state[math.floor(head_start / width + 0.5)])


def _cusum_two_sided_markov(k: float, h: float, head_start: float, shift: float, states: int) -> float:
    # Two-dimensional chain of the upper and lower CUSUMs (spc's xc2_be_arl); state (i1, i2) with the lower
    # CUSUM on the same cells mirrored. N^2 states: fine for the default 30 cells.
    width = 2.0 * h / (2.0 * states - 1.0)
    i1, j1, i2, j2 = np.ix_(*(np.arange(states),) * 4)
    low_up = np.where(i2 == 0, -np.inf, (i2 - i1) * width - width / 2.0 + k)
    high_up = (i2 - i1) * width + width / 2.0 + k
    low_down = -2.0 * k - (j2 - j1) * width - width / 2.0 + k
    high_down = np.where(j2 == 0, np.inf, -2.0 * k - (j2 - j1) * width + width / 2.0 + k)
    low = np.maximum(low_up, low_down)
    high = np.minimum(high_up, high_down)
    transition = np.where(low > high, 0.0, _normal_cdf(high - shift) - _normal_cdf(low - shift))
    # Axes (i1, j1, i2, j2): from (upper i1, lower j1) to (upper i2, lower j2), as spc indexes its matrix.
    matrix = transition.reshape(states * states, states * states)
    arl_by_state = np.linalg.solve(np.eye(states * states) - matrix, np.ones(states * states))
    # Both CUSUMs start at the head start (the lower one counted upwards from 0, as its states are).
    start = max(math.ceil(head_start / width - 0.5), 0)
    return float(arl_by_state[start * states + start])


def cusum_arl(
    k: float,
    h: float,
    shift: float = 0.0,
    *,
    head_start: float = 0.0,
    sided: Sided = "one",
    method: CusumMethod = "integral",
    nodes: int = CUSUM_NODES,
) -> float:
    """Zero-state ARL of a CUSUM chart for the mean of normal observations with unit variance.

    Parameters
    ----------
    k : float
        Reference value (allowance), >= 0, in standard deviations.
    h : float
        Decision interval, > 0: the chart signals when the CUSUM exceeds h.
    shift : float
        True mean of the standardised observations (0 is in control).
    head_start : float
        Fast-initial-response start value, ``0 <= head_start < h`` (``<= h/2 + k`` when two-sided).
    sided : {"one", "two"}
        ``"one"``: the upper CUSUM ``S_t = max(0, S_{t-1} + X_t - k)``. ``"two"``: the upper and the lower
        CUSUM run together, the chart signals when either does.
    method : {"integral", "markov"}
        ``"integral"`` (default) solves the ARL integral equation by Gauss-Legendre Nystrom with ``nodes``
        nodes (accurate to about 1e-10 with 30 nodes). ``"markov"`` uses the Brook & Evans Markov chain with
        ``nodes`` cells, an approximation (about 0.3% low with 30 cells) kept because published tables use it.
    nodes : int
        Quadrature nodes, or Markov-chain cells per side. Default 30 as in spc.

    Returns
    -------
    float
        The average run length.

    Raises
    ------
    ValueError
        If k < 0, h <= 0, the head start is outside its range, or an option is not one of its values.

    Notes
    -----
    The one-sided ARL ``L(z)`` from CUSUM value z solves (Page 1954; Vance 1986)

    .. math:: L(z) = 1 + L(0) \\Phi(k - z - \\mu) + \\int_0^h L(y) \\phi(y + k - z - \\mu)\\, dy,

    solved at the Gauss-Legendre nodes of [0, h] with L(0) as an extra unknown, then evaluated at the head
    start. The two-sided ARL combines the one-sided ARLs of the upper (mean mu) and lower (mean -mu) charts
    by Lucas & Crosier's (1982) relation

    .. math:: L = \\frac{L_2 L_3 + L_1 L_4 - L_1 L_3}{L_1 + L_3},

    where L1, L3 are the zero-start and L2, L4 the head-start ARLs; with no head start this is
    ``1/L = 1/L_upper + 1/L_lower``, exact when the two one-sided CUSUMs cannot be positive at once and a
    close approximation otherwise. The two-sided Markov chain is the two-dimensional chain of both CUSUMs.

    References
    ----------
    Brook, D. & Evans, D. A. (1972). An approach to the probability distribution of cusum run length.
    Biometrika 59, 539-549.
    Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for CUSUM quality-control schemes.
    Technometrics 24, 199-205.
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7 (``xcusum.arl``).

    Examples
    --------
    Same as R ``spc::xcusum.arl(k = 0.5, h = 4, mu = 0)`` and ``xcusum.arl(0.5, 4, 0, sided = "two")``:

    >>> cusum_arl(0.5, 4.0)
    335.367578
    >>> cusum_arl(0.5, 4.0, sided="two")
    167.683789
    >>> cusum_arl(0.5, 4.0, head_start=2.0)  # xcusum.arl(0.5, 4, 0, hs = 2)
    316.379439
    """
    k = _check_finite("k", k)
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")
    h = _check_positive("h", h)
    shift = _check_finite("shift", shift)
    head_start = _check_finite("head_start", head_start)
    nodes = _check_nodes(nodes)
    if sided not in ("one", "two"):
        raise ValueError(f"sided must be 'one' or 'two'; got {sided!r}")
    if method not in ("integral", "markov"):
        raise ValueError(f"method must be 'integral' or 'markov'; got {method!r}")
    if head_start < 0 or head_start >= h or (sided == "two" and head_start > h / 2 + k):
        limit = "h/2 + k" if sided == "two" else "h"
        raise ValueError(f"head_start must be in [0, {limit}) for a {sided}-sided CUSUM; got {head_start!r}")
    if method == "markov":
        if sided == "one":
            return _cusum_one_sided_markov(k, h, head_start, shift, nodes)
        return _cusum_two_sided_markov(k, h, head_start, shift, nodes)
    if sided == "one":
        return _cusum_one_sided_integral(k, h, head_start, shift, nodes)
    upper_zero = _cusum_one_sided_integral(k, h, 0.0, shift, nodes)
    upper_start = _cusum_one_sided_integral(k, h, head_start, shift, nodes)
    lower_zero = _cusum_one_sided_integral(k, h, 0.0, -shift, nodes)
    lower_start = _cusum_one_sided_integral(k, h, head_start, -shift, nodes)
    return (upper_start * lower_zero + upper_zero * lower_start - upper_zero * lower_zero) / (
        upper_zero + lower_zero
    )


def _solve_increasing(function: Callable[[float], float], target: float, start: float, step: float) -> float:
    """Root of an increasing function: bracket by stepping up from ``start``, then Brent to full precision."""
    lower = start
    upper = start + step
    while function(upper) < target:
        lower, upper = upper, upper + step
        step *= 2.0
    return float(optimize.brentq(lambda x: function(x) - target, lower, upper, xtol=1e-13, rtol=1e-14))


def cusum_crit(
    k: float,
    target_arl: float,
    *,
    shift: float = 0.0,
    head_start: float = 0.0,
    sided: Sided = "one",
    nodes: int = CUSUM_NODES,
) -> float:
    """Decision interval h giving a normal CUSUM chart a target in-control ARL.

    Parameters
    ----------
    k : float
        Reference value, >= 0.
    target_arl : float
        Required ARL at ``shift`` (usually the in-control ARL0), > 1.
    shift : float
        Mean at which the ARL is set (0: in control).
    head_start : float
        Head start, as in :func:`cusum_arl` (must be below the resulting h).
    sided : {"one", "two"}
        One- or two-sided chart.
    nodes : int
        Gauss-Legendre nodes of the integral equation (default 30, as spc).

    Returns
    -------
    float
        h with ``cusum_arl(k, h, shift, ...) == target_arl`` (to about 1e-12 relative).

    Raises
    ------
    ValueError
        If ``target_arl <= 1`` or another argument is out of range.

    Notes
    -----
    The ARL increases with h, so h is bracketed by stepping up and then found by Brent's method on the
    integral equation ARL of :func:`cusum_arl`. spc's ``xcusum.crit`` runs a secant search that stops when the
    ARL is within 1e-6 of the target, so it agrees with this h to about 1e-9.

    References
    ----------
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7 (``xcusum.crit``).

    Examples
    --------
    Same as R ``spc::xcusum.crit(k = 0.5, L0 = 370)`` and ``xcusum.crit(0.5, 370, sided = "two")``:

    >>> cusum_crit(0.5, 370.0)
    4.095449
    >>> cusum_crit(0.5, 370.0, sided="two")
    4.773834
    """
    target = _check_target(target_arl)
    k = _check_finite("k", k)
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")
    head_start = _check_finite("head_start", head_start)
    if head_start < 0:
        raise ValueError(f"head_start must be >= 0; got {head_start!r}")
    start = max(head_start * 1.01, 0.05)
    if sided == "two":
        start = max(start, (head_start - k) * 2.02)

    def arl_of(h: float) -> float:
        return cusum_arl(k, h, shift, head_start=head_start, sided=sided, nodes=nodes)

    if arl_of(start) >= target:
        raise ValueError(
            f"target_arl {target!r} is reached by every admissible h (ARL at h = {start:.3g} is already "
            f"{arl_of(start):.4g}); use a larger target or a smaller head start"
        )
    return _solve_increasing(arl_of, target, start, 0.5)


# ------------------------------------------------------------------------------------------------------------
# EWMA
# ------------------------------------------------------------------------------------------------------------


def _ewma_kernel(lam: float, shift: float, source: FloatArray, target: FloatArray) -> FloatArray:
    # Transition density of Z_t = (1 - lam) Z_{t-1} + lam X_t from source (rows) to target (columns).
    return np.asarray(
        _normal_pdf((target[None, :] - (1.0 - lam) * source[:, None]) / lam - shift) / lam, dtype=np.float64
    )


def _ewma_fixed_limits(
    lam: float, L: float, shift: float, start: float, nodes: int
) -> tuple[float, FloatArray]:
    # Crowder (1987): L(z) = 1 + int_{-c}^{c} L(y) f((y - (1 - lam) z)/lam - mu)/lam dy on the EWMA scale,
    # c = L sqrt(lam/(2 - lam)). Returns the ARL from `start` and the rows (nodes, weights, ARL at nodes).
    half_width = L * math.sqrt(lam / (2.0 - lam))
    z, w = _gauss_legendre(nodes, -half_width, half_width)
    system = np.eye(nodes) - _ewma_kernel(lam, shift, z, z) * w[None, :]
    arl_at_nodes = np.linalg.solve(system, np.ones(nodes))
    from_start = 1.0 + float(np.sum(w * _ewma_kernel(lam, shift, np.array([start]), z)[0] * arl_at_nodes))
    return from_start, np.stack([z, w, arl_at_nodes])


def _ewma_varying_limits(lam: float, L: float, shift: float, start: float, nodes: int) -> float:
    # Exact time-varying limits c_t = L sqrt(lam/(2 - lam) (1 - (1 - lam)^(2t))): propagate the sub-density of
    # Z_t on the surviving region [-c_t, c_t] (Gauss-Legendre nodes on each interval) until c_t has converged
    # to c, then finish with the fixed-limit ARL function:
    # ARL = sum_{t<T} P(RL > t) + E[L_fixed(Z_T); RL > T].
    _, solution = _ewma_fixed_limits(lam, L, shift, start, nodes)
    z_final, w_final, arl_final = solution
    decay = (1.0 - lam) ** 2
    steps = 1 if decay == 0.0 else max(1, math.ceil(math.log(_VARYING_LIMITS_TOLERANCE) / math.log(decay)))
    asymptotic = L * math.sqrt(lam / (2.0 - lam))
    arl = 1.0  # P(RL > 0)
    points = np.array([start])
    density = np.array([1.0])  # a point mass at the start value, weight 1
    for t in range(1, steps + 1):
        if t < steps:
            half_width = asymptotic * math.sqrt(1.0 - decay**t)
            z, w = _gauss_legendre(nodes, -half_width, half_width)
        else:
            z, w = z_final, w_final
        density = (
            (density @ _ewma_kernel(lam, shift, points, z))
            if t > 1
            else _ewma_kernel(lam, shift, points, z)[0]
        )
        if t < steps:
            arl += float(np.sum(w * density))
            density = density * w  # carry quadrature weights into the next step's sum over source nodes
            points = z
        else:
            arl += float(np.sum(w * density * arl_final))
    return arl


def ewma_arl(
    lam: float,
    L: float,
    shift: float = 0.0,
    *,
    head_start: float = 0.0,
    limits: EwmaLimits = "fixed",
    nodes: int = EWMA_NODES,
) -> float:
    """Zero-state ARL of a two-sided EWMA chart for the mean of normal observations with unit variance.

    Parameters
    ----------
    lam : float
        Smoothing constant lambda, ``0 < lam <= 1``.
    L : float
        Limit width in standard deviations of the EWMA statistic, > 0.
    shift : float
        True mean of the standardised observations (0 is in control).
    head_start : float
        Start value Z_0 in units of the asymptotic standard deviation ``sqrt(lam/(2 - lam))``;
        ``|head_start| < L``.
    limits : {"fixed", "varying"}
        ``"fixed"``: the asymptotic limits ``+- L sqrt(lam/(2 - lam))`` from the start (spc's
        ``limits = "fix"``). ``"varying"``: the exact limits ``+- L sqrt(lam/(2 - lam) (1 - (1 - lam)^(2t)))``
        that :func:`forewarn.stats.ewma.ewma_chart` draws (tighter at the start, so the ARL is lower).
    nodes : int
        Gauss-Legendre nodes (default 40, as spc).

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
    With fixed limits the ARL ``L(z)`` from EWMA value z solves Crowder's (1987) integral equation

    .. math:: L(z) = 1 + \\frac{1}{\\lambda} \\int_{-c}^{c} L(y)\\,
              \\phi\\left(\\frac{y - (1 - \\lambda) z}{\\lambda} - \\mu\\right) dy,
              \\quad c = L \\sqrt{\\lambda / (2 - \\lambda)},

    solved by Nystrom with Gauss-Legendre nodes. With varying limits the sub-density of the surviving EWMA is
    propagated step by step on the nodes of ``[-c_t, c_t]`` until ``1 - (1 - lambda)^(2t)`` is within 1e-13
    of 1 (T steps); then ``ARL = sum_{t<T} P(RL > t) + E[L(Z_T); RL > T]`` with the fixed-limit L above.

    References
    ----------
    Crowder, S. V. (1987). A simple method for studying run-length distributions of exponentially weighted
    moving average charts. Technometrics 29, 401-407.
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7 (``xewma.arl``).

    Examples
    --------
    Same as R ``spc::xewma.arl(l = 0.1, c = 2.7, mu = 0, sided = "two")``:

    >>> ewma_arl(0.1, 2.7)
    368.993734
    >>> ewma_arl(0.1, 2.7, 1.0)  # xewma.arl(0.1, 2.7, 1, sided = "two")
    9.730012
    """
    lam = _check_positive("lam", lam)
    if lam > 1:
        raise ValueError(f"lam must be in (0, 1]; got {lam!r}")
    L = _check_positive("L", L)
    shift = _check_finite("shift", shift)
    head_start = _check_finite("head_start", head_start)
    nodes = _check_nodes(nodes)
    if abs(head_start) >= L:
        raise ValueError(
            f"head_start must lie strictly inside the limits (|head_start| < L); got {head_start!r}"
        )
    if limits not in ("fixed", "varying"):
        raise ValueError(f"limits must be 'fixed' or 'varying'; got {limits!r}")
    start = head_start * math.sqrt(lam / (2.0 - lam))
    if limits == "fixed" or lam == 1.0:
        return _ewma_fixed_limits(lam, L, shift, start, nodes)[0]
    return _ewma_varying_limits(lam, L, shift, start, nodes)


def ewma_crit(
    lam: float,
    target_arl: float,
    *,
    shift: float = 0.0,
    head_start: float = 0.0,
    limits: EwmaLimits = "fixed",
    nodes: int = EWMA_NODES,
) -> float:
    """Limit width L giving a two-sided EWMA chart a target in-control ARL.

    Parameters
    ----------
    lam : float
        Smoothing constant, ``0 < lam <= 1``.
    target_arl : float
        Required ARL at ``shift``, > 1.
    shift : float
        Mean at which the ARL is set (0: in control).
    head_start : float
        Start value in asymptotic standard deviations, as in :func:`ewma_arl`.
    limits : {"fixed", "varying"}
        Asymptotic or exact time-varying limits, as in :func:`ewma_arl`.
    nodes : int
        Gauss-Legendre nodes (default 40).

    Returns
    -------
    float
        L with ``ewma_arl(lam, L, shift, ...) == target_arl`` (to about 1e-12 relative).

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    Bracketing and Brent's method on :func:`ewma_arl`, which increases with L. spc's ``xewma.crit`` stops its
    secant search when the ARL is within 1e-6 of the target, so agrees to about 1e-9.

    References
    ----------
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7 (``xewma.crit``).

    Examples
    --------
    Same as R ``spc::xewma.crit(l = 0.1, L0 = 370, sided = "two")``:

    >>> ewma_crit(0.1, 370.0)
    2.701046
    """
    target = _check_target(target_arl)
    head_start = _check_finite("head_start", head_start)

    def arl_of(width: float) -> float:
        return ewma_arl(lam, width, shift, head_start=head_start, limits=limits, nodes=nodes)

    start = max(abs(head_start) * 1.01, 0.05)
    if arl_of(start) >= target:
        raise ValueError(f"target_arl {target!r} is reached by every admissible L; use a larger target")
    return _solve_increasing(arl_of, target, start, 0.5)


# ------------------------------------------------------------------------------------------------------------
# Shewhart chart with runs rules
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsRule:
    """A supplementary runs rule: signal when ``count`` of the last ``window`` points lie beyond ``beyond``.

    "Beyond" is on one side: all counted points above ``+beyond`` limit-units or all below ``-beyond``.

    Parameters
    ----------
    count : int
        Points needed, ``1 <= count <= window``.
    window : int
        Points looked at (the current one and the ``window - 1`` before it).
    beyond : float
        Zone boundary in standard deviations (multiplied by the chart's ``limit_scale``), >= 0.

    Raises
    ------
    ValueError
        If the numbers are inconsistent.
    """

    count: int
    window: int
    beyond: float

    def __post_init__(self) -> None:
        if not (
            isinstance(self.window, int) and isinstance(self.count, int) and 1 <= self.count <= self.window
        ):
            raise ValueError(
                f"RunsRule needs integers 1 <= count <= window; got {self.count!r} of {self.window!r}"
            )
        if not (isinstance(self.beyond, int | float) and math.isfinite(self.beyond) and self.beyond >= 0):
            raise ValueError(f"RunsRule.beyond must be a finite number >= 0; got {self.beyond!r}")


#: The Western Electric rules as numbered by Champ & Woodall (1987) and spc's ``type`` codes.
WESTERN_ELECTRIC_RULES: Mapping[int, RunsRule] = {
    1: RunsRule(count=1, window=1, beyond=3.0),  # one point beyond 3 sigma
    2: RunsRule(count=2, window=3, beyond=2.0),  # two of three beyond 2 sigma, same side
    3: RunsRule(count=4, window=5, beyond=1.0),  # four of five beyond 1 sigma, same side
    4: RunsRule(count=8, window=8, beyond=0.0),  # eight in a row on one side of the centre line
}


@lru_cache(maxsize=64)
def _runs_rules_chain(rules: tuple[RunsRule, ...]) -> tuple[FloatArray, IntArray, int]:
    """States and transitions of the Champ-Woodall chain, built breadth-first from the empty history.

    Returns the zone cut points (in sigma units), an array of (from, to, zone) transitions that do not signal,
    and the number of states. A state holds, for each rule, what of the recent past still matters: the last
    ``window - 1`` sides (-1, 0, +1) for an m-of-n rule, or the signed length of the current run for an
    n-in-a-row rule (count == window), which needs far fewer states.
    """
    cuts = sorted({rule.beyond for rule in rules} | {-rule.beyond for rule in rules})
    edges = [-math.inf, *cuts, math.inf]
    zone_sides: list[tuple[int, ...]] = []
    for low, high in itertools.pairwise(edges):
        inside = (
            (low + high) / 2
            if math.isfinite(low) and math.isfinite(high)
            else (high - 1 if math.isfinite(high) else low + 1)
        )
        zone_sides.append(tuple(1 if inside > r.beyond else (-1 if inside < -r.beyond else 0) for r in rules))

    def initial(rule: RunsRule) -> tuple[int, ...]:
        return (0,) if rule.count == rule.window else (0,) * (rule.window - 1)

    def advance(rule: RunsRule, memory: tuple[int, ...], side: int) -> tuple[int, ...] | None:
        if rule.count == rule.window:
            run = memory[0]
            run = (run + side if run * side > 0 else side) if side != 0 else 0
            return None if abs(run) >= rule.count else (run,)
        history = (*memory, side)
        if history.count(1) >= rule.count or history.count(-1) >= rule.count:
            return None
        return history[1:]

    start = tuple(initial(rule) for rule in rules)
    index = {start: 0}
    queue = [start]
    transitions: list[tuple[int, int, int]] = []
    position = 0
    while position < len(queue):
        state = queue[position]
        for zone, sides in enumerate(zone_sides):
            following: list[tuple[int, ...]] = []
            for rule, memory, side in zip(rules, state, sides, strict=True):
                moved = advance(rule, memory, side)
                if moved is None:
                    break
                following.append(moved)
            else:
                successor = tuple(following)
                if successor not in index:
                    index[successor] = len(queue)
                    queue.append(successor)
                transitions.append((position, index[successor], zone))
        position += 1
    return np.array(edges, dtype=np.float64), np.array(transitions, dtype=np.int64).reshape(-1, 3), len(queue)


def shewhart_runs_arl(
    shift: float = 0.0,
    *,
    rules: Sequence[int | RunsRule] = (1, 2),
    limit_scale: float = 1.0,
) -> float:
    """Zero-state ARL of a Shewhart chart for normal data with supplementary runs rules.

    Parameters
    ----------
    shift : float
        True mean of the standardised observations (0 is in control).
    rules : sequence of int or RunsRule
        Western Electric rule numbers (1: one beyond 3 sigma; 2: two of three beyond 2 sigma; 3: four of five
        beyond 1 sigma; 4: eight in a row on one side) and/or custom :class:`RunsRule`. spc's ``type = "12"``
        is ``rules=(1, 2)``. Any combination works, e.g. ``(1, 2, 3, 4)``.
    limit_scale : float
        Multiplies every zone boundary (spc's ``c``; 1 gives the usual 1, 2, 3 sigma), > 0.

    Returns
    -------
    float
        The average run length.

    Raises
    ------
    ValueError
        If a rule number is unknown, no rule is given, or ``limit_scale <= 0``.

    Notes
    -----
    Champ & Woodall (1987): each new point falls in one zone between the cut points
    ``+-beyond * limit_scale``, with probability ``Phi(upper - mu) - Phi(lower - mu)``; the chain's state is
    the part of the recent history the rules still need (built here by breadth-first search from the empty
    history rather than typed in). With Q the transition matrix among non-signalling states, the ARL vector
    is ``(I - Q)^{-1} 1`` and the zero-state ARL is its entry for the empty history.

    References
    ----------
    Champ, C. W. & Woodall, W. H. (1987). Exact results for Shewhart control charts with supplementary runs
    rules. Technometrics 29, 393-399.
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7
    (``xshewhartrunsrules.arl``).

    Examples
    --------
    Same as R ``spc::xshewhartrunsrules.arl(mu = 0, c = 1, type = "12")``:

    >>> shewhart_runs_arl(0.0, rules=(1, 2))
    225.438407
    >>> shewhart_runs_arl(0.0, rules=(1, 2, 3, 4))  # all four Western Electric rules
    91.750773
    """
    shift = _check_finite("shift", shift)
    limit_scale = _check_positive("limit_scale", limit_scale)
    if len(rules) == 0:
        raise ValueError("rules must name at least one rule")
    resolved: list[RunsRule] = []
    for rule in rules:
        if isinstance(rule, RunsRule):
            resolved.append(rule)
        elif isinstance(rule, int) and rule in WESTERN_ELECTRIC_RULES:
            resolved.append(WESTERN_ELECTRIC_RULES[rule])
        else:
            raise ValueError(f"rules must be Western Electric numbers 1-4 or RunsRule objects; got {rule!r}")
    edges, transitions, n_states = _runs_rules_chain(tuple(resolved))
    scaled = edges * limit_scale
    zone_probability = _normal_cdf(scaled[1:] - shift) - _normal_cdf(scaled[:-1] - shift)
    transition = sparse.csc_matrix(
        (zone_probability[transitions[:, 2]], (transitions[:, 0], transitions[:, 1])),
        shape=(n_states, n_states),
    )
    system = sparse.identity(n_states, format="csc") - transition
    arl_by_state = np.atleast_1d(sparse_linalg.spsolve(system, np.ones(n_states)))
    return float(arl_by_state[0])


# ------------------------------------------------------------------------------------------------------------
# CUSUMs of counts
# ------------------------------------------------------------------------------------------------------------


def _as_fraction(name: str, value: float | Fraction, max_denominator: int) -> Fraction:
    if isinstance(value, Fraction):
        return value
    finite = _check_finite(name, value)
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
    mean = _check_finite("mu", mean)
    if mean < 0:
        raise ValueError(f"the Poisson mean mu must be >= 0; got {mean!r}")
    return (
        lambda x: np.asarray(stats.poisson.pmf(x, mean), dtype=np.float64),
        lambda x: float(stats.poisson.sf(x - 1, mean)),
    )


def _binomial_law(p: float, trials: int) -> tuple[Callable[[IntArray], FloatArray], Callable[[int], float]]:
    p = _check_finite("p", p)
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
    target = _check_target(target_arl)
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
