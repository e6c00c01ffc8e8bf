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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

DataType = Literal["SR", "PR", "RC"]
Overdispersion = Literal["none", "cqc", "shmi"]
SrScale = Literal["log", "sqrt"]
UnadjustedLimits = Literal["exact", "approximate"]
Compat = Literal["funnelplotr"]

# The normal quantiles FunnelPlotR hard-codes for its 95% and 99.8% limits (6 decimals).
Z_95 = 1.959964
Z_998 = 3.090232
_NAMED_QUANTILES = {95.0: Z_95, 99.8: Z_998}

# Continuity correction of the log ratio of two counts (keeps zero counts finite).
_RC_CORRECTION = 0.5
# SHMI rounds expected deaths to two decimals before any calculation (NHS Digital SHMI specification).
_SHMI_EXPECTED_DECIMALS = 2


@dataclass(frozen=True)
class FunnelOptions:
    """Options for :func:`funnel_statistics`, validated on construction.

    Parameters
    ----------
    data_type : {"SR", "PR", "RC"}
        ``"SR"`` indirectly standardised ratio O/E (Poisson), ``"PR"`` proportion O/N (binomial), ``"RC"``
        ratio of two counts O/D.
    overdispersion : {"cqc", "shmi", "none"}
        How phi and tau^2 are estimated. ``"cqc"``: z-scores winsorised at the ``trim`` and ``1 - trim``
        quantiles (R type 7), phi = mean of squared winsorised z over all units (Spiegelhalter 2005b, as used
        by the Care Quality Commission). ``"shmi"``: z-scores truncated, units ranked (ties averaged), the
        bottom and top ``trim`` dropped, phi = mean squared z of the rest (NHS Digital SHMI). Either way tau^2
        is the DerSimonian-Laird additive between-unit variance. ``"none"``: no adjustment. (FunnelPlotR
        always winsorises proportions and ratios of counts, whatever its ``sr_method``: ``"cqc"`` here.)
    limit : float
        Two-sided coverage in percent of the limits used for outliers: 95 (q = 1.959964) or 99.8
        (q = 3.090232, the values FunnelPlotR uses); any other value in (50, 100) uses the exact normal
        quantile.
    trim : float
        Fraction winsorised or truncated at each end, in (0, 0.5). Default 0.1.
    sr_scale : {"log", "sqrt"} or None
        Transformation for standardised ratios: ``"log"`` (Y = ln(O/E), s = 1/sqrt(target E)) or ``"sqrt"``
        (Y = sqrt(O/E), s = 1/(2 sqrt(E))). ``None`` takes ``"sqrt"`` with ``"cqc"`` and ``"log"`` otherwise,
        as FunnelPlotR does. Ignored for PR (arcsine scale) and RC (log scale). The log scale needs O > 0
        (a zero count is refused; under compat it gives FunnelPlotR's infinite z); the square-root scale
        takes zero counts.
    unadjusted : {"exact", "approximate"}
        Limits where no over-dispersion adjustment applies (``overdispersion="none"`` or phi <= 1).
        ``"exact"``: exact Poisson limits for SR (the chi-square form) and exact binomial limits for PR (the
        beta form); RC has no exact form here and always uses the approximate one. ``"approximate"``: the
        normal limits on the transformed scale with tau^2 = 0 (FunnelPlotR's form for PR and RC). Exact limits
        cost about a microsecond per distinct (denominator, target) and bound; the rest is much cheaper.
    compat : {"funnelplotr"} or None
        ``"funnelplotr"`` reproduces FunnelPlotR 0.6.0 exactly, including its quirks; ``None`` (default) uses
        the statistically consistent forms. The differences:

        1. SR on the square-root scale ("CQC"): FunnelPlotR leaves the limits on the square-root scale,
           ``1 +- q sqrt(s^2 + tau^2)``, and compares O/E with them without squaring back. Default:
           ``(sqrt(target) +- q sqrt(s^2 + tau^2))^2``, the lower root floored at 0.
        2. RC: FunnelPlotR's z and tau^2 use ``s = sqrt(O/(O+.5)^2 + D/(D+.5)^2)`` but its limits use
           ``s = 1/(2 sqrt(D))`` (the square-root-scale error, far too narrow for a log ratio). Default: the
           limits use the same s as z, so a unit is outside its limits exactly when |z_adj| > q; a drawn
           curve evaluates that s at the null value O = target D.
        3. ``overdispersion="none"``: FunnelPlotR reports phi = tau^2 = 0. Default: phi = tau^2 = NaN (not
           estimated).
        4. SR on the log scale ("SHMI"): FunnelPlotR rounds E to 2 decimals for Y, z and the limits (but not
           for the plotted ratio O/E). Default: no rounding.
        5. PR: FunnelPlotR takes sin^2 of the unclipped angle and zeroes (lower) or sets to 1 (upper) a limit
           only where it is not monotone against the next row of its lookup table (a 1000-point grid from 3
           to the largest N, merged with the data's N), so a limit whose angle passed pi/2 can stay below 1.
           Default: the angle is held in [0, pi/2].

    Raises
    ------
    ValueError
        If an option is outside its allowed values.
    """

    data_type: DataType = "SR"
    overdispersion: Overdispersion = "cqc"
    limit: float = 99.8
    trim: float = 0.1
    sr_scale: SrScale | None = None
    unadjusted: UnadjustedLimits = "exact"
    compat: Compat | None = None

    def __post_init__(self) -> None:
        _check_choice("data_type", self.data_type, ("SR", "PR", "RC"))
        _check_choice("overdispersion", self.overdispersion, ("none", "cqc", "shmi"))
        _check_choice("sr_scale", self.sr_scale, ("log", "sqrt", None))
        _check_choice("unadjusted", self.unadjusted, ("exact", "approximate"))
        _check_choice("compat", self.compat, ("funnelplotr", None))
        if not (isinstance(self.limit, int | float) and 50.0 < float(self.limit) < 100.0):
            raise ValueError(
                f"limit must be a coverage in percent in (50, 100), e.g. 95 or 99.8; got {self.limit!r}"
            )
        if not (isinstance(self.trim, int | float) and 0.0 < float(self.trim) < 0.5):
            raise ValueError(f"trim must be a fraction in (0, 0.5); got {self.trim!r}")

    @property
    def scale(self) -> Literal["log_sr", "sqrt_sr", "arcsine", "log_rc"]:
        """The transformed scale on which z, tau^2 and the approximate limits are computed."""
        if self.data_type == "PR":
            return "arcsine"
        if self.data_type == "RC":
            return "log_rc"
        sr_scale = self.sr_scale or ("sqrt" if self.overdispersion == "cqc" else "log")
        return "sqrt_sr" if sr_scale == "sqrt" else "log_sr"

    @property
    def quantile(self) -> float:
        """The standard normal quantile q of the limits (1.959964 for 95, 3.090232 for 99.8)."""
        return _normal_quantile(float(self.limit))


