"""What every ARL solver shares: argument checks, Gauss-Legendre nodes, the standard normal density and
distribution, and a bracketing root search for the threshold that reaches a target ARL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from forewarn.stats.arrays import FloatArray


def check_positive(name: str, value: float) -> float:
    """``value`` as a float; a clear error unless it is a positive finite number."""
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def check_finite(name: str, value: float) -> float:
    """``value`` as a float; a clear error unless it is a finite number."""
    if not (isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def check_nodes(nodes: int) -> int:
    """The number of quadrature nodes (or chain states); at least 4."""
    if not isinstance(nodes, int | np.integer) or nodes < 4:
        raise ValueError(f"nodes must be an integer >= 4; got {nodes!r}")
    return int(nodes)


def check_target(target_arl: float) -> float:
    """A target in-control ARL as a float; it must exceed 1 (every chart runs at least one step)."""
    if not (isinstance(target_arl, int | float | np.integer | np.floating) and math.isfinite(target_arl)):
        raise ValueError(f"target_arl must be a finite number > 1; got {target_arl!r}")
    if target_arl <= 1.0:
        raise ValueError(f"target_arl must be > 1 (every chart runs at least one step); got {target_arl!r}")
    return float(target_arl)


@lru_cache(maxsize=16)
def _standard_gauss_legendre(nodes: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    return np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)


def gauss_legendre(nodes: int, lower: float, upper: float) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre nodes and weights on [lower, upper]."""
    x, w = _standard_gauss_legendre(nodes)
    half = 0.5 * (upper - lower)
    return half * x + 0.5 * (upper + lower), half * w


def normal_pdf(x: ArrayLike) -> FloatArray:
    """The standard normal density."""
    return np.asarray(np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi), dtype=np.float64)


def normal_cdf(x: ArrayLike) -> FloatArray:
    """The standard normal distribution function."""
    return np.asarray(special.ndtr(x), dtype=np.float64)


def solve_increasing(function: Callable[[float], float], target: float, start: float, step: float) -> float:
    """Root of an increasing function: bracket by stepping up from ``start``, then Brent to full precision."""
    lower = start
    upper = start + step
    while function(upper) < target:
        lower, upper = upper, upper + step
        step *= 2.0
    return float(optimize.brentq(lambda x: function(x) - target, lower, upper, xtol=1e-13, rtol=1e-14))


__all__ = [
    "check_finite",
    "check_nodes",
    "check_positive",
    "check_target",
    "gauss_legendre",
    "normal_cdf",
    "normal_pdf",
    "solve_increasing",
]
