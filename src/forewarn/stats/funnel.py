"""Funnel plots for comparing institutional performance, vectorised over many funnels at once.

A funnel plot puts each unit's indicator (a standardised ratio O/E, a proportion O/N or a ratio of counts
O/D) against its denominator, with control limits that narrow as the denominator grows (Spiegelhalter 2005).
When the units vary more than chance allows, the limits are widened with an additive random effect tau^2
estimated from winsorised or truncated z-scores (Spiegelhalter 2005b; Spiegelhalter et al. 2012).

Everything here is computed for many funnels in one call: a flat array per unit plus an integer ``funnel_id``
(``0..k-1``), with per-funnel statistics (target, phi, tau^2) gathered by ``np.bincount`` and one two-key sort
by (funnel, z) for the per-funnel quantiles and ranks.

The results match FunnelPlotR 0.6.0 (Mainey) when ``FunnelOptions(compat="funnelplotr")`` is set. Without it,
that package's quirks give way to consistent forms (listed under :class:`FunnelOptions`).

This module holds the statistics (:func:`funnel_statistics`) and the curves of its result
(:func:`funnel_limit_curves`), and re-exports the rest of the public API: the options and results from
:mod:`forewarn.stats.funnel_types`, the limits and grids from :mod:`forewarn.stats.funnel_limits`; the inputs and
scales are in :mod:`forewarn.stats.funnel_inputs` and the over-dispersion estimate in
:mod:`forewarn.stats.funnel_dispersion`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.funnel_dispersion import _dispersion, _trim_z_scores
from forewarn.stats.funnel_inputs import (
    _funnel_targets,
    _transform,
    _transform_target,
    _validated_inputs,
    _z_standard_error,
)
from forewarn.stats.funnel_limits import (
    _curves_over_grid,
    _funnelplotr_proportion_limits,
    _uses_exact_limits,
    funnel_denominator_grid,
    funnel_limit_curves_from_estimates,
    funnel_limits,
)
from forewarn.stats.funnel_types import (
    Z_95,
    Z_998,
    Compat,
    DataType,
    FunnelLimits,
    FunnelOptions,
    FunnelResult,
    Overdispersion,
    SrScale,
    UnadjustedLimits,
)

__all__ = [
    "Z_95",
    "Z_998",
    "Compat",
    "DataType",
    "FunnelLimits",
    "FunnelOptions",
    "FunnelResult",
    "Overdispersion",
    "SrScale",
    "UnadjustedLimits",
    "funnel_denominator_grid",
    "funnel_limit_curves",
    "funnel_limit_curves_from_estimates",
    "funnel_limits",
    "funnel_statistics",
]


# SHMI rounds expected deaths to two decimals before any calculation (NHS Digital SHMI specification).
_SHMI_EXPECTED_DECIMALS = 2


def funnel_statistics(
    numerator: ArrayLike,
    denominator: ArrayLike,
    funnel_id: ArrayLike | None = None,
    *,
    options: FunnelOptions | None = None,
    target: ArrayLike | Literal["pooled"] | None = None,
    n_funnels: int | None = None,
) -> FunnelResult:
    """Funnel-plot z-scores, over-dispersion, limits and outliers for many funnels at once.

    Parameters
    ----------
    numerator : array_like, shape (n,)
        Observed counts O (events; for RC the first count). Non-negative.
    denominator : array_like, shape (n,)
        E (expected, SR), N (cases, PR, with O <= N) or D (the second count, RC). Strictly positive, except
        that the count D of a ratio of counts may be 0.
    funnel_id : array_like of int, shape (n,), optional
        The funnel (e.g. indicator x period) of each unit, in ``0..k-1``. Default: all in funnel 0.
    options : FunnelOptions, optional
        Data type, over-dispersion method, limit, trim and compatibility; default ``FunnelOptions()``.
    target : float, array_like of shape (k,), "pooled" or None
        The centre line on the ratio scale. ``None``: 1 for SR (indirect standardisation) and the pooled value
        sum(O)/sum(D) of each funnel for PR and RC. ``"pooled"``: the pooled value for every data type.
    n_funnels : int, optional
        k, when trailing funnels may be empty; default ``max(funnel_id) + 1``.

    Returns
    -------
    FunnelResult
        Per-unit arrays (ratio, z, adjusted z, p-value, limits, outlier flags) and per-funnel arrays (target,
        phi, tau2, n_units, n_used, adjusted).

    Raises
    ------
    ValueError
        Naming the first offending index: NaN or infinite values, denominators <= 0 (for RC, where D is a
        count: D < 0, or O = D = 0), negative numerators, O = 0 on the SR log scale, O > N for proportions,
        lengths that differ, funnel ids that are negative or not integers, or targets outside their range.

    Notes
    -----
    With target theta0, transformed scale Y = g(O/D), Y0 = g(theta0) and within-unit standard error s:

    ========== ======================== ============================================================
    scale      Y                        s
    ========== ======================== ============================================================
    SR log     ln(O/E)                  1/sqrt(theta0 E)
    SR sqrt    sqrt(O/E)                1/(2 sqrt(E))
    PR         asin(sqrt(O/N))          1/(2 sqrt(N))
    RC         ln((O+.5)/(D+.5))        sqrt(O/(O+.5)^2 + D/(D+.5)^2)  (compat limits: 1/(2 sqrt(D)))
    ========== ======================== ============================================================

    z = (Y - Y0)/s. Per funnel, the over-dispersion ratio is phi = sum(z_w^2)/n over the n units kept, where
    z_w is z winsorised at its trim and 1 - trim type-7 quantiles ("cqc"; all units kept) or z with the units
    whose rank r (ties averaged) gives floor(r K/(n + 1)) equal to 0 or at least K - 1, K = 1/trim, dropped
    ("shmi"). The DerSimonian-Laird additive variance over the kept units, with w = 1/s^2, is

        tau^2 = max(0, (n phi - (n - 1)) / (sum w - sum w^2 / sum w)),  and 0 if n phi < n - 1.

    A funnel is adjusted when over-dispersion is requested and phi > 1; then
    z_adj = (Y - Y0)/sqrt(s^2 + tau^2) and the limits are g^-1(Y0 +- q sqrt(s^2 + tau^2)); otherwise
    z_adj = z and the limits are the unadjusted ones (see :func:`funnel_limits`). The p-value is
    2 Phi(-|z_adj|).

    Outliers: where a unit's limits are the normal ones on the transformed scale, it is flagged high (low)
    when z_adj > q (z_adj < -q), i.e. when Y lies outside them; for SR and PR that is the same as the ratio
    lying outside the back-transformed limits, and for RC it uses the continuity-corrected ratio, so a unit
    with D = 0 is not flagged on its infinite O/D alone. Where the limits are exact, the ratio O/D is
    compared with them. Under compat, as in FunnelPlotR, the ratio is always compared with the limits.

    The work is one two-key sort by (funnel, z) and a few ``np.bincount`` passes: no loop over funnels.

    References
    ----------
    .. [1] Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in
       Medicine 24:1185-1202. doi:10.1002/sim.1970
    .. [2] Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators. Quality and Safety in
       Health Care 14:347-351. doi:10.1136/qshc.2005.013755
    .. [3] Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M, et al. (2012). Statistical methods for healthcare
       regulation: rating, screening and surveillance. JRSS A 175:1-47. doi:10.1111/j.1467-985X.2011.01010.x
    .. [4] DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled Clinical Trials
       7:177-188. doi:10.1016/0197-2456(86)90046-2
    .. [5] NHS Digital (2020). Summary Hospital-level Mortality Indicator (SHMI) methodology.
    .. [6] Mainey C et al. FunnelPlotR 0.6.0, R package. https://github.com/nhs-r-community/FunnelPlotR

    Examples
    --------
    FunnelPlotR's own test data; ``funnel_plot(d, num, denom, group, data_type = "SR", sr_method = "SHMI")``
    gives ``phi(fp) = 2.948033`` and ``tau2(fp) = 0.01947753``:

    >>> result = funnel_statistics(
    ...     [100, 150, 180, 80, 120, 225],
    ...     [108, 112, 165, 95, 100, 220],
    ...     options=FunnelOptions(overdispersion="shmi", compat="funnelplotr"),
    ... )
    >>> print(f"{result.phi[0]:.6f} {result.tau2[0]:.8f}")
    2.948033 0.01947753
    >>> print(f"{result.z[1]:.6f} {result.upper[1]:.6f}")
    3.091681 1.683426

    Two funnels in one call (the second the same data with doubled counts):

    >>> twice = funnel_statistics(
    ...     [100, 150, 180, 80, 120, 225] * 2,
    ...     [108, 112, 165, 95, 100, 220] * 2,
    ...     [0] * 6 + [1] * 6,
    ...     options=FunnelOptions(overdispersion="shmi", compat="funnelplotr"),
    ... )
    >>> twice.phi.round(6).tolist(), twice.n_units.tolist()
    ([2.948033, 2.948033], [6, 6])
    """
    opts = options if options is not None else FunnelOptions()
    observed, denom, fid, k = _validated_inputs(numerator, denominator, funnel_id, n_funnels, opts.data_type)
    scale = opts.scale
    compat = opts.compat == "funnelplotr"

    if scale == "log_sr" and not compat and np.any(observed == 0):
        # ln(0/E) = -inf would make z, phi and tau^2 infinite (FunnelPlotR lets that happen).
        bad = int(np.flatnonzero(observed == 0)[0])
        raise ValueError(
            f"numerator[{bad}] = 0: a standardised ratio on the log scale (SHMI) needs O > 0; "
            "use sr_scale='sqrt' (the CQC scale) where counts can be zero"
        )
    with np.errstate(divide="ignore"):
        ratio = observed / denom
    if compat and scale == "log_sr":
        # FunnelPlotR's SHMI_rounding: E rounded for every later step, but `rr` keeps the unrounded E.
        denom = np.round(denom, _SHMI_EXPECTED_DECIMALS)
        if np.any(denom <= 0):
            bad = int(np.flatnonzero(denom <= 0)[0])
            raise ValueError(f"denominator[{bad}] rounds to 0 at 2 decimals (SHMI rounding under compat)")

    n_units = np.bincount(fid, minlength=k).astype(np.int64)
    theta0 = _funnel_targets(target, observed, denom, fid, k, opts.data_type)
    theta_unit = theta0[fid]

    with np.errstate(divide="ignore", invalid="ignore"):
        y = _transform(observed, denom, scale)
        y0 = _transform_target(theta_unit, scale)
        se = _z_standard_error(observed, denom, theta_unit, scale, compat)
        z = (y - y0) / se

    if opts.overdispersion == "none":
        z_trimmed = z.copy()
        trimmed = np.zeros(z.shape, dtype=np.bool_)
        fill = 0.0 if compat else np.nan
        phi = np.full(k, fill)
        tau2 = np.full(k, fill)
        n_used = np.zeros(k, dtype=np.int64)
        adjusted = np.zeros(k, dtype=np.bool_)
    else:
        z_trimmed, trimmed, used = _trim_z_scores(z, fid, n_units, opts.trim, opts.overdispersion)
        phi, tau2, n_used = _dispersion(z_trimmed, se, used, fid, k)
        adjusted = phi > 1.0

    tau2_applied = np.where(adjusted, tau2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_adjusted = np.where(adjusted[fid], (y - y0) / np.sqrt(se**2 + tau2_applied[fid]), z)
    p_value = special.erfc(np.abs(z_adjusted) / np.sqrt(2.0))

    adjusted_unit = adjusted[fid]
    limits = funnel_limits(
        denom, theta_unit, tau2_applied[fid], adjusted=adjusted_unit, numerator=observed, options=opts
    )
    lower, upper = limits.lower, limits.upper
    exact = _uses_exact_limits(adjusted_unit, opts)
    if compat:
        if scale == "arcsine":
            quirk_lower, quirk_upper = _funnelplotr_proportion_limits(
                denom, theta_unit, tau2_applied[fid], fid, k, opts.quantile
            )
            lower = np.where(exact, lower, quirk_lower)
            upper = np.where(exact, upper, quirk_upper)
        outlier_low, outlier_high = ratio < lower, ratio > upper
    else:
        # Where the limits are the normal ones on the transformed scale, flag on that scale (|z_adj| > q), so
        # flags agree with the p-values; exact limits are compared with the ratio itself.
        q = opts.quantile
        outlier_low = np.where(exact, ratio < lower, z_adjusted < -q)
        outlier_high = np.where(exact, ratio > upper, z_adjusted > q)
    return FunnelResult(
        ratio=ratio,
        y=y,
        se=se,
        z=z,
        z_trimmed=z_trimmed,
        trimmed=trimmed,
        z_adjusted=z_adjusted,
        p_value=p_value,
        lower=lower,
        upper=upper,
        outlier_low=outlier_low,
        outlier_high=outlier_high,
        target=theta0,
        phi=phi,
        tau2=tau2,
        n_units=n_units,
        n_used=n_used,
        adjusted=adjusted,
    )


def funnel_limit_curves(
    result: FunnelResult,
    denominator_grid: ArrayLike,
    *,
    options: FunnelOptions | None = None,
    limit: float | None = None,
) -> FunnelLimits:
    """Limit curves of every funnel over a grid of denominators, for drawing.

    Parameters
    ----------
    result : FunnelResult
        Output of :func:`funnel_statistics` (its per-funnel target, tau2 and adjusted are used).
    denominator_grid : array_like, shape (m,) or (k, m)
        Denominators at which to draw, shared by all funnels or one row per funnel
        (see :func:`funnel_denominator_grid`).
    options : FunnelOptions, optional
        The options given to :func:`funnel_statistics`.
    limit : float, optional
        Coverage in percent (e.g. draw both 95 and 99.8); default ``options.limit``.

    Returns
    -------
    FunnelLimits
        ``lower`` and ``upper`` of shape (k, m).

    Raises
    ------
    ValueError
        If the grid has a non-positive value or a shape that does not broadcast to (k, m).

    Notes
    -----
    Row f is :func:`funnel_limits` at ``target[f]`` with ``tau2[f]`` where funnel f is adjusted, so the
    curve passes through every unit's own limits at that unit's denominator.

    References
    ----------
    .. [1] Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in
       Medicine 24:1185-1202. doi:10.1002/sim.1970

    Examples
    --------
    Unadjusted exact Poisson 95% curve at E = 15, 20, 30 (FunnelPlotR ``limits(fp)`` column ``ll95``, i.e.
    ``qchisq(0.025, 2 * E) / (2 * E)``):

    >>> opts = FunnelOptions(overdispersion="none")
    >>> res = funnel_statistics([10, 30], [12.0, 25.0], options=opts)
    >>> curves = funnel_limit_curves(res, [15.0, 20.0, 30.0], options=opts, limit=95)
    >>> curves.lower.round(6)
    array([[0.559692, 0.610826, 0.674696]])
    """
    opts = options if options is not None else FunnelOptions()
    return _curves_over_grid(
        result.target, result.tau2_applied, result.adjusted, denominator_grid, opts, limit
    )