@dataclass(frozen=True)
class FunnelResult:
    """Per-unit and per-funnel results of :func:`funnel_statistics`.

    Per-unit arrays (length n, in input order)
    ------------------------------------------
    ratio : O/D, the plotted value (FunnelPlotR ``rr``).
    y : the indicator on the transformed scale (``Y``).
    se : the within-unit standard error on that scale used for z and tau^2.
    z : unadjusted z-score (Y - Y0) / se (``Uzscore``).
    z_trimmed : z after winsorising, or NaN where truncated away (``Wuzscore``).
    trimmed : True where z is not strictly inside the winsorising quantiles (``winsorised``), or truncated.
    z_adjusted : (Y - Y0) / sqrt(se^2 + tau^2) where the funnel is adjusted, else z.
    p_value : two-sided normal p-value of ``z_adjusted``.
    lower, upper : the unit's control limits for the ratio at the chosen ``limit``.
    outlier_low, outlier_high : below / above the limits: z_adjusted < -q / > q where the limits are the
        normal ones, the ratio against exact limits, and always the ratio under compat (see
        :func:`funnel_statistics`).

    Per-funnel arrays (length k)
    ----------------------------
    target : the centre line on the ratio scale.
    phi : over-dispersion ratio (NaN when not estimated).
    tau2 : DerSimonian-Laird between-unit variance on the transformed scale (NaN when not estimated).
    n_units : units in the funnel.
    n_used : units that entered phi and tau^2 (fewer than n_units with truncation).
    adjusted : whether the funnel's limits and adjusted z include tau^2 (over-dispersion on and phi > 1).
    """

    ratio: FloatArray
    y: FloatArray
    se: FloatArray
    z: FloatArray
    z_trimmed: FloatArray
    trimmed: BoolArray
    z_adjusted: FloatArray
    p_value: FloatArray
    lower: FloatArray
    upper: FloatArray
    outlier_low: BoolArray
    outlier_high: BoolArray
    target: FloatArray
    phi: FloatArray
    tau2: FloatArray
    n_units: IntArray
    n_used: IntArray
    adjusted: BoolArray

    @property
    def outlier(self) -> BoolArray:
        """Units outside either limit."""
        return self.outlier_low | self.outlier_high

    @property
    def tau2_applied(self) -> FloatArray:
        """Per funnel, the tau^2 actually added to the limits: tau2 where adjusted, else 0."""
        return np.where(self.adjusted, self.tau2, 0.0)


