"""Average run lengths of the normal CUSUM, and the threshold h for a target in-control ARL.

Gauss-Legendre Nystrom solution of the ARL integral equation (the ``"igl"`` method of R ``spc``'s
``xcusum.arl``) or the Brook & Evans (1972) Markov chain (``method="markov"``, spc's ``"mc"``); one- and
two-sided, head start; :func:`cusum_crit` finds h for a target ARL (``xcusum.crit``). Zero-state ARLs: the chart
starts at its head start and the shift is present from the first observation.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from forewarn.stats.arl.numerics import (
    check_finite,
    check_nodes,
    check_positive,
    check_target,
    gauss_legendre,
    normal_cdf,
    normal_pdf,
    solve_increasing,
)

Sided = Literal["one", "two"]
CusumMethod = Literal["integral", "markov"]

# Quadrature nodes of spc's default: xcusum.arl(r = 30).
CUSUM_NODES = 30


def _cusum_one_sided_integral(k: float, h: float, head_start: float, shift: float, nodes: int) -> float:
    # Nystrom solution of L(z) = 1 + L(0) F(k - z) + int_0^h L(y) f(y + k - z) dy, with the atom at 0 kept as
    # an extra unknown (Knoth's xc1_iglarl).
    z, w = gauss_legendre(nodes, 0.0, h)
    size = nodes + 1
    system = np.zeros((size, size))
    system[:nodes, :nodes] = -w[None, :] * normal_pdf(z[None, :] + k - z[:, None] - shift)
    system[:nodes, nodes] = -normal_cdf(k - z - shift)
    system[nodes, :nodes] = -w * normal_pdf(z + k - shift)
    system[nodes, nodes] = -float(normal_cdf(k - shift))
    system += np.eye(size)
    arl_at_nodes = np.linalg.solve(system, np.ones(size))
    return float(
        1.0
        + normal_cdf(k - head_start - shift) * arl_at_nodes[nodes]
        + np.sum(w * normal_pdf(z + k - head_start - shift) * arl_at_nodes[:nodes])
    )


def _cusum_one_sided_markov(k: float, h: float, head_start: float, shift: float, states: int) -> float:
    # Brook & Evans: states are cells of width 2h/(2N - 1); state 0 is [0, w/2), state i is centred at i w.
    width = 2.0 * h / (2.0 * states - 1.0)
    i = np.arange(states)[:, None]
    j = np.arange(states)[None, :]
    upper = (j - i) * width + width / 2.0 + k
    lower = np.where(j == 0, -np.inf, (j - i) * width - width / 2.0 + k)
    transition = normal_cdf(upper - shift) - normal_cdf(lower - shift)
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
    transition = np.where(low > high, 0.0, normal_cdf(high - shift) - normal_cdf(low - shift))
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
    k = check_finite("k", k)
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")
    h = check_positive("h", h)
    shift = check_finite("shift", shift)
    head_start = check_finite("head_start", head_start)
    nodes = check_nodes(nodes)
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
    target = check_target(target_arl)
    k = check_finite("k", k)
    if k < 0:
        raise ValueError(f"k must be >= 0; got {k!r}")
    head_start = check_finite("head_start", head_start)
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
    return solve_increasing(arl_of, target, start, 0.5)


__all__ = ["CUSUM_NODES", "CusumMethod", "Sided", "cusum_arl", "cusum_crit"]
