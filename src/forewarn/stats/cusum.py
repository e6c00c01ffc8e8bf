"""CUSUM charts over panels: the risk-adjusted log-likelihood-ratio CUSUM and the classical normal CUSUM.

The risk-adjusted CUSUM is the one behind mortality alerts (Steiner et al. 2000; Bottle & Aylin 2008, the
Imperial College / Dr Foster method): each period adds the log-likelihood ratio of "the odds (or rate) of the
outcome are R times what the case mix predicts" against "they are as predicted", and the chart signals when
the accumulated evidence reaches a threshold h chosen for a target in-control average run length (ARL).

A panel is a 2-D array, series x time, with NaN where a series has no value. The recursion loops over time
steps only, each step vectorised over a block of series; blocks of rows keep the working set in cache, so a
million series of 36 months run in about a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arl.count_cusum import Direction, binomial_cusum_crit, poisson_cusum_crit
from forewarn.stats.arl.normal_cusum import cusum_crit
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

LikelihoodForm = Literal["poisson", "bernoulli"]
Reset = Literal["zero", "head_start"]
NormalSides = Literal["upper", "lower", "two"]
ThresholdMethod = Literal["markov", "simulation"]

# Rows per block of the time recursion: a (time x rows) block of a few MB stays in cache.
_ROWS_PER_BLOCK = 4096
# Grid points over h when the threshold is found by simulation (resolution h_max / 4000).
_SIMULATION_GRID_POINTS = 4001
# Times the simulation grid may be widened before giving up.
_MAX_GRID_DOUBLINGS = 20


@dataclass(frozen=True)
class CusumResult:
    """A CUSUM chart over a panel.

    Attributes
    ----------
    statistic : ndarray of float, shape (series, time)
        The CUSUM after each period (before any reset), NaN where the period's value is missing.
    alarm : ndarray of bool, shape (series, time)
        True where the statistic reached the threshold.
    n_alarms : ndarray of int, shape (series,)
        Alarms per series.
    first_alarm : ndarray of int, shape (series,)
        Time index of each series' first alarm, -1 if none.
    threshold : ndarray of float, shape (series,)
        The threshold h used for each series.
    """

    statistic: FloatArray
    alarm: BoolArray
    n_alarms: IntArray
    first_alarm: IntArray
    threshold: FloatArray


@dataclass(frozen=True)
class NormalCusumResult:
    """A classical CUSUM chart of standardised values over a panel.

    Attributes
    ----------
    upper : ndarray of float, shape (series, time)
        Upper CUSUM ``C+`` (NaN where missing, or everywhere when only the lower side is run).
    lower : ndarray of float, shape (series, time)
        Lower CUSUM ``C-`` as a non-negative number (NaN where missing or when only the upper side is run).
    alarm_upper, alarm_lower : ndarray of bool, shape (series, time)
        Where each side reached h.
    alarm : ndarray of bool, shape (series, time)
        Where either side reached h.
    n_alarms : ndarray of int, shape (series,)
        Periods with an alarm on either side, per series.
    first_alarm : ndarray of int, shape (series,)
        Time index of the first alarm, -1 if none.
    k : float
        Reference value used.
    h : float
        Decision interval used (given, or found from the target ARL).
    """

    upper: FloatArray
    lower: FloatArray
    alarm_upper: BoolArray
    alarm_lower: BoolArray
    alarm: BoolArray
    n_alarms: IntArray
    first_alarm: IntArray
    k: float
    h: float


@dataclass(frozen=True)
class CusumThreshold:
    """A threshold h for the risk-adjusted CUSUM and the in-control ARL it gives.

    Attributes
    ----------
    h : float
        The threshold, on the log-likelihood-ratio scale.
    arl : float
        In-control ARL at h (exact for ``"markov"``; a Monte Carlo estimate for ``"simulation"``).
    arl_standard_error : float
        Monte Carlo standard error of ``arl`` (0 for ``"markov"``).
    method : str
        ``"markov"`` or ``"simulation"``.
    expected : float
        The typical expected count per period the Markov chain used (median of ``expected``); NaN for
        ``"simulation"``, which uses the whole pattern.
    """

    h: float
    arl: float
    arl_standard_error: float
    method: str
    expected: float


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(float(value))


@dataclass(frozen=True)
class RiskAdjustedCusumOptions:
    """Options for :func:`risk_adjusted_cusum`, validated on construction.

    Parameters
    ----------
    rate_ratio : float
        R, the odds ratio (Bernoulli form) or rate ratio (Poisson form) the chart is tuned to detect; > 0 and
        not 1. R = 2 (default) watches for a doubling of the odds of death; R = 0.5 is the lower CUSUM that
        watches for a halving (improvement).
    form : {"poisson", "bernoulli"}
        The likelihood behind the increment; see :func:`llr_increments`.
    head_start : float
        Starting value S_0 (fast initial response), >= 0 and below the threshold.
    reset : {"zero", "head_start"}
        Value the CUSUM restarts from after an alarm: 0 (default) or the head start.

    Raises
    ------
    ValueError
        If an option is out of range.
    """

    rate_ratio: float = 2.0
    form: LikelihoodForm = "poisson"
    head_start: float = 0.0
    reset: Reset = "zero"

    def __post_init__(self) -> None:
        if not (_is_number(self.rate_ratio) and self.rate_ratio > 0 and self.rate_ratio != 1):
            raise ValueError(f"rate_ratio must be a positive number other than 1; got {self.rate_ratio!r}")
        _check_choice("form", self.form, ("poisson", "bernoulli"))
        _check_choice("reset", self.reset, ("zero", "head_start"))
        if not (_is_number(self.head_start) and self.head_start >= 0):
            raise ValueError(f"head_start must be a finite number >= 0; got {self.head_start!r}")


@dataclass(frozen=True)
class NormalCusumOptions:
    """Options for :func:`normal_cusum`, validated on construction.

    Give exactly one of ``h`` and ``target_arl``.

    Parameters
    ----------
    k : float
        Reference value in standard deviations, >= 0 (0.5 tunes the chart to a one-sigma shift).
    h : float or None
        Decision interval, > 0.
    target_arl : float or None
        In-control ARL to choose h for, > 1 (by :func:`forewarn.stats.arl.cusum_crit`, one- or two-sided to
        match ``sided``, with the head start).
    sided : {"upper", "lower", "two"}
        Which CUSUMs to run.
    head_start : float
        Start value of each CUSUM, >= 0 and below h.
    reset : {"zero", "head_start"}
        Value a side restarts from after it signals (the other side is not reset).

    Raises
    ------
    ValueError
        If an option is out of range, or neither or both of ``h`` and ``target_arl`` are given.
    """

    k: float = 0.5
    h: float | None = None
    target_arl: float | None = None
    sided: NormalSides = "two"
    head_start: float = 0.0
    reset: Reset = "zero"

    def __post_init__(self) -> None:
        if not (_is_number(self.k) and self.k >= 0):
            raise ValueError(f"k must be a finite number >= 0; got {self.k!r}")
        if (self.h is None) == (self.target_arl is None):
            raise ValueError("give exactly one of h and target_arl")
        if self.h is not None and not (_is_number(self.h) and self.h > 0):
            raise ValueError(f"h must be a positive finite number; got {self.h!r}")
        if self.target_arl is not None and not (_is_number(self.target_arl) and self.target_arl > 1):
            raise ValueError(f"target_arl must be a finite number > 1; got {self.target_arl!r}")
        _check_choice("sided", self.sided, ("upper", "lower", "two"))
        _check_choice("reset", self.reset, ("zero", "head_start"))
        if not (_is_number(self.head_start) and self.head_start >= 0):
            raise ValueError(f"head_start must be a finite number >= 0; got {self.head_start!r}")
        if self.h is not None and self.head_start >= self.h:
            raise ValueError(f"head_start must be below h; got head_start={self.head_start!r}, h={self.h!r}")


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


def _typical(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("expected has no finite values to take a typical expected count from")
    return float(np.median(finite))


def llr_cusum_threshold(
    target_arl: float,
    expected: ArrayLike,
    *,
    rate_ratio: float = 2.0,
    form: LikelihoodForm = "poisson",
    denominators: ArrayLike | None = None,
    method: ThresholdMethod = "markov",
    max_denominator: int = 200,
    n_paths: int = 4000,
    horizon_multiple: float = 10.0,
    seed: int = 20000441,
) -> CusumThreshold:
    """Threshold h of the risk-adjusted CUSUM for a target in-control ARL (in periods, e.g. months).

    Parameters
    ----------
    target_arl : float
        Required in-control ARL in periods, > 1 (e.g. 60 for one false alarm per five years of months).
    expected : float or array_like
        Expected counts per period: a number, a series (time pattern, cycled), or a panel (series x time).
    rate_ratio : float
        R of the chart (> 0, not 1); R < 1 gives the threshold of the lower CUSUM.
    form : {"poisson", "bernoulli"}
        Likelihood form, as in :func:`llr_increments`.
    denominators : float or array_like or None
        Patients per period (Bernoulli form), shaped like ``expected``.
    method : {"markov", "simulation"}
        ``"markov"`` (default): exact Markov chain of the CUSUM with constant expected count, the median E of
        ``expected`` (and median N). ``"simulation"``: Monte Carlo with in-control counts drawn for the given
        pattern of E (and N), for when E varies too much over time or between series for one typical value.
    max_denominator : int
        Markov method: the reference value k is read as a fraction with at most this denominator (so the chain
        is exact for a k within ``1/max_denominator^2`` of the true one).
    n_paths : int
        Simulation: number of simulated in-control paths (default 4000: ARL standard error about 1.6%).
    horizon_multiple : float
        Simulation: paths run for ``horizon_multiple * target_arl`` periods (runs longer than that are
        censored; with the default 10 the bias is below 1e-4 relative).
    seed : int
        Simulation: seed of the numpy Generator, so the threshold is reproducible.

    Returns
    -------
    CusumThreshold
        h, the in-control ARL at h, its Monte Carlo standard error, the method and the typical E used.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    Markov method: dividing W by ``|ln R|`` turns the chart into a CUSUM of counts,
    ``S/|ln R| = max(0, S/|ln R| + sign(ln R) (O - k))`` with ``k = (R - 1) E / ln R`` (Poisson) or
    ``k = N ln(1 - p + R p) / ln R`` (Bernoulli, O ~ binomial(N, p = E/N)), whose ARL is exact on the
    lattice of multiples of 1/m (:func:`forewarn.stats.arl.poisson_cusum_crit`). The ARL rises in steps
    between lattice points, so h is the smallest lattice value whose ARL reaches the target, times ``|ln R|``.

    Simulation: before its first alarm the chart never resets, so the run length for threshold h is the first
    time the running maximum ``M_t = max_{s <= t} S_s`` reaches h, and ``ARL(h) = sum_t P(M_t < h)``. One set
    of simulated paths (each with the E pattern of a randomly drawn series) therefore gives the ARL of every h
    on a grid at once; h is interpolated where the estimated ARL crosses the target. The standard error comes
    from ``RL^2 = sum_t (2t + 1) 1[RL > t]`` accumulated the same way.

    References
    ----------
    Steiner, S. H., Cook, R. J., Farewell, V. T. & Treasure, T. (2000). Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 1, 441-452.
    Lucas, J. M. (1985). Counted data CUSUM's. Technometrics 27, 129-144.

    Examples
    --------
    With R = 2 and E = 2.4 expected deaths a month, k = 2.4/ln 2 is read as 277/80 and the threshold on the
    count scale is h/ln 2 = 3.55 = 284/80; R ``surveillance::arlCusum(h = 3.55, k = 3.4625, theta = 2.4,
    digits = 4)$ARL`` builds the same chain:

    >>> threshold = llr_cusum_threshold(60.0, 2.4)
    >>> round(threshold.h / math.log(2), 6), round(threshold.arl, 4)
    (3.55, 66.3893)
    """
    target = float(target_arl)
    if not (_is_number(target_arl) and target > 1):
        raise ValueError(f"target_arl must be a finite number > 1; got {target_arl!r}")
    RiskAdjustedCusumOptions(rate_ratio=rate_ratio, form=form)
    _check_choice("method", method, ("markov", "simulation"))
    expected_values = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if np.isinf(expected_values).any() or (expected_values < 0).any():
        raise ValueError("expected counts must be finite and >= 0 (NaN for missing)")
    denominator_values: FloatArray | None = None
    if form == "bernoulli":
        if denominators is None:
            raise ValueError("the Bernoulli form needs denominators (patients per period)")
        denominator_values = np.atleast_1d(np.asarray(denominators, dtype=np.float64))
        if denominator_values.shape != expected_values.shape:
            raise ValueError("denominators must have the shape of expected")
        if (expected_values > denominator_values).any() or (denominator_values < 0).any():
            raise ValueError("denominators must be >= 0 and >= expected")
    log_ratio = math.log(rate_ratio)
    direction: Direction = "upper" if rate_ratio > 1 else "lower"
    if method == "markov":
        typical_expected = _typical(expected_values)
        if typical_expected <= 0:
            raise ValueError(
                "the typical (median) expected count is 0: no events are expected, so no threshold"
            )
        if denominator_values is None:
            k = (rate_ratio - 1.0) * typical_expected / log_ratio
            lattice = poisson_cusum_crit(
                typical_expected, k, target, direction=direction, max_denominator=max_denominator
            )
        else:
            trials = max(1, round(_typical(denominator_values)))
            risk = min(typical_expected / trials, 1.0)
            k = trials * math.log1p((rate_ratio - 1.0) * risk) / log_ratio
            lattice = binomial_cusum_crit(
                risk, k, target, trials=trials, direction=direction, max_denominator=max_denominator
            )
        return CusumThreshold(
            h=lattice.h * abs(log_ratio),
            arl=lattice.arl,
            arl_standard_error=0.0,
            method="markov",
            expected=typical_expected,
        )
    if not (isinstance(n_paths, int) and n_paths >= 100):
        raise ValueError(f"n_paths must be an integer >= 100; got {n_paths!r}")
    if not (_is_number(horizon_multiple) and horizon_multiple >= 2):
        raise ValueError(f"horizon_multiple must be >= 2; got {horizon_multiple!r}")
    return _simulated_threshold(
        target, expected_values, denominator_values, float(rate_ratio), n_paths, float(horizon_multiple), seed
    )


def _simulated_threshold(
    target: float,
    expected: FloatArray,
    denominators: FloatArray | None,
    rate_ratio: float,
    n_paths: int,
    horizon_multiple: float,
    seed: int,
) -> CusumThreshold:
    patterns = expected.reshape(-1, expected.shape[-1])
    denominator_patterns = None if denominators is None else denominators.reshape(patterns.shape)
    usable = np.isfinite(patterns).any(axis=1)
    if not usable.any():
        raise ValueError("expected has no finite values to simulate from")
    usable_rows = np.flatnonzero(usable)
    horizon = math.ceil(horizon_multiple * target)
    mean_expected = float(np.nanmean(patterns))
    if mean_expected <= 0:
        raise ValueError("every expected count is 0: no events are expected, so no threshold")
    # The grid's top starts at twice the Poisson-form Markov threshold at the mean E (a scale, not an answer)
    # and is doubled until the estimated ARL at the top reaches the target.
    top = 2.0 * llr_cusum_threshold(target, mean_expected, rate_ratio=rate_ratio).h
    for _ in range(_MAX_GRID_DOUBLINGS):
        rng = np.random.default_rng(seed)
        grid = np.linspace(0.0, top, _SIMULATION_GRID_POINTS)
        sum_run, sum_square = _simulate_run_lengths(
            rng, grid, patterns, denominator_patterns, usable_rows, rate_ratio, n_paths, horizon
        )
        arl = sum_run / n_paths
        if arl[-1] >= target:
            break
        top *= 2.0
    else:
        raise ValueError(f"no threshold up to h = {top:g} reaches the target ARL {target:g}")
    above = int(np.argmax(arl >= target))
    if above == 0:
        raise ValueError("the target ARL is reached at h = 0; it must exceed 1")
    fraction = (target - arl[above - 1]) / (arl[above] - arl[above - 1])
    h = float(grid[above - 1] + fraction * (grid[above] - grid[above - 1]))
    variance = sum_square[above] / n_paths - arl[above] ** 2
    return CusumThreshold(
        h=h,
        arl=float(target),
        arl_standard_error=float(math.sqrt(max(variance, 0.0) / n_paths)),
        method="simulation",
        expected=math.nan,
    )


def _simulate_run_lengths(
    rng: np.random.Generator,
    grid: FloatArray,
    patterns: FloatArray,
    denominator_patterns: FloatArray | None,
    usable_rows: IntArray,
    rate_ratio: float,
    n_paths: int,
    horizon: int,
) -> tuple[FloatArray, FloatArray]:
    """Sums over paths of RL(h) and RL(h)^2 for every h on the grid (RL censored at horizon + 1)."""
    log_ratio = math.log(rate_ratio)
    period_count = patterns.shape[1]
    chosen = rng.choice(usable_rows, size=n_paths)
    path_expected = patterns[chosen]
    path_denominators = None if denominator_patterns is None else denominator_patterns[chosen]
    statistic = np.zeros(n_paths)
    running_max = np.zeros(n_paths)
    # counts[g] accumulates, over t >= 1 and paths, 1[M_t < grid[g]] via the first grid index above M_t.
    below_counts = np.zeros(grid.size + 1)
    below_weighted = np.zeros(grid.size + 1)
    active = np.arange(n_paths)
    for t in range(1, horizon + 1):
        column = (t - 1) % period_count
        mean = path_expected[active, column]
        present = np.isfinite(mean)
        safe_mean = np.where(present, mean, 0.0)
        if path_denominators is None:
            counts = rng.poisson(safe_mean)
            increment = counts * log_ratio - (rate_ratio - 1.0) * safe_mean
        else:
            trials = np.where(present, path_denominators[active, column], 0.0)
            risk = np.divide(safe_mean, trials, out=np.zeros_like(safe_mean), where=trials > 0)
            counts = rng.binomial(trials.astype(np.int64), risk)
            increment = counts * log_ratio - trials * np.log1p((rate_ratio - 1.0) * risk)
        increment = np.where(present, increment, 0.0)
        statistic[active] = np.maximum(statistic[active] + increment, 0.0)
        running_max[active] = np.maximum(running_max[active], statistic[active])
        first_above = np.searchsorted(grid, running_max[active], side="right")
        tally = np.bincount(first_above, minlength=grid.size + 1).astype(np.float64)
        below_counts += tally
        below_weighted += (2.0 * t + 1.0) * tally
        # a path past the top of the grid adds nothing more to any grid point
        active = active[first_above < grid.size]
        if active.size == 0:
            break
    # RL = 1 + sum_{t>=1} 1[M_t < h]; RL^2 = 1 + sum_{t>=1} (2t + 1) 1[M_t < h]
    sum_run = n_paths + np.cumsum(below_counts)[: grid.size]
    sum_square = n_paths + np.cumsum(below_weighted)[: grid.size]
    return sum_run, sum_square