@dataclass(frozen=True)
class FunnelLimits:
    """Lower and upper control limits on the ratio scale, in the broadcast shape of the inputs."""

    lower: FloatArray
    upper: FloatArray


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


def funnel_limits(
    denominator: ArrayLike,
    target: ArrayLike,
    tau2: ArrayLike = 0.0,
    *,
    adjusted: ArrayLike = True,
    numerator: ArrayLike | None = None,
    options: FunnelOptions | None = None,
    limit: float | None = None,
) -> FunnelLimits:
    """Control limits on the ratio scale at given denominators, broadcasting all arguments.

    Parameters
    ----------
    denominator : array_like
        E, N or D at which to evaluate the limits (> 0).
    target : array_like
        Centre line theta0 on the ratio scale.
    tau2 : array_like
        Between-unit variance on the transformed scale (used only where ``adjusted``).
    adjusted : array_like of bool
        Where True, the over-dispersed limits; where False, the unadjusted limits of ``options.unadjusted``.
    numerator : array_like, optional
        RC only (ignored otherwise and under compat): the units' first counts O, whose standard error
        sqrt(O/(O+.5)^2 + D/(D+.5)^2) the limits then share with z. Default O = target D, the null value,
        which is what a drawn curve uses.
    options : FunnelOptions, optional
        Data type, scale, ``unadjusted`` and ``compat``; default ``FunnelOptions()``.
    limit : float, optional
        Coverage in percent; default ``options.limit``.

    Returns
    -------
    FunnelLimits
        ``lower`` and ``upper`` in the broadcast shape of the arguments.

    Raises
    ------
    ValueError
        If a denominator is not positive or ``limit`` is not in (50, 100).

    Notes
    -----
    Approximate (and over-dispersed) limits are g^-1(g(theta0) +- q sqrt(s^2 + tau^2)) with g and s as in
    :func:`funnel_statistics`: theta0 exp(+-q sd) on the log scales; (sqrt(theta0) +- q sd)^2 on the
    square-root scale, the lower root floored at 0 (compat: sqrt(theta0) +- q sd, unsquared); and
    sin^2(asin(sqrt(theta0)) +- q sd) for proportions with the angle held in [0, pi/2], so the limits stay in
    [0, 1] and monotone in N. (FunnelPlotR's own treatment of an angle beyond that range depends on its
    lookup grid, quirk 5 of :class:`FunnelOptions`; :func:`funnel_statistics` reproduces it for units under
    compat, these curves do not.)

    Exact unadjusted limits, with alpha = 1 - limit/100 and mu = theta0 E:

    * SR (Poisson): lower = chi2_{alpha/2}(2 mu)/(2E), upper = chi2_{1-alpha/2}(2(mu + 1))/(2E), the
      continuous form in Spiegelhalter (2005) and FunnelPlotR (``qchisq``).
    * PR (binomial), with x = theta0 N: lower = Beta_{alpha/2}(x, N - x + 1),
      upper = Beta_{1-alpha/2}(x + 1, N - x), the binomial counterpart (Clopper-Pearson form) of the Poisson
      one: at integer x, P(Bin(N, lower) >= x) = P(Bin(N, upper) <= x) = alpha/2.

    References
    ----------
    .. [1] Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in
       Medicine 24:1185-1202. doi:10.1002/sim.1970
    .. [2] Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated in the case of
       the binomial. Biometrika 26:404-413.

    Examples
    --------
    Exact Poisson 99.8% limits at E = 100, as FunnelPlotR's
    ``qchisq(0.001, 200) / 200`` and ``qchisq(0.999, 202) / 200``:

    >>> lim = funnel_limits([100.0], 1.0, adjusted=False, options=FunnelOptions(data_type="SR"))
    >>> print(f"{lim.lower[0]:.6f} {lim.upper[0]:.6f}")
    0.719214 1.349243
    """
    opts = options if options is not None else FunnelOptions()
    q = opts.quantile if limit is None else _normal_quantile(float(limit))
    coverage = float(opts.limit if limit is None else limit)
    scale = opts.scale
    compat = opts.compat == "funnelplotr"
    denom, theta, tau, adj, first = np.broadcast_arrays(
        np.asarray(denominator, dtype=np.float64),
        np.asarray(target, dtype=np.float64),
        np.asarray(tau2, dtype=np.float64),
        np.asarray(adjusted, dtype=np.bool_),
        np.asarray(np.nan if numerator is None else numerator, dtype=np.float64),
    )
    smallest = 0.0 if scale == "log_rc" else np.nextafter(0.0, 1.0)
    if np.any(~(denom >= smallest)):
        bad = np.argwhere(~(denom >= smallest))[0]
        bound = ">= 0" if scale == "log_rc" else "> 0"
        raise ValueError(f"denominator at index {tuple(int(i) for i in bad)} must be {bound}")
    if scale == "log_rc" and not compat:
        first = np.where(np.isnan(first), theta * denom, first)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sd = np.sqrt(_limit_standard_error(denom, theta, first, scale, compat) ** 2 + np.where(adj, tau, 0.0))
        lower, upper = _approximate_limits(theta, sd, q, scale, compat)
        exact = _uses_exact_limits(adj, opts)
        if np.any(exact):
            alpha = (100.0 - coverage) / 100.0
            ex_lower, ex_upper = _exact_limits(denom[exact], theta[exact], alpha, opts.data_type)
            lower[exact] = ex_lower
            upper[exact] = ex_upper
    return FunnelLimits(lower=lower, upper=upper)


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


