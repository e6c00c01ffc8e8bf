"""Average run lengths of the EWMA chart, and the limit multiple L for a target in-control ARL.

Crowder's (1987) integral equation solved by Nystrom (``xewma.arl`` of R ``spc``) with fixed asymptotic limits,
and the exact time-varying limits by propagating the run-length density until the limits have converged;
:func:`ewma_crit` finds L (``xewma.crit``). Zero-state ARLs.
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
    normal_pdf,
    solve_increasing,
)
from forewarn.stats.arrays import FloatArray

EwmaLimits = Literal["fixed", "varying"]
# Quadrature nodes of spc's default: xewma.arl(r = 40).
EWMA_NODES = 40
# Time-varying EWMA limits are replaced by the asymptotic ones once 1 - (1 - lambda)^(2t) is this close to 1.
_VARYING_LIMITS_TOLERANCE = 1e-13


def _ewma_kernel(lam: float, shift: float, source: FloatArray, target: FloatArray) -> FloatArray:
    # Transition density of Z_t = (1 - lam) Z_{t-1} + lam X_t from source (rows) to target (columns).
    return np.asarray(
        normal_pdf((target[None, :] - (1.0 - lam) * source[:, None]) / lam - shift) / lam, dtype=np.float64
    )


def _ewma_fixed_limits(
    lam: float, L: float, shift: float, start: float, nodes: int
) -> tuple[float, FloatArray]:
    # Crowder (1987): L(z) = 1 + int_{-c}^{c} L(y) f((y - (1 - lam) z)/lam - mu)/lam dy on the EWMA scale,
    # c = L sqrt(lam/(2 - lam)). Returns the ARL from `start` and the rows (nodes, weights, ARL at nodes).
    half_width = L * math.sqrt(lam / (2.0 - lam))
    z, w = gauss_legendre(nodes, -half_width, half_width)
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
            z, w = gauss_legendre(nodes, -half_width, half_width)
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
    lam = check_positive("lam", lam)
    if lam > 1:
        raise ValueError(f"lam must be in (0, 1]; got {lam!r}")
    L = check_positive("L", L)
    shift = check_finite("shift", shift)
    head_start = check_finite("head_start", head_start)
    nodes = check_nodes(nodes)
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
    target = check_target(target_arl)
    head_start = check_finite("head_start", head_start)

    def arl_of(width: float) -> float:
        return ewma_arl(lam, width, shift, head_start=head_start, limits=limits, nodes=nodes)

    start = max(abs(head_start) * 1.01, 0.05)
    if arl_of(start) >= target:
        raise ValueError(f"target_arl {target!r} is reached by every admissible L; use a larger target")
    return solve_increasing(arl_of, target, start, 0.5)


__all__ = ["EWMA_NODES", "EwmaLimits", "ewma_arl", "ewma_crit"]
