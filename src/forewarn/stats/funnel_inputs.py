"""A funnel's units on its transformed scale: checked inputs, targets, Y = g(O/D) and standard errors s.

The scales and standard errors of Spiegelhalter (2005, Stat Med 24:1185): ln(O/E) with
s = 1/sqrt(theta0 E) and sqrt(O/E) with s = 1/(2 sqrt(E)) for standardised ratios, asin(sqrt(O/N)) with
s = 1/(2 sqrt(N)) for proportions, and the continuity-corrected log ratio of two counts with
s = sqrt(O/(O+.5)^2 + D/(D+.5)^2) (FunnelPlotR 0.6.0, whose limits use 1/(2 sqrt(D)) under compat). The
statistics (:mod:`forewarn.stats.funnel`) and the limits (:mod:`forewarn.stats.funnel_limits`) read them here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.funnel_types import DataType

# Continuity correction of the log ratio of two counts (keeps zero counts finite).
_RC_CORRECTION = 0.5


def _as_float_vector(values: ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    not_finite = ~np.isfinite(array)
    if np.any(not_finite):
        bad = int(np.flatnonzero(not_finite)[0])
        raise ValueError(f"{name}[{bad}] is {array[bad]}: values must be finite numbers (no NaN)")
    return array


def _validated_inputs(
    numerator: ArrayLike,
    denominator: ArrayLike,
    funnel_id: ArrayLike | None,
    n_funnels: int | None,
    data_type: DataType,
) -> tuple[FloatArray, FloatArray, IntArray, int]:
    observed = _as_float_vector(numerator, "numerator")
    denom = _as_float_vector(denominator, "denominator")
    n = observed.shape[0]
    if denom.shape[0] != n:
        raise ValueError(f"numerator has {n} values but denominator has {denom.shape[0]}")
    if n == 0:
        raise ValueError("no units: numerator and denominator are empty")
    if np.any(observed < 0):
        bad = int(np.flatnonzero(observed < 0)[0])
        raise ValueError(f"numerator[{bad}] = {observed[bad]}: numerators must be >= 0")
    if data_type == "RC":
        # The second count of a ratio of counts may be 0 (the log ratio is continuity-corrected); 0/0 is not.
        if np.any(denom < 0):
            bad = int(np.flatnonzero(denom < 0)[0])
            raise ValueError(f"denominator[{bad}] = {denom[bad]}: counts must be >= 0")
        both_zero = (denom == 0) & (observed == 0)
        if np.any(both_zero):
            bad = int(np.flatnonzero(both_zero)[0])
            raise ValueError(
                f"numerator[{bad}] and denominator[{bad}] are both 0: the ratio carries no information"
            )
    elif np.any(denom <= 0):
        bad = int(np.flatnonzero(denom <= 0)[0])
        raise ValueError(f"denominator[{bad}] = {denom[bad]}: denominators must be > 0")
    if data_type == "PR" and np.any(observed > denom):
        bad = int(np.flatnonzero(observed > denom)[0])
        raise ValueError(
            f"numerator[{bad}] = {observed[bad]} exceeds denominator[{bad}] = {denom[bad]}: "
            "a proportion needs O <= N"
        )
    fid = _validated_funnel_ids(funnel_id, n)
    top = int(fid.max()) + 1
    if n_funnels is None:
        k = top
    elif isinstance(n_funnels, int | np.integer) and n_funnels >= top:
        k = int(n_funnels)
    else:
        raise ValueError(f"n_funnels must be an integer >= max(funnel_id) + 1 = {top}; got {n_funnels!r}")
    return observed, denom, fid, k


def _validated_funnel_ids(funnel_id: ArrayLike | None, n: int) -> IntArray:
    if funnel_id is None:
        return np.zeros(n, dtype=np.int64)
    raw = np.asarray(funnel_id)
    if raw.ndim != 1 or raw.shape[0] != n:
        raise ValueError(f"funnel_id must have one value per unit ({n}); got shape {raw.shape}")
    if raw.dtype.kind in "iub":
        fid = raw.astype(np.int64)
    elif raw.dtype.kind == "f":
        whole = np.isfinite(raw) & (raw == np.round(raw))
        if not np.all(whole):
            bad = int(np.flatnonzero(~whole)[0])
            raise ValueError(f"funnel_id[{bad}] = {raw[bad]}: funnel ids must be integers")
        fid = raw.astype(np.int64)
    else:
        raise ValueError(f"funnel_id must hold integers; got dtype {raw.dtype}")
    if np.any(fid < 0):
        bad = int(np.flatnonzero(fid < 0)[0])
        raise ValueError(f"funnel_id[{bad}] = {fid[bad]}: funnel ids must be >= 0")
    return fid


def _funnel_targets(
    target: ArrayLike | Literal["pooled"] | None,
    observed: FloatArray,
    denom: FloatArray,
    fid: IntArray,
    k: int,
    data_type: DataType,
) -> FloatArray:
    if target is None and data_type == "SR":
        return np.ones(k)
    if target is None or (isinstance(target, str) and target == "pooled"):
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled: FloatArray = np.bincount(fid, observed, minlength=k) / np.bincount(
                fid, denom, minlength=k
            )
        return pooled
    if isinstance(target, str):
        raise ValueError(f"target must be a number, one per funnel, 'pooled' or None; got {target!r}")
    theta = np.asarray(target, dtype=np.float64)
    if theta.ndim == 0:
        theta = np.full(k, float(theta))
    if theta.shape != (k,):
        raise ValueError(
            f"target must be a scalar or have one value per funnel ({k}); got shape {theta.shape}"
        )
    upper_bound = 1.0 if data_type == "PR" else np.inf
    bad_mask = ~((theta > 0) & (theta <= upper_bound))
    if np.any(bad_mask):
        bad = int(np.flatnonzero(bad_mask)[0])
        allowed = "in (0, 1]" if data_type == "PR" else "> 0 and finite"
        raise ValueError(f"target[{bad}] = {theta[bad]}: a {data_type} target must be {allowed}")
    return theta


def _transform(observed: FloatArray, denom: FloatArray, scale: str) -> FloatArray:
    if scale == "log_sr":
        return np.log(observed / denom)
    if scale == "sqrt_sr":
        return np.sqrt(observed / denom)
    if scale == "arcsine":
        return np.arcsin(np.sqrt(observed / denom))
    return np.log((observed + _RC_CORRECTION) / (denom + _RC_CORRECTION))


def _transform_target(theta: FloatArray, scale: str) -> FloatArray:
    if scale in ("log_sr", "log_rc"):
        return np.log(theta)
    if scale == "sqrt_sr":
        return np.sqrt(theta)
    return np.arcsin(np.sqrt(theta))


def _rc_standard_error(first: FloatArray, denom: FloatArray) -> FloatArray:
    return np.sqrt(
        first / (first + _RC_CORRECTION) ** 2 + denom / (denom + _RC_CORRECTION) ** 2,
    )


def _z_standard_error(
    observed: FloatArray, denom: FloatArray, theta: FloatArray, scale: str, compat: bool
) -> FloatArray:
    if scale == "log_sr":
        return 1.0 / np.sqrt(theta * denom)
    if scale == "log_rc":
        return _rc_standard_error(observed, denom)
    return 0.5 / np.sqrt(denom)


def _limit_standard_error(
    denom: FloatArray, theta: FloatArray, first: FloatArray, scale: str, compat: bool
) -> FloatArray:
    if scale == "log_sr":
        return 1.0 / np.sqrt(theta * denom)
    if scale == "log_rc" and not compat:
        return _rc_standard_error(first, denom)
    # SR sqrt, PR, and FunnelPlotR's RC limits (quirk 2).
    return 0.5 / np.sqrt(denom)