def funnel_limit_curves_from_estimates(
    target: ArrayLike,
    phi: ArrayLike,
    tau2: ArrayLike,
    denominator_grid: ArrayLike,
    *,
    options: FunnelOptions | None = None,
    limit: float | None = None,
) -> FunnelLimits:
    """Limit curves of funnels known only by their per-funnel estimates, e.g. as a surveillance scan stored them.

    Parameters
    ----------
    target, phi, tau2 : array_like, shape (k,)
        Each funnel's ``FunnelResult.target``, ``.phi`` and ``.tau2`` (or ``.tau2_applied``: tau^2 counts only
        where the funnel is adjusted, so either gives the same curves).
    denominator_grid : array_like, shape (m,) or (k, m)
        Denominators at which to draw, shared by all funnels or one row per funnel.
    options : FunnelOptions, optional
        The options given to :func:`funnel_statistics` (data type, over-dispersion method, ``unadjusted``,
        ``compat``).
    limit : float, optional
        Coverage in percent; default ``options.limit``.

    Returns
    -------
    FunnelLimits
        ``lower`` and ``upper`` of shape (k, m): :func:`funnel_limit_curves` of the result that gave these
        estimates.

    Raises
    ------
    ValueError
        If the estimates are not one per funnel, or the grid has a non-positive value or a shape that does not
        broadcast to (k, m).

    Notes
    -----
    As in :func:`funnel_statistics`, a funnel is adjusted when over-dispersion was requested and phi > 1 (a NaN
    phi, not estimated, is not): its limits are then g^-1(g(theta0) +- q sqrt(s^2 + tau^2)), otherwise the
    unadjusted ones of ``options.unadjusted``.

    References
    ----------
    .. [1] Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators. Quality and Safety in
       Health Care 14:347-351. doi:10.1136/qshc.2005.013755

    Examples
    --------
    FunnelPlotR's medpar run with ``data_type = "SR", sr_method = "CQC"`` reports target 1, phi 9.302497 and
    tau2 0.007863079; its ``OD99UCL`` at the first provider (E = 523.6963) is 1.282219:

    >>> opts = FunnelOptions(overdispersion="cqc", compat="funnelplotr")
    >>> curves = funnel_limit_curves_from_estimates(
    ...     [1.0], [9.30249710742927], [0.00786307927605877], [523.696304399202], options=opts
    ... )
    >>> print(f"{curves.upper[0, 0]:.6f}")
    1.282219
    """
    opts = options if options is not None else FunnelOptions()
    theta = np.atleast_1d(np.asarray(target, dtype=np.float64))
    dispersion = np.atleast_1d(np.asarray(phi, dtype=np.float64))
    between = np.atleast_1d(np.asarray(tau2, dtype=np.float64))
    if theta.ndim != 1 or dispersion.shape != theta.shape or between.shape != theta.shape:
        raise ValueError(
            "target, phi and tau2 must have one value per funnel; "
            f"got shapes {theta.shape}, {dispersion.shape} and {between.shape}"
        )
    with np.errstate(invalid="ignore"):
        adjusted = (opts.overdispersion != "none") & (dispersion > 1.0)
    tau2_applied = np.where(adjusted, between, 0.0)
    return _curves_over_grid(theta, tau2_applied, adjusted, denominator_grid, opts, limit)


