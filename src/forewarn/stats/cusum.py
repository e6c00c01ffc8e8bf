"""CUSUM charts over panels: the risk-adjusted log-likelihood-ratio CUSUM and the classical normal CUSUM.

The risk-adjusted CUSUM is the one behind mortality alerts (Steiner et al. 2000; Bottle & Aylin 2008, the
Imperial College / Dr Foster method): each period adds the log-likelihood ratio of "the odds (or rate) of the
outcome are R times what the case mix predicts" against "they are as predicted", and the chart signals when
the accumulated evidence reaches a threshold h chosen for a target in-control average run length (ARL).

A panel is a 2-D array, series x time, with NaN where a series has no value. The recursion loops over time
steps only, each step vectorised over a block of series; blocks of rows keep the working set in cache, so a
million series of 36 months run in about a second.

This module holds the charts (the LLR increments, the risk-adjusted, normal and per-series panel CUSUMs) and
re-exports the rest of the public API: the options and results from :mod:`forewarn.stats.cusum_types` and the
threshold search :func:`llr_cusum_threshold` from :mod:`forewarn.stats.cusum_threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arl.normal_cusum import cusum_crit
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.cusum_threshold import llr_cusum_threshold
from forewarn.stats.cusum_types import (
    CusumResult,
    CusumThreshold,
    LikelihoodForm,
    NormalCusumOptions,
    NormalCusumResult,
    NormalSides,
    Reset,
    RiskAdjustedCusumOptions,
    ThresholdMethod,
    _check_choice,
)

__all__ = [
    "CusumResult",
    "CusumThreshold",
    "LikelihoodForm",
    "NormalCusumOptions",
    "NormalCusumResult",
    "NormalSides",
    "Reset",
    "RiskAdjustedCusumOptions",
    "ThresholdMethod",
    "llr_cusum_threshold",
    "llr_increments",
    "normal_cusum",
    "panel_cusum",
    "risk_adjusted_cusum",
]


# Rows per block of the time recursion: a (time x rows) block of a few MB stays in cache.
_ROWS_PER_BLOCK = 4096


def _as_panel(name: str, values: ArrayLike) -> FloatArray:
    panel = np.asarray(values, dtype=np.float64)
    if panel.ndim == 1:
        panel = panel[None, :]
    if panel.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D panel (series x time) or a 1-D series; got {panel.ndim} dimensions"
        )
    if np.isinf(panel).any():
        raise ValueError(f"{name} must not contain infinite values (use NaN for missing)")
    return panel


def _check_same_shape(reference: FloatArray, name: str, other: FloatArray) -> None:
    if other.shape != reference.shape:
        raise ValueError(f"{name} must have the shape of observed {reference.shape}; got {other.shape}")


def _counts_panels(
    observed: ArrayLike, expected: ArrayLike, denominators: ArrayLike | None, form: LikelihoodForm
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    observed_panel = _as_panel("observed", observed)
    expected_panel = _as_panel("expected", expected)
    _check_same_shape(observed_panel, "expected", expected_panel)
    if (observed_panel < 0).any():
        raise ValueError("observed counts must be >= 0")
    if (expected_panel < 0).any():
        raise ValueError("expected counts must be >= 0")
    if form == "poisson":
        return observed_panel, expected_panel, None
    if denominators is None:
        raise ValueError("the Bernoulli form needs denominators (patients per period)")
    denominator_panel = _as_panel("denominators", denominators)
    _check_same_shape(observed_panel, "denominators", denominator_panel)
    if (denominator_panel < 0).any():
        raise ValueError("denominators must be >= 0")
    if (observed_panel > denominator_panel).any():
        raise ValueError("observed deaths cannot exceed the denominator (patients) in a period")
    if (expected_panel > denominator_panel).any():
        raise ValueError("expected deaths cannot exceed the denominator (patients) in a period")
    return observed_panel, expected_panel, denominator_panel


def _increments(
    observed: FloatArray,
    expected: FloatArray,
    denominators: FloatArray | None,
    rate_ratio: float,
) -> FloatArray:
    log_ratio = math.log(rate_ratio)
    if denominators is None:
        return observed * log_ratio - (rate_ratio - 1.0) * expected
    risk = np.divide(expected, denominators, out=np.zeros_like(expected), where=denominators > 0)
    return observed * log_ratio - denominators * np.log1p((rate_ratio - 1.0) * risk)


def llr_increments(
    observed: ArrayLike,
    expected: ArrayLike,
    *,
    rate_ratio: float = 2.0,
    form: LikelihoodForm = "poisson",
    denominators: ArrayLike | None = None,
) -> FloatArray:
    """Log-likelihood-ratio increments W_t of the risk-adjusted CUSUM for observed against expected counts.

    Parameters
    ----------
    observed : array_like, shape (series, time) or (time,)
        Observed events O_t (deaths) per period, >= 0; NaN where missing.
    expected : array_like, same shape
        Case-mix expected events E_t, >= 0.
    rate_ratio : float
        R, the rate or odds ratio to detect (> 0, not 1).
    form : {"poisson", "bernoulli"}
        ``"poisson"``: ``W = O ln R - (R - 1) E``. ``"bernoulli"``: the exact aggregate of per-patient
        Bernoulli LLRs with every patient of the period at risk ``p = E/N``:
        ``W = O ln R - N ln(1 - p + R p)``.
    denominators : array_like or None
        Patients N_t per period (Bernoulli form only), >= O and >= E.

    Returns
    -------
    ndarray of float, shape (series, time)
        W_t, NaN where any input is NaN.

    Raises
    ------
    ValueError
        If shapes differ, counts are negative, or O or E exceed N.

    Notes
    -----
    Per patient with predicted risk p and outcome y, the LLR of odds ratio R is (Steiner et al. 2000)
    ``y ln R - ln(1 - p + R p)``. Summed over the period's patients it is
    ``O ln R - sum_i ln(1 - p_i + R p_i)``; here every patient is given the period's mean risk ``p = E/N``.
    Because ``ln(1 - p + R p)`` is concave in p (for every R), the sum with equal risks is at least the sum
    with the true varied risks (Jensen), so this W is at most the patient-level W: slightly conservative
    (slower to signal, for R > 1 and R < 1 alike) when risks within a period vary. The Poisson form is the LLR
    of a Poisson count with mean R E against mean E (the small-p limit of the Bernoulli form), the form used
    for monthly mortality alerts by Bottle & Aylin (2008).

    References
    ----------
    Steiner, S. H., Cook, R. J., Farewell, V. T. & Treasure, T. (2000). Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 1, 441-452.
    Bottle, A. & Aylin, P. (2008). J R Stat Soc A 171, 705-721; and Intelligent information: a national system
    for monitoring clinical performance. Health Services Research 43, 10-31.

    Examples
    --------
    In R: ``O * log(2) - (2 - 1) * E``:

    >>> llr_increments([[3.0, 0.0]], [[1.5, 2.0]])
    array([[ 0.579442, -2.      ]])
    """
    _check_choice("form", form, ("poisson", "bernoulli"))
    RiskAdjustedCusumOptions(rate_ratio=rate_ratio, form=form)
    observed_panel, expected_panel, denominator_panel = _counts_panels(observed, expected, denominators, form)
    return _increments(observed_panel, expected_panel, denominator_panel, float(rate_ratio))


def _threshold_vector(threshold: ArrayLike, n_series: int) -> FloatArray:
    values = np.asarray(threshold, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(n_series, float(values))
    if values.shape != (n_series,):
        raise ValueError(
            f"threshold must be a number or one value per series ({n_series}); got shape {values.shape}"
        )
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("threshold must be positive and finite")
    return values


def _run_cusum(
    fill_increments: Callable[[int, int, FloatArray], None],
    n_series: int,
    n_time: int,
    threshold: FloatArray,
    head_start: float,
    reset_value: float,
) -> tuple[FloatArray, BoolArray]:
    """S_t = max(0, S_{t-1} + W_t), alarm when S_t >= h, then restart from reset_value; blocks of rows.

    ``fill_increments(first, last, out)`` writes W for rows first..last-1 into ``out`` laid out time x rows,
    so each time step reads one contiguous row of the block.
    """
    statistic = np.empty((n_series, n_time), dtype=np.float64)
    alarm = np.empty((n_series, n_time), dtype=np.bool_)
    buffer = np.empty((n_time, min(n_series, _ROWS_PER_BLOCK)), dtype=np.float64)
    for first in range(0, n_series, _ROWS_PER_BLOCK):
        last = min(n_series, first + _ROWS_PER_BLOCK)
        increments = buffer[:, : last - first]
        fill_increments(first, last, increments)
        missing = np.isnan(increments)
        increments[missing] = 0.0  # a missing period adds nothing: S carries over
        block_statistic = np.empty_like(increments)
        block_alarm = np.empty(increments.shape, dtype=np.bool_)
        block_threshold = threshold[first:last]
        current = np.full(last - first, head_start)
        for t in range(n_time):
            np.add(current, increments[t], out=current)
            np.maximum(current, 0.0, out=current)
            np.greater_equal(current, block_threshold, out=block_alarm[t])
            block_statistic[t] = current
            np.copyto(current, reset_value, where=block_alarm[t])
        block_statistic[missing] = np.nan
        statistic[first:last] = block_statistic.T
        alarm[first:last] = block_alarm.T
    return statistic, alarm


def _series_summary(alarm: BoolArray) -> tuple[IntArray, IntArray]:
    n_alarms = alarm.sum(axis=1, dtype=np.int64)
    first_alarm = np.where(n_alarms > 0, np.argmax(alarm, axis=1), -1).astype(np.int64)
    return n_alarms, first_alarm


def risk_adjusted_cusum(
    observed: ArrayLike,
    expected: ArrayLike,
    threshold: ArrayLike,
    *,
    denominators: ArrayLike | None = None,
    options: RiskAdjustedCusumOptions | None = None,
) -> CusumResult:
    """Risk-adjusted log-likelihood-ratio CUSUM of observed against expected counts, over a panel.

    Parameters
    ----------
    observed : array_like, shape (series, time) or (time,)
        Observed events per period, >= 0; NaN where missing (the CUSUM carries over unchanged).
    expected : array_like, same shape
        Case-mix expected events per period, >= 0.
    threshold : float or array_like of shape (series,)
        h, on the log-likelihood-ratio scale; one for all series or one each. Choose it with
        :func:`llr_cusum_threshold`.
    denominators : array_like or None
        Patients per period, required for ``form="bernoulli"``.
    options : RiskAdjustedCusumOptions or None
        R, the likelihood form, head start and reset rule (defaults: R = 2, Poisson, start and reset at 0).

    Returns
    -------
    CusumResult
        S per point, alarms, alarms per series, first alarm index and h per series.

    Raises
    ------
    ValueError
        If shapes disagree, counts are negative, the threshold is not positive, or the head start is not below
        the threshold.

    Notes
    -----
    With W_t from :func:`llr_increments` (``O ln R - (R - 1) E`` by default),

    .. math:: S_0 = s_0, \\qquad S_t = \\max(0, S_{t-1} + W_t),

    an alarm is raised when ``S_t >= h``, and S restarts from 0 (or from the head start s_0) after an alarm.
    With R < 1 the same recursion accumulates evidence of fewer events than expected (the lower CUSUM). The
    loop runs over time; each step is vectorised over a block of 4,096 series.

    References
    ----------
    Steiner, S. H., Cook, R. J., Farewell, V. T. & Treasure, T. (2000). Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 1, 441-452.
    Bottle, A. & Aylin, P. (2008). J R Stat Soc A 171, 705-721; and Intelligent information: a national system
    for monitoring clinical performance. Health Services Research 43, 10-31 (the Dr Foster / Imperial College
    mortality alerts).

    Examples
    --------
    The same numbers as R ``Reduce(function(s, w) max(0, s + w), O * log(2) - E, 0, accumulate = TRUE)[-1]``
    with O = c(3, 4, 0, 5) and E = rep(1.5, 4), while no alarm is raised:

    >>> result = risk_adjusted_cusum([[3, 4, 0, 5]], [[1.5, 1.5, 1.5, 1.5]], threshold=3.0)
    >>> result.statistic
    array([[0.579442, 1.852030, 0.352030, 2.317766]])
    >>> result.n_alarms, result.first_alarm
    (array([0]), array([-1]))
    """
    options = options if options is not None else RiskAdjustedCusumOptions()
    observed_panel, expected_panel, denominator_panel = _counts_panels(
        observed, expected, denominators, options.form
    )
    n_series, n_time = observed_panel.shape
    thresholds = _threshold_vector(threshold, n_series)
    if options.head_start >= thresholds.min():
        raise ValueError(
            f"head_start {options.head_start!r} must be below the threshold ({thresholds.min():g})"
        )
    rate_ratio = float(options.rate_ratio)

    def fill(first: int, last: int, out: FloatArray) -> None:
        # computed in the panel's own (row-major) layout, then transposed in one copy: mixing layouts inside
        # the arithmetic is several times slower
        rows = slice(first, last)
        denominators_rows = None if denominator_panel is None else denominator_panel[rows]
        out[...] = _increments(observed_panel[rows], expected_panel[rows], denominators_rows, rate_ratio).T

    reset_value = options.head_start if options.reset == "head_start" else 0.0
    statistic, alarm = _run_cusum(fill, n_series, n_time, thresholds, options.head_start, reset_value)
    n_alarms, first_alarm = _series_summary(alarm)
    return CusumResult(
        statistic=statistic, alarm=alarm, n_alarms=n_alarms, first_alarm=first_alarm, threshold=thresholds
    )


def normal_cusum(z: ArrayLike, options: NormalCusumOptions) -> NormalCusumResult:
    """Classical tabular CUSUM of standardised values (z-scores) over a panel.

    Parameters
    ----------
    z : array_like, shape (series, time) or (time,)
        Standardised values (in-control mean 0, sd 1); NaN where missing.
    options : NormalCusumOptions
        k, h (or a target ARL), sides, head start and reset. Required: there is no sensible default h.

    Returns
    -------
    NormalCusumResult
        Upper and lower CUSUMs, alarms, alarms per series, first alarm index, k and h.

    Raises
    ------
    ValueError
        If the panel is not 1-D or 2-D or contains infinite values.

    Notes
    -----
    .. math:: C^+_t = \\max(0, C^+_{t-1} + z_t - k), \\qquad C^-_t = \\max(0, C^-_{t-1} - z_t - k),

    each side signalling when it reaches h and restarting from 0 (or the head start). With ``target_arl`` the
    h is the one for which the zero-state in-control ARL of the chart (one-sided or both sides together)
    equals the target (:func:`forewarn.stats.arl.cusum_crit`).

    References
    ----------
    Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
    Montgomery, D. C. (2019). Introduction to Statistical Quality Control, 8th ed., section 9.1.

    Examples
    --------
    The same upper CUSUM as R ``qcc::cusum(z, center = 0, std.dev = 1, decision.interval = 4,
    se.shift = 1)$pos``:

    >>> result = normal_cusum([[1.0, 2.0, 1.5, -0.5]], NormalCusumOptions(h=4.0))
    >>> result.upper
    array([[0.5, 2. , 3. , 2. ]])
    >>> result.alarm.any()
    np.False_
    """
    panel = _as_panel("z", z)
    n_series, n_time = panel.shape
    if options.target_arl is None:
        h = float(options.h or 0.0)
    else:
        h = cusum_crit(
            options.k,
            float(options.target_arl),
            head_start=options.head_start,
            sided="two" if options.sided == "two" else "one",
        )
    thresholds = np.full(n_series, h)
    reset_value = options.head_start if options.reset == "head_start" else 0.0
    k = float(options.k)
    nothing = np.full((n_series, n_time), np.nan)
    no_alarm = np.zeros((n_series, n_time), dtype=np.bool_)
    upper, alarm_upper = nothing, no_alarm
    lower, alarm_lower = nothing, no_alarm

    # increments are computed in the panel's row-major layout, then transposed in one copy
    def fill_upper(first: int, last: int, out: FloatArray) -> None:
        out[...] = (panel[first:last] - k).T

    def fill_lower(first: int, last: int, out: FloatArray) -> None:
        out[...] = (-k - panel[first:last]).T

    if options.sided in ("upper", "two"):
        upper, alarm_upper = _run_cusum(
            fill_upper, n_series, n_time, thresholds, options.head_start, reset_value
        )
    if options.sided in ("lower", "two"):
        lower, alarm_lower = _run_cusum(
            fill_lower, n_series, n_time, thresholds, options.head_start, reset_value
        )
    alarm = alarm_upper | alarm_lower
    n_alarms, first_alarm = _series_summary(alarm)
    return NormalCusumResult(
        upper=upper,
        lower=lower,
        alarm_upper=alarm_upper,
        alarm_lower=alarm_lower,
        alarm=alarm,
        n_alarms=n_alarms,
        first_alarm=first_alarm,
        k=k,
        h=h,
    )


def panel_cusum(z: ArrayLike, k: ArrayLike, h: ArrayLike) -> CusumResult:
    """Upper CUSUM of standardised values with a reference value and threshold per series, over a panel.

    Parameters
    ----------
    z : array_like, shape (series, time)
        z-scores that are N(0, 1) in control, signed so that positive is the direction watched (e.g. from
        :func:`forewarn.stats.incontrol.own_baseline_model`); NaN where missing (the CUSUM carries over).
    k : float or array_like (series,)
        Reference value per series (half the shift to detect, in standard deviations).
    h : float or array_like (series,)
        Threshold per series (e.g. from :func:`forewarn.stats.arl.false_alarms.cusum_window_threshold`).

    Returns
    -------
    CusumResult
        ``C_t = max(0, C_{t-1} + z_t - k)``, alarm when ``C_t >= h``, restart at 0 after an alarm.

    References
    ----------
    Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.

    Examples
    --------
    The same as :func:`normal_cusum` with one k and h:

    >>> panel_cusum([[1.0, 2.0, 1.5, -0.5]], 0.5, 4.0).statistic
    array([[0.5, 2. , 3. , 2. ]])
    """
    panel = _as_panel("z", z)
    n_series, n_time = panel.shape
    thresholds = _threshold_vector(h, n_series)
    reference = np.broadcast_to(np.asarray(k, dtype=np.float64), (n_series,))
    if not np.isfinite(reference).all() or (reference < 0).any():
        raise ValueError("k must be finite and >= 0 for every series")

    def fill(first: int, last: int, out: FloatArray) -> None:
        out[...] = (panel[first:last] - reference[first:last, None]).T

    statistic, alarm = _run_cusum(fill, n_series, n_time, thresholds, 0.0, 0.0)
    n_alarms, first_alarm = _series_summary(alarm)
    return CusumResult(
        statistic=statistic, alarm=alarm, n_alarms=n_alarms, first_alarm=first_alarm, threshold=thresholds
    )
