"""Funnel control limits on the ratio scale: approximate, over-dispersed and exact, and curves for drawing.

Normal limits g^-1(g(theta0) +- q sqrt(s^2 + tau^2)) on the transformed scale (Spiegelhalter 2005, Stat Med
24:1185; Spiegelhalter 2005b, QSHC 14:347), exact Poisson limits from the chi-square (gamma) quantiles and exact
binomial limits in the Clopper-Pearson form (Clopper & Pearson 1934, Biometrika 26:404), FunnelPlotR 0.6.0's
proportion limits with its lookup table (under compat), and geometric denominator grids for drawing the curves.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.funnel_inputs import _limit_standard_error, _validated_inputs
from forewarn.stats.funnel_types import DataType, FunnelLimits, FunnelOptions, _normal_quantile


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