def funnel_denominator_grid(
    denominator: ArrayLike,
    funnel_id: ArrayLike | None = None,
    *,
    n_points: int = 200,
    n_funnels: int | None = None,
) -> FloatArray:
    """Per-funnel geometric grids from the smallest to the largest denominator, for drawing limit curves.

    Parameters
    ----------
    denominator : array_like, shape (n,)
        The units' denominators (> 0).
    funnel_id : array_like of int, shape (n,), optional
        Funnel of each unit, ``0..k-1``; default all 0.
    n_points : int
        Points per funnel (>= 2).
    n_funnels : int, optional
        k; default ``max(funnel_id) + 1``. Empty funnels get a row of NaN.

    Returns
    -------
    numpy.ndarray, shape (k, n_points)
        Row f runs geometrically from min to max of funnel f's denominators, both exactly.

    Raises
    ------
    ValueError
        For non-positive or NaN denominators, bad funnel ids or ``n_points < 2``.

    Notes
    -----
    Geometric spacing, d_j = d_min (d_max/d_min)^(j/(m-1)), puts as many points where the funnel bends sharply
    (small denominators) as where it is flat.

    References
    ----------
    .. [1] Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Statistics in
       Medicine 24:1185-1202. doi:10.1002/sim.1970

    Examples
    --------
    The same grid as R's ``exp(seq(log(10), log(1000), length.out = 3))``:

    >>> funnel_denominator_grid([10.0, 1000.0, 50.0], n_points=3)
    array([[  10.,  100., 1000.]])
    """
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2; got {n_points}")
    zeros = np.zeros(np.shape(np.asarray(denominator)))
    _, denom, fid, k = _validated_inputs(zeros, denominator, funnel_id, n_funnels, "SR")
    order = np.lexsort((denom, fid))
    counts = np.bincount(fid, minlength=k)
    ends = np.cumsum(counts)
    starts = ends - counts
    present = counts > 0
    lo = np.full(k, np.nan)
    hi = np.full(k, np.nan)
    lo[present] = denom[order[starts[present]]]
    hi[present] = denom[order[ends[present] - 1]]
    steps = np.linspace(0.0, 1.0, n_points)
    grid: FloatArray = np.exp(np.log(lo)[:, None] + steps[None, :] * np.log(hi / lo)[:, None])
    # Exactly the smallest and largest denominators at the ends (exp(log(x)) may differ from x in the last bit).
    grid[:, 0], grid[:, -1] = lo, hi
    return grid


