"""One in-control model per indicator: each series against its own baseline, with over-dispersion allowed for.

Change detection asks "has this organisation got worse than it was?", not "is it different from the national
rate?" (the funnel's question). Real indicators fail the second framing for change detection in two ways,
both measured here rather than assumed away:

- organisations differ by more than chance (the funnel's phi > 1), so a chart against the national rate alarms
  for every organisation that was always above it. Each series is therefore compared with its **own baseline**:
  its mean deviation from the reference over its first periods;
- the period-to-period variation of one organisation exceeds sampling error (seasons, case mix, recording), so
  each indicator gets an **additive within-series variance** tau_w^2 on the same variance-stabilised scale as
  its funnel, estimated by the DerSimonian-Laird method of moments from the baseline residuals of all its
  series, with the standardised residuals winsorised as the funnel does (Spiegelhalter 2005b).

The result is a panel of z-scores, ``(y - reference - baseline) / sqrt(s^2 + tau_w^2 + var(baseline))``, that
are N(0, 1) in control whatever the organisation's level; :func:`forewarn.stats.cusum.panel_cusum` and the
EWMA run on them with thresholds set by :mod:`forewarn.stats.arl` for a false-alarm budget.

References
----------
Spiegelhalter, D. J. (2005b). Handling over-dispersion of performance indicators. Qual Saf Health Care 14,
347-351 (variance-stabilising scales, winsorised z-scores, additive tau^2).
Spiegelhalter, D. J., Sherlaw-Johnson, C., Bardsley, M., Blunt, I., Wood, C. & Grigg, O. (2012). Statistical
methods for healthcare regulation: rating, screening and surveillance. J R Stat Soc A 175, 1-47 (z-scores with
additive over-dispersion for screening; surveillance of each unit against its own expected level).
DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical trials. Control Clin Trials 7, 177-188.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

ScaleForm = Literal["bernoulli", "poisson", "normal"]


@dataclass(frozen=True)
class ScaledPanel:
    """Values on a variance-stabilised scale, their sampling variances and the reference they are compared with.

    Attributes
    ----------
    y : ndarray (series, time)
        ``arcsin(sqrt(O / n))`` (bernoulli), ``sqrt(O / E)`` (poisson) or the value itself (normal); NaN where
        missing.
    variance : ndarray (series, time)
        Sampling variance of ``y``: ``1 / (4 n)``, ``1 / (4 E)`` or ``se^2``.
    reference : ndarray (series, time)
        What ``y`` is compared with: ``arcsin(sqrt(E / n))``, 1, or the given reference value.
    """

    y: FloatArray
    variance: FloatArray
    reference: FloatArray


@dataclass(frozen=True)
class InControlModel:
    """Each series' own baseline and each group's within-series over-dispersion, and the z-scores they give.

    Attributes
    ----------
    z : ndarray (series, time)
        Standardised deviation from the series' own baseline, N(0, 1) in control; NaN where missing or where
        the series has too few baseline points.
    baseline : ndarray (series,)
        The series' mean deviation from the reference over its baseline periods (precision-weighted).
    baseline_variance : ndarray (series,)
        Variance of ``baseline``.
    baseline_points : ndarray of int (series,)
        Observed periods that made the baseline.
    tau2 : ndarray (groups,)
        Additive within-series variance of each group (indicator), on the scale of ``y``.
    phi : ndarray (groups,)
        Within-series dispersion ratio (winsorised Pearson chi-square over its degrees of freedom); 1 is pure
        sampling error.
    standard_deviation : ndarray (series, time)
        ``sqrt(s^2 + tau2 + var(baseline))``: the in-control standard deviation of each point.
    rho : ndarray (groups,)
        Median lag-1 autocorrelation of the baseline residuals of each group's series, in [0, 0.9]; ``z`` is
        scaled by
        ``sqrt((1 - rho) / (1 + rho))`` so that sums of z, which a CUSUM accumulates, have the variance they
        would have without autocorrelation (the long-run variance of an AR(1) process).
    """

    z: FloatArray
    baseline: FloatArray
    baseline_variance: FloatArray
    baseline_points: IntArray
    tau2: FloatArray
    phi: FloatArray
    standard_deviation: FloatArray
    rho: FloatArray


def _panel(name: str, values: ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 1-D series or a 2-D panel (series x time); got {array.ndim}-D")
    return array


def scaled_counts(
    observed: ArrayLike,
    expected: ArrayLike,
    *,
    form: ScaleForm,
    denominators: ArrayLike | None = None,
    standard_error: ArrayLike | None = None,
) -> ScaledPanel:
    """Put counts (or estimates with standard errors) on the variance-stabilised scale of the funnel.

    Parameters
    ----------
    observed : array_like (series, time)
        Observed events (bernoulli, poisson) or the estimate (normal); NaN where missing.
    expected : array_like (series, time)
        Expected events under the reference (bernoulli, poisson) or the reference value (normal).
    form : {"bernoulli", "poisson", "normal"}
        Binomial counts out of ``denominators``, Poisson counts against ``expected``, or estimates with
        ``standard_error``.
    denominators, standard_error : array_like or None
        Cases per period (bernoulli) or the estimate's standard error (normal).

    Returns
    -------
    ScaledPanel

    Notes
    -----
    The scales are those of Spiegelhalter (2005b) for funnel plots: ``arcsin(sqrt(p))`` with variance
    ``1/(4n)`` for proportions, ``sqrt(O/E)`` with variance ``1/(4E)`` for standardised ratios. On them an
    additive over-dispersion tau^2 is roughly constant across sizes, which a multiplicative phi is not.

    Examples
    --------
    >>> scaled = scaled_counts([[25.0]], [[20.0]], form="poisson")
    >>> float(scaled.y[0, 0]), float(scaled.variance[0, 0]), float(scaled.reference[0, 0])
    (1.118034, 0.0125, 1.0)
    """
    o = _panel("observed", observed)
    e = _panel("expected", expected)
    if e.shape != o.shape:
        raise ValueError(f"expected must have the shape of observed {o.shape}; got {e.shape}")
    # Each step in place on arrays of this function's own (the same operations as the formulas above, in the
    # same order, so the same bits), with one panel-sized array per output and masks of bytes, not floats.
    with np.errstate(invalid="ignore", divide="ignore"):
        if form == "bernoulli":
            if denominators is None:
                raise ValueError("the bernoulli form needs denominators (cases per period)")
            n = _panel("denominators", denominators)
            if n.shape != o.shape:
                raise ValueError(f"denominators must have the shape of observed {o.shape}; got {n.shape}")
            valid = n > 0
            valid &= o >= 0
            valid &= o <= n
            valid &= e >= 0
            valid &= e <= n
            y = _arcsine_root(np.divide(o, n))
            variance = np.multiply(4.0, n)
            np.divide(1.0, variance, out=variance)
            reference = _arcsine_root(np.divide(e, n))
        elif form == "poisson":
            valid = e > 0
            valid &= o >= 0
            y = np.maximum(o, 0.0)
            np.divide(y, e, out=y)
            np.sqrt(y, out=y)
            variance = np.multiply(4.0, e)
            np.divide(1.0, variance, out=variance)
            reference = np.ones_like(y)
        elif form == "normal":
            if standard_error is None:
                raise ValueError("the normal form needs standard errors")
            se = _panel("standard_error", standard_error)
            if se.shape != o.shape:
                raise ValueError(f"standard_error must have the shape of observed {o.shape}; got {se.shape}")
            valid = np.isfinite(se)
            valid &= se > 0
            y = np.array(o, dtype=np.float64)
            variance = np.multiply(se, se)
            reference = np.array(e, dtype=np.float64)
        else:
            raise ValueError(f"form must be 'bernoulli', 'poisson' or 'normal'; got {form!r}")
    for checked in (o, e, y, reference):
        valid &= np.isfinite(checked)
    invalid = np.logical_not(valid, out=valid)
    for output in (y, variance, reference):
        np.copyto(output, np.nan, where=invalid)
    return ScaledPanel(y=y, variance=variance, reference=reference)


def _arcsine_root(ratio: FloatArray) -> FloatArray:
    """``arcsin(sqrt(clip(ratio, 0, 1)))``, in place in ``ratio``."""
    np.clip(ratio, 0.0, 1.0, out=ratio)
    np.sqrt(ratio, out=ratio)
    return np.asarray(np.arcsin(ratio, out=ratio), dtype=np.float64)


def baseline_mask(present: BoolArray, baseline_periods: int) -> BoolArray:
    """The first ``baseline_periods`` observed points of each series (True where a point is in the baseline).

    >>> baseline_mask(np.array([[False, True, True, True]]), 2)
    array([[False,  True,  True, False]])
    """
    order = np.cumsum(present, axis=1, dtype=np.int32)  # counts of at most the width: 4 bytes, not 8
    return np.asarray(present & (order <= baseline_periods), dtype=bool)


def _group_sum(values: FloatArray, group: IntArray, n_groups: int) -> FloatArray:
    return np.asarray(np.bincount(group, weights=values, minlength=n_groups), dtype=np.float64)


# numpy's pairwise summation adds a row of 8 or more values in 8 running sums, a block of 8 columns at a time,
# and the columns left over one by one: a row cut after a multiple of 8 columns, with only zeros beyond the cut,
# sums to the same bits as the whole row (tests/stats/test_incontrol.py checks it).
_SUM_BLOCK = 8


def summed_width(inside: BoolArray, width: int) -> int:
    """How many leading columns hold every True of ``inside``, rounded up to a multiple of 8 (at most
    ``width``): sums along rows over that many columns of values that are zero outside ``inside`` are those
    over all ``width`` columns, to the bit, at a fraction of the memory traffic when ``inside`` is the first
    year of a longer panel.

    >>> summed_width(np.array([[True, False, False] + [False] * 30]), 33)
    8
    """
    used = np.flatnonzero(inside.any(axis=0))
    if used.size == 0:
        return min(width, _SUM_BLOCK)
    return min(width, -(-(int(used[-1]) + 1) // _SUM_BLOCK) * _SUM_BLOCK)


def _winsorised(u: FloatArray, inside: BoolArray, group: IntArray, n_groups: int, trim: float) -> FloatArray:
    """Winsorise standardised residuals at each group's ``trim`` and ``1 - trim`` quantiles."""
    if trim <= 0:
        return u.copy()
    # The values inside, row by row (the order of ``np.nonzero``), each with its row's group.
    values = u[inside]
    groups = np.repeat(group, np.count_nonzero(inside, axis=1))
    counts = np.bincount(groups, minlength=n_groups)
    low = np.full(n_groups, -np.inf)
    high = np.full(n_groups, np.inf)
    one_group = np.count_nonzero(counts) == 1
    # Type-7 quantiles per group, as the funnel's winsorisation: the two order statistics around each quantile,
    # found by a partial sort of the group's values (a full sort of every value is what this replaces).
    for g in np.flatnonzero(counts).tolist():  # groups (indicators): tens, not series
        count = int(counts[g])
        bounds = []
        for prob in (trim, 1.0 - trim):
            position = (count - 1) * prob
            below = int(np.floor(position))
            bounds.append((below, min(below + 1, count - 1), position - below))
        members = values if one_group else values[groups == g]  # one indicator: every value, no mask
        ordered = np.partition(members, sorted({k for b, a, _ in bounds for k in (b, a)}))
        (b_low, a_low, f_low), (b_high, a_high, f_high) = bounds
        low[g] = ordered[b_low] + f_low * (ordered[a_low] - ordered[b_low])
        high[g] = ordered[b_high] + f_high * (ordered[a_high] - ordered[b_high])
    series_low = low[group][:, None]
    series_high = high[group][:, None]
    return np.asarray(np.where(inside, np.clip(u, series_low, series_high), u), dtype=np.float64)