# Steps


def _curves_over_grid(
    target: FloatArray,
    tau2_applied: FloatArray,
    adjusted: BoolArray,
    denominator_grid: ArrayLike,
    opts: FunnelOptions,
    limit: float | None,
) -> FunnelLimits:
    grid = np.asarray(denominator_grid, dtype=np.float64)
    k = target.shape[0]
    if grid.ndim == 1:
        grid = np.broadcast_to(grid, (k, grid.shape[0]))
    if grid.ndim != 2 or grid.shape[0] != k:
        raise ValueError(f"denominator_grid must have shape (m,) or ({k}, m); got {grid.shape}")
    return funnel_limits(
        grid,
        target[:, None],
        tau2_applied[:, None],
        adjusted=adjusted[:, None],
        options=opts,
        limit=limit,
    )


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _normal_quantile(limit: float) -> float:
    if not 50.0 < limit < 100.0:
        raise ValueError(f"limit must be a coverage in percent in (50, 100); got {limit!r}")
    named = _NAMED_QUANTILES.get(limit)
    return named if named is not None else float(special.ndtri(1.0 - (100.0 - limit) / 200.0))


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


def _approximate_limits(
    theta: FloatArray, sd: FloatArray, q: float, scale: str, compat: bool
) -> tuple[FloatArray, FloatArray]:
    if scale in ("log_sr", "log_rc"):
        return theta * np.exp(-q * sd), theta * np.exp(q * sd)
    if scale == "sqrt_sr":
        root = np.sqrt(theta)
        if compat:
            # Quirk 1: limits left on the square-root scale.
            return root - q * sd, root + q * sd
        return np.maximum(root - q * sd, 0.0) ** 2, (root + q * sd) ** 2
    angle = np.arcsin(np.sqrt(theta))
    half_pi = np.pi / 2.0
    lower = np.sin(np.clip(angle - q * sd, 0.0, half_pi)) ** 2
    upper = np.sin(np.clip(angle + q * sd, 0.0, half_pi)) ** 2
    return lower, upper


def _exact_limits(
    denom: FloatArray, theta: FloatArray, alpha: float, data_type: DataType
) -> tuple[FloatArray, FloatArray]:
    # The inverse incomplete gamma and beta functions cost about a microsecond each, a sort much less:
    # evaluate them once per distinct (denominator, target) pair (integer N of proportions repeat a lot).
    pairs, inverse = np.unique(denom + 1j * theta, return_inverse=True)
    lower, upper = _exact_limits_distinct(pairs.real.copy(), pairs.imag.copy(), alpha, data_type)
    return lower[inverse], upper[inverse]


def _exact_limits_distinct(
    denom: FloatArray, theta: FloatArray, alpha: float, data_type: DataType
) -> tuple[FloatArray, FloatArray]:
    if data_type == "SR":
        mu = theta * denom
        # qchisq(p, 2 mu) / 2 is the gamma quantile with shape mu.
        return special.gammaincinv(mu, alpha / 2.0) / denom, special.gammaincinv(
            mu + 1.0, 1.0 - alpha / 2.0
        ) / denom
    events = theta * denom
    non_events = denom - events
    lower = np.where(events > 0, special.betaincinv(events, non_events + 1.0, alpha / 2.0), 0.0)
    upper = np.where(non_events > 0, special.betaincinv(events + 1.0, non_events, 1.0 - alpha / 2.0), 1.0)
    return lower, upper


def _sort_by_funnel_then_z(z: FloatArray, fid: IntArray, k: int) -> IntArray:
    # A two-pass lexsort: z first, then a stable sort on the funnel id. Ties in z may come out in any order,
    # which changes neither quantiles nor tie-averaged ranks; a 16-bit key lets numpy use its radix sort.
    by_z = np.argsort(z)
    key = fid[by_z]
    if k <= np.iinfo(np.int16).max:
        key = key.astype(np.int16)
    order: IntArray = by_z[np.argsort(key, kind="stable")]
    return order


def _quantile_type7(z_sorted: FloatArray, starts: IntArray, counts: IntArray, prob: float) -> FloatArray:
    # R's quantile(type = 7), evaluated the way R does it: index = 1 + (n - 1) p, interpolate when index is
    # fractional and the two order statistics differ (so infinite z-scores do not produce NaN).
    index = 1.0 + np.maximum(counts - 1, 0) * prob
    lo = np.floor(index).astype(np.int64)
    hi = np.ceil(index).astype(np.int64)
    last = max(z_sorted.shape[0] - 1, 0)
    x_lo = z_sorted[np.minimum(starts + lo - 1, last)]
    x_hi = z_sorted[np.minimum(starts + hi - 1, last)]
    h = index - lo
    interpolate = (index > lo) & (x_hi != x_lo)
    with np.errstate(invalid="ignore"):
        quantile = np.where(interpolate, (1.0 - h) * x_lo + h * x_hi, x_lo)
    return np.where(counts > 0, quantile, np.nan)