def winsorised_second_moment(trim: float) -> float:
    """``E[w(Z)^2]`` for a standard normal Z winsorised at its ``trim`` and ``1 - trim`` quantiles.

    Winsorising shrinks the chi-square of in-control residuals; dividing by this makes ``phi`` 1 and tau^2 0
    on average for pure sampling error.

    >>> round(winsorised_second_moment(0.1), 6), winsorised_second_moment(0.0)
    (0.678655, 1.0)
    """
    if trim <= 0:
        return 1.0
    q = float(special.ndtri(1.0 - trim))
    density = float(np.exp(-0.5 * q * q) / np.sqrt(2.0 * np.pi))
    return 2.0 * ((0.5 - trim) - q * density + q * q * trim)


def own_baseline_model(
    scaled: ScaledPanel,
    group: ArrayLike,
    *,
    n_groups: int | None = None,
    baseline_periods: int = 12,
    min_baseline_points: int = 4,
    trim: float = 0.1,
    overdispersion: bool = True,
) -> InControlModel:
    """Each series against its own baseline, with each group's within-series over-dispersion, as z-scores.

    Parameters
    ----------
    scaled : ScaledPanel
        Values, sampling variances and reference from :func:`scaled_counts`.
    group : array_like of int (series,)
        The group (indicator) of each series, 0..n_groups-1: tau_w^2 is estimated per group.
    n_groups : int or None
        Number of groups (default ``max(group) + 1``).
    baseline_periods : int
        Observed periods at the start of each series that define its own level (default 12: a year of months).
    min_baseline_points : int
        Series with fewer baseline points get no z-scores (their level is not known well enough).
    trim : float
        Share of standardised baseline residuals winsorised at each end of each group before tau_w^2 is
        estimated (0.1, the funnel's default), so a few series that changed during their baseline do not
        inflate everyone's allowance.
    overdispersion : bool
        False forces tau_w^2 = 0 (pure sampling error, the classical assumption).

    Returns
    -------
    InControlModel

    Notes
    -----
    With ``d = y - reference``, weights ``w = 1/s^2`` and baseline points B_i of series i:

    1. ``b_i = sum_B w d / sum_B w``; residuals ``e = d - b_i`` on the baseline.
    2. Per group, ``u = e sqrt(w)`` winsorised; ``Q = sum u^2 / c`` with ``c`` the second moment of a
       winsorised standard normal (:func:`winsorised_second_moment`, so that Q is unbiased for sampling error
       alone), ``df = sum_i (|B_i| - 1)``, ``phi = Q / df``;
       DerSimonian-Laird for groups with their means removed:
       ``tau_w^2 = max(0, (Q - df) / sum_i (sum_B w - sum_B w^2 / sum_B w))``.
    3. ``b_i`` again with ``w* = 1 / (s^2 + tau_w^2)``; ``var(b_i) = 1 / sum_B w*``.
    4. ``z_t = (d_t - b_i) / sqrt(s_t^2 + tau_w^2 + var(b_i))`` for every period, scaled by
       ``sqrt((1 - rho) / (1 + rho))`` with rho the median over the group's series of their lag-1
       autocorrelation of baseline z-scores
       (clipped to [0, 0.9]): positively autocorrelated residuals (seasons, slow drift) make sums of z vary
       more than a CUSUM's threshold assumes, and this is the AR(1) long-run variance that corrects it
       (Lu & Reynolds 2001, Technometrics 43:372, on CUSUM charts for autocorrelated processes).

    The additive tau_w^2 follows Spiegelhalter (2005b) and Spiegelhalter et al. (2012, section 4); the
    moment estimator is DerSimonian & Laird (1986) applied to within-series deviations. Without winsorising it
    is unbiased; winsorised it runs about 10% low when sampling variances differ tenfold between series (the
    pooled residuals are then heavier-tailed than a normal), the price of robustness to series that changed
    during their baseline (tests/stats/test_incontrol_false_alarms.py).

    Examples
    --------
    Two series whose levels differ but which vary only by sampling error: each is compared with itself, so
    neither drifts. The first's last point is 0.6 above its baseline, whose sd is sqrt(0.01 + 0.01/4):

    >>> y = np.array([[1.0, 1.1, 0.9, 1.0, 1.6], [3.0, 3.1, 2.9, 3.0, 3.0]])
    >>> scaled = ScaledPanel(y=y, variance=np.full(y.shape, 0.01), reference=np.zeros(y.shape))
    >>> model = own_baseline_model(scaled, [0, 0], baseline_periods=4, trim=0.0)
    >>> model.baseline, model.tau2
    (array([1., 3.]), array([0.]))
    >>> model.z[:, -1]
    array([5.366563, 0.      ])
    """
    y, s2, reference = scaled.y, scaled.variance, scaled.reference
    groups = np.asarray(group, dtype=np.int64)
    if groups.shape != (y.shape[0],):
        raise ValueError(f"group must have one entry per series ({y.shape[0]}); got shape {groups.shape}")
    if not isinstance(baseline_periods, int) or baseline_periods < 2:
        raise ValueError(f"baseline_periods must be an integer >= 2; got {baseline_periods!r}")
    if not isinstance(min_baseline_points, int) or not 2 <= min_baseline_points <= baseline_periods:
        raise ValueError(
            f"min_baseline_points must be an integer in [2, baseline_periods]; got {min_baseline_points!r}"
        )
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5); got {trim!r}")
    k = int(n_groups) if n_groups is not None else (int(groups.max()) + 1 if groups.size else 0)
    d = y - reference
    present = np.isfinite(d)
    present &= np.isfinite(s2)
    present &= s2 > 0
    base = baseline_mask(present, baseline_periods)
    points = base.sum(axis=1).astype(np.int64)
    usable = points >= min_baseline_points
    base &= usable[:, None]
    # The baseline's sums run over its columns only (the first year of a three-year panel), not the whole
    # panel: the same bits (:func:`summed_width`).
    cut = summed_width(base, y.shape[1])
    base_cut, s2_cut = base[:, :cut], s2[:, :cut]
    d_base = np.where(
        base_cut, d[:, :cut], 0.0
    )  # the baseline's deviations, zero elsewhere (used twice below)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(base_cut, 1.0 / s2_cut, 0.0)
        sum_w = w.sum(axis=1)
        first = np.where(usable, (w * d_base).sum(axis=1) / sum_w, np.nan)
        e = np.where(base_cut, d_base - first[:, None], 0.0)
        u = e * np.sqrt(w)
    tau2 = np.zeros(k)
    phi = np.ones(k)
    if overdispersion and k:
        u = _winsorised(u, base_cut, groups, k, trim)
        q = _group_sum((u * u).sum(axis=1), groups, k) / winsorised_second_moment(trim)
        df = _group_sum(np.where(usable, points - 1, 0).astype(np.float64), groups, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            sum_w2 = (w * w).sum(axis=1)
            per_series = np.where(usable, sum_w - sum_w2 / sum_w, 0.0)
            denominator = _group_sum(per_series, groups, k)
            phi = np.where(df > 0, q / df, 1.0)
            tau2 = np.where((df > 0) & (denominator > 0), np.maximum(0.0, (q - df) / denominator), 0.0)
    tau2_series = tau2[groups] if groups.size else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_star = np.where(base_cut, 1.0 / (s2_cut + tau2_series[:, None]), 0.0)
        sum_w_star = w_star.sum(axis=1)
        baseline = np.where(usable, (w_star * d_base).sum(axis=1) / sum_w_star, np.nan)
        baseline_variance = np.where(usable, 1.0 / sum_w_star, np.nan)
        # sqrt(s2 + tau2 + var(b)) and (d - b) / sd, each step in place (d is not needed after this).
        sd = np.add(s2, tau2_series[:, None])
        sd += baseline_variance[:, None]
        np.sqrt(sd, out=sd)
        z = np.subtract(d, baseline[:, None], out=d)
        z /= sd
        del d
        unscored = np.logical_not(present, out=present)
        unscored |= ~usable[:, None]
        np.copyto(z, np.nan, where=unscored)
        np.copyto(sd, np.nan, where=unscored)
        del unscored, present
    rho = np.zeros(k)
    if overdispersion and k:
        # Lag-1 pairs of the baseline: its columns and one more (a cut whose pairs' sums keep their bits).
        pairs = min(y.shape[1], summed_width(base[:, 1:], y.shape[1] - 1) + 1)
        rho = _baseline_autocorrelation(np.where(base[:, :pairs], z[:, :pairs], np.nan), groups, k)
        z *= np.sqrt((1.0 - rho) / (1.0 + rho))[groups][:, None]  # in place: z is this function's own
    return InControlModel(
        z=z,
        baseline=baseline,
        baseline_variance=baseline_variance,
        baseline_points=points,
        tau2=tau2,
        phi=phi,
        standard_deviation=sd,
        rho=rho,
    )


def _baseline_autocorrelation(z: FloatArray, groups: IntArray, n_groups: int) -> FloatArray:
    """Median over each group's series of the lag-1 autocorrelation of consecutive baseline z-scores, clipped
    to [0, 0.9]. The median, like the winsorising of tau_w^2, keeps a few series that drifted during their
    baseline from setting everyone's allowance."""
    now, before = z[:, 1:], z[:, :-1]
    pair = np.isfinite(now) & np.isfinite(before)
    count = pair.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(pair, now, 0.0)
        b = np.where(pair, before, 0.0)
        mean_a = a.sum(axis=1) / count
        mean_b = b.sum(axis=1) / count
        da = np.where(pair, now - mean_a[:, None], 0.0)
        db = np.where(pair, before - mean_b[:, None], 0.0)
        per_series = (da * db).sum(axis=1) / np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    usable = np.isfinite(per_series) & (count >= 3)
    rho = np.zeros(n_groups)
    for g in np.unique(groups[usable]):  # one median per indicator (tens), not per series
        rho[g] = float(np.median(per_series[usable & (groups == g)]))
    return np.asarray(np.clip(rho, 0.0, 0.9), dtype=np.float64)


def row_nanmedian(values: FloatArray, *, overwrite: bool = False) -> FloatArray:
    """Median of each row's non-NaN values (NaN for a row without any): ``numpy.nanmedian(values, axis=1)``,
    the same numbers (the middle order statistic, or the half-sum of the two middle ones), by one sort of every
    row instead of a masked array per call. With ``overwrite`` the rows of ``values`` (the caller's own
    temporary) are sorted in place instead of in a copy."""
    ordered = values if overwrite else values.copy()
    ordered.sort(axis=1)  # NaN sorts last
    count = np.count_nonzero(~np.isnan(values), axis=1)
    high = count // 2
    low = np.where(count % 2 == 1, high, high - 1)
    rows = np.arange(values.shape[0])
    with np.errstate(invalid="ignore"):
        middle = (
            ordered[rows, np.maximum(low, 0)] + ordered[rows, np.minimum(high, values.shape[1] - 1)]
        ) / 2.0
    return np.asarray(np.where(count > 0, middle, np.nan), dtype=np.float64)


def shift_in_sd(
    scaled: ScaledPanel, model: InControlModel, *, form: ScaleForm, rate_ratio: float, shift_sd: float
) -> FloatArray:
    """The shift the charts are tuned to detect, in in-control standard deviations, per series.

    For counts the shift is a rate ratio (poisson) or odds ratio (bernoulli) R applied to the series' own
    baseline level, converted to the variance-stabilised scale at the series' median point; for estimates
    with standard errors (normal) it is ``shift_sd`` standard deviations.

    Examples
    --------
    A Poisson series at its reference level (sqrt scale 1) with s = 0.1 and no over-dispersion: doubling
    the rate moves sqrt(O/E) from 1 to sqrt(2), a shift of (sqrt(2) - 1) / sqrt(0.01 + 0.01/4) = 3.70 standard
    deviations (the baseline's own variance, 0.01/4, included):

    >>> scaled = ScaledPanel(y=np.ones((1, 4)), variance=np.full((1, 4), 0.01), reference=np.ones((1, 4)))
    >>> model = own_baseline_model(scaled, [0], baseline_periods=4, overdispersion=False)
    >>> shift_in_sd(scaled, model, form="poisson", rate_ratio=2.0, shift_sd=1.0)
    array([3.704839])
    """
    # A series without z-scores (too short a baseline) has no typical sd: NaN, as intended.
    scored = np.isfinite(model.z)
    sd = row_nanmedian(np.where(scored, model.standard_deviation, np.nan), overwrite=True)
    if form == "normal":  # the shift is in sd: the reference level is not needed
        return np.asarray(np.where(np.isfinite(sd), float(shift_sd), np.nan), dtype=np.float64)
    reference = row_nanmedian(np.where(scored, scaled.reference, np.nan), overwrite=True)
    del scored
    with np.errstate(invalid="ignore", divide="ignore"):
        level = reference + model.baseline
        if form == "poisson":
            # sqrt(R r0) - sqrt(r0) with sqrt(r0) the in-control level on the sqrt scale.
            shift = np.maximum(level, 0.0) * (np.sqrt(rate_ratio) - 1.0)
        else:
            p0 = np.sin(np.clip(level, 0.0, np.pi / 2)) ** 2
            odds = p0 / (1.0 - p0) * rate_ratio
            p1 = odds / (1.0 + odds)
            shift = np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p0))
        return np.asarray(np.abs(shift) / sd, dtype=np.float64)


__all__ = [
    "InControlModel",
    "ScaleForm",
    "ScaledPanel",
    "baseline_mask",
    "own_baseline_model",
    "scaled_counts",
    "shift_in_sd",
]