def _trim_z_scores(
    z: FloatArray, fid: IntArray, n_units: IntArray, trim: float, method: Overdispersion
) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Winsorised (cqc) or truncated (shmi) z-scores, the trimmed flags and the units used for phi."""
    k = n_units.shape[0]
    order = _sort_by_funnel_then_z(z, fid, k)
    z_sorted = z[order]
    ends = np.cumsum(n_units)
    starts = ends - n_units
    if method == "cqc":
        low = _quantile_type7(z_sorted, starts, n_units, trim)[fid]
        high = _quantile_type7(z_sorted, starts, n_units, 1.0 - trim)[fid]
        trimmed = ~((z > low) & (z < high))
        return np.clip(z, low, high), trimmed, np.ones(z.shape, dtype=np.bool_)

    fid_sorted = fid[order]
    n = z.shape[0]
    run_start = np.ones(n, dtype=np.bool_)
    run_start[1:] = (fid_sorted[1:] != fid_sorted[:-1]) | (z_sorted[1:] != z_sorted[:-1])
    first = np.flatnonzero(run_start)
    last = np.append(first[1:], n) - 1
    run = np.cumsum(run_start) - 1
    # Average rank of a run of tied z within its funnel, 1-based (R's rank(ties.method = "average")).
    rank_sorted = (first[run] + last[run]) / 2.0 - starts[fid_sorted] + 1.0
    rank = np.empty(n)
    rank[order] = rank_sorted
    groups = 1.0 / trim
    band = np.floor(rank * groups / (n_units[fid] + 1))
    used = (band > 0) & (band < groups - 1)
    return np.where(used, z, np.nan), ~used, used


def _dispersion(
    z_trimmed: FloatArray, se: FloatArray, used: BoolArray, fid: IntArray, k: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-funnel phi = mean squared trimmed z and DerSimonian-Laird tau^2 over the units used."""
    n_used = np.bincount(fid, weights=used, minlength=k)
    weight = np.where(used, 1.0 / se**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.bincount(fid, weights=np.where(used, z_trimmed**2, 0.0), minlength=k) / n_used
        sum_w = np.bincount(fid, weights=weight, minlength=k)
        sum_w2 = np.bincount(fid, weights=weight**2, minlength=k)
        excess = n_used * phi - (n_used - 1.0)
        spread = sum_w - sum_w2 / sum_w
        tau2 = np.where(excess < 0, 0.0, np.maximum(0.0, excess / spread))
    # One unit (or equal weights over one unit) leaves no between-unit information.
    tau2 = np.where((n_used > 0) & (spread > 0), tau2, np.where(n_used > 0, 0.0, np.nan))
    return phi, tau2, n_used.astype(np.int64)


def _uses_exact_limits(adjusted: BoolArray, opts: FunnelOptions) -> BoolArray:
    if opts.unadjusted == "exact" and opts.scale != "log_rc":
        return ~adjusted
    return np.zeros(adjusted.shape, dtype=np.bool_)


def _funnelplotr_next_denominator(denom: FloatArray, fid: IntArray, k: int) -> FloatArray:
    """Per unit, the next larger denominator in FunnelPlotR's lookup table of the unit's funnel.

    The table is sort(unique(c(seq(3, ceiling(max(N)), length.out = 1000), N))); +inf for the last row.
    """
    n = denom.shape[0]
    order = np.lexsort((denom, fid))
    d_sorted = denom[order]
    f_sorted = fid[order]
    run_start = np.ones(n, dtype=np.bool_)
    run_start[1:] = (f_sorted[1:] != f_sorted[:-1]) | (d_sorted[1:] != d_sorted[:-1])
    first = np.flatnonzero(run_start)
    after = np.append(first[1:], n)[np.cumsum(run_start) - 1]
    clipped = np.minimum(after, n - 1)
    next_sorted = np.where((after < n) & (f_sorted[clipped] == f_sorted), d_sorted[clipped], np.inf)
    next_data = np.empty(n)
    next_data[order] = next_sorted

    counts = np.bincount(fid, minlength=k)
    funnel_max = np.full(k, np.nan)
    present = counts > 0
    funnel_max[present] = d_sorted[np.cumsum(counts)[present] - 1]
    grid_from, n_grid = 3.0, 1000
    grid_to = np.ceil(funnel_max)[fid]
    step = (grid_to - grid_from) / (n_grid - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.where(step != 0, np.floor((denom - grid_from) / step), 0.0)
    next_grid = np.full(n, np.inf)
    for offset in (-2, -1, 0, 1, 2):
        j = np.clip(guess + offset, 0, n_grid - 1)
        point = np.where(j == n_grid - 1, grid_to, grid_from + j * step)
        next_grid = np.where((point > denom) & (point < next_grid), point, next_grid)
    # seq() may run downwards (max(N) < 3): its points are then the same set, all checked the same way.
    next_grid = np.where(np.minimum(grid_from, grid_to) > denom, np.minimum(grid_from, grid_to), next_grid)
    following: FloatArray = np.minimum(next_data, next_grid)
    return following


def _funnelplotr_proportion_limits(
    denom: FloatArray, theta: FloatArray, tau2: FloatArray, fid: IntArray, k: int, q: float
) -> tuple[FloatArray, FloatArray]:
    """FunnelPlotR's proportion limits: sin^2 of the unclipped angle, set to 0 (lower) or 1 (upper) only where
    the value is not monotone against the next row of its lookup table (so it depends on that table)."""
    angle = np.arcsin(np.sqrt(theta))
    following = _funnelplotr_next_denominator(denom, fid, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_here = np.sqrt(0.25 / denom + tau2)
        sd_next = np.sqrt(0.25 / following + tau2)
    lower_here = np.sin(angle - q * sd_here) ** 2
    lower_next = np.sin(angle - q * sd_next) ** 2
    upper_here = np.sin(angle + q * sd_here) ** 2
    upper_next = np.sin(angle + q * sd_next) ** 2
    has_next = np.isfinite(following)
    lower = np.where(has_next & (lower_here > lower_next), 0.0, lower_here)
    upper = np.where(has_next & (upper_here < upper_next), 1.0, upper_here)
    return lower, upper
