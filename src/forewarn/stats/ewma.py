"""EWMA control charts over whole panels, with exact time-varying limits.

The exponentially weighted moving average ``Z_t = lambda x_t + (1 - lambda) Z_{t-1}`` smooths each series; its
control limits follow the exact standard deviation of Z_t, which grows from ``lambda sigma`` at the first
point to the asymptotic ``sigma sqrt(lambda / (2 - lambda))`` (Montgomery 2019, eq. 9.24). L can be given or
chosen so that the chart, with these very limits, has a target in-control ARL
(:func:`forewarn.stats.arl.ewma_crit`).

A panel is a 2-D array, series x time, NaN where a value is missing; the recursion loops over time steps, each
vectorised over a block of series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arl.ewma import ewma_crit
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

# Rows per block of the time recursion (keeps a time x rows block in cache).
_ROWS_PER_BLOCK = 4096


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(float(value))


@dataclass(frozen=True)
class EwmaOptions:
    """Options for :func:`ewma_chart`, validated on construction.

    Give exactly one of ``L`` and ``target_arl``.

    Parameters
    ----------
    lam : float
        Smoothing constant lambda, ``0 < lam <= 1`` (default 0.2; 1 is the Shewhart chart).
    L : float or None
        Limit width in standard deviations of Z_t, > 0.
    target_arl : float or None
        In-control ARL the chart should have, > 1; L is then found for the exact time-varying limits the chart
        uses (``ewma_crit(lam, target_arl, limits="varying")``), so the false-alarm rate is right from the
        start.
    reset : bool
        Restart the EWMA from the centre (and its variance from 0) after an alarm. Default False: the usual
        chart keeps smoothing through an alarm.

    Raises
    ------
    ValueError
        If an option is out of range, or neither or both of ``L`` and ``target_arl`` are given.
    """

    lam: float = 0.2
    L: float | None = None
    target_arl: float | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        if not (_is_number(self.lam) and 0 < self.lam <= 1):
            raise ValueError(f"lam must be in (0, 1]; got {self.lam!r}")
        if (self.L is None) == (self.target_arl is None):
            raise ValueError("give exactly one of L and target_arl")
        if self.L is not None and not (_is_number(self.L) and self.L > 0):
            raise ValueError(f"L must be a positive finite number; got {self.L!r}")
        if self.target_arl is not None and not (_is_number(self.target_arl) and self.target_arl > 1):
            raise ValueError(f"target_arl must be a finite number > 1; got {self.target_arl!r}")
        if not isinstance(self.reset, bool):
            raise ValueError(f"reset must be True or False; got {self.reset!r}")


@dataclass(frozen=True)
class EwmaResult:
    """An EWMA chart over a panel.

    Attributes
    ----------
    statistic : ndarray of float, shape (series, time)
        Z_t, NaN where the value is missing (Z carries over unchanged).
    lower_limit, upper_limit : ndarray of float, shape (series, time)
        ``centre -+ L sd sqrt(v_t)``, NaN where the value is missing.
    alarm_upper, alarm_lower : ndarray of bool, shape (series, time)
        Z above the upper or below the lower limit.
    alarm : ndarray of bool, shape (series, time)
        Either.
    n_alarms : ndarray of int, shape (series,)
        Alarms per series.
    first_alarm : ndarray of int, shape (series,)
        Time index of each series' first alarm, -1 if none.
    lam : float
        Smoothing constant used.
    L : float
        Limit width used (given, or found from the target ARL).
    """

    statistic: FloatArray
    lower_limit: FloatArray
    upper_limit: FloatArray
    alarm_upper: BoolArray
    alarm_lower: BoolArray
    alarm: BoolArray
    n_alarms: IntArray
    first_alarm: IntArray
    lam: float
    L: float


def _per_series(name: str, values: ArrayLike, n_series: int, positive: bool) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(n_series, float(array))
    if array.shape != (n_series,):
        raise ValueError(
            f"{name} must be a number or one value per series ({n_series}); got shape {array.shape}"
        )
    if not np.isfinite(array).all() or (positive and (array <= 0).any()):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''}")
    return array


def ewma_chart(
    values: ArrayLike,
    options: EwmaOptions,
    *,
    centre: ArrayLike = 0.0,
    sd: ArrayLike = 1.0,
) -> EwmaResult:
    """EWMA chart with exact time-varying limits over a panel of series.

    Parameters
    ----------
    values : array_like, shape (series, time) or (time,)
        Observations; NaN where missing.
    options : EwmaOptions
        lambda, L (or a target ARL) and the reset rule.
    centre : float or array_like of shape (series,)
        In-control mean of each series (default 0, for z-scores).
    sd : float or array_like of shape (series,)
        In-control standard deviation of one observation, > 0 (default 1).

    Returns
    -------
    EwmaResult
        Z_t, the limits, alarms, alarms per series, first alarm and the lambda and L used.

    Raises
    ------
    ValueError
        If the panel is not 1-D or 2-D, contains infinities, or centre/sd do not match the series.

    Notes
    -----
    With ``Z_0 = mu_0`` and ``v_0 = 0``, for each observed ``x_t``

    .. math:: Z_t = \\lambda x_t + (1 - \\lambda) Z_{t-1}, \\qquad
              v_t = (1 - \\lambda)^2 v_{t-1} + \\lambda^2,

    so ``sigma^2 v_t`` is the exact variance of Z_t; with no gaps ``v_t = lambda/(2 - lambda)
    (1 - (1 - lambda)^(2t))``. A missing value leaves both Z and v unchanged, so the limits stay exact across
    gaps. The chart signals when ``|Z_t - mu_0| > L sigma sqrt(v_t)``.

    References
    ----------
    Roberts, S. W. (1959). Control chart tests based on geometric moving averages. Technometrics 1, 239-250.
    Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving average control schemes: properties
    and enhancements. Technometrics 32, 1-12.
    Montgomery, D. C. (2019). Introduction to Statistical Quality Control, 8th ed., section 9.2.

    Examples
    --------
    The same statistic and limits as R ``qcc::ewma(c(1, 0.5, 2), center = 0, std.dev = 1, lambda = 0.2,
    nsigmas = 3)``:

    >>> chart = ewma_chart([[1.0, 0.5, 2.0]], EwmaOptions(lam=0.2, L=3.0))
    >>> chart.statistic.round(3).tolist()
    [[0.2, 0.26, 0.608]]
    >>> chart.upper_limit.round(6).tolist()
    [[0.6, 0.768375, 0.858985]]
    """
    panel = np.asarray(values, dtype=np.float64)
    if panel.ndim == 1:
        panel = panel[None, :]
    if panel.ndim != 2:
        raise ValueError(
            f"values must be a 2-D panel (series x time) or a 1-D series; got {panel.ndim} dimensions"
        )
    if np.isinf(panel).any():
        raise ValueError("values must not contain infinite values (use NaN for missing)")
    n_series, n_time = panel.shape
    centres = _per_series("centre", centre, n_series, positive=False)
    sds = _per_series("sd", sd, n_series, positive=True)
    lam = float(options.lam)
    if options.target_arl is None:
        width = float(options.L or 0.0)
    else:
        width = ewma_crit(lam, float(options.target_arl), limits="varying")
    statistic = np.empty((n_series, n_time))
    lower = np.empty((n_series, n_time))
    upper = np.empty((n_series, n_time))
    alarm_upper = np.empty((n_series, n_time), dtype=np.bool_)
    alarm_lower = np.empty((n_series, n_time), dtype=np.bool_)
    for first in range(0, n_series, _ROWS_PER_BLOCK):
        last = min(n_series, first + _ROWS_PER_BLOCK)
        block = np.array(panel[first:last].T, order="C")  # time-major: one contiguous row per step
        missing = np.isnan(block)
        # A missing value is an update with weight 0: Z and v carry over unchanged.
        weight = np.where(missing, 0.0, lam)
        block[missing] = 0.0
        variance_keep = np.square(1.0 - weight)
        variance_add = np.square(weight)
        block_centre = centres[first:last]
        smoothed = block_centre.copy()
        variance_factor = np.zeros(last - first)
        out_statistic = np.empty_like(block)
        out_variance = np.empty_like(block)
        step = np.empty(last - first)
        for t in range(n_time):
            # Z += w (x - Z); v = (1 - w)^2 v + w^2
            np.subtract(block[t], smoothed, out=step)
            step *= weight[t]
            smoothed += step
            variance_factor *= variance_keep[t]
            variance_factor += variance_add[t]
            out_statistic[t] = smoothed
            out_variance[t] = variance_factor
            if options.reset:
                signalled = ~missing[t] & (
                    np.abs(smoothed - block_centre) > width * sds[first:last] * np.sqrt(variance_factor)
                )
                np.copyto(smoothed, block_centre, where=signalled)
                np.copyto(variance_factor, 0.0, where=signalled)
        out_half_width = width * sds[first:last] * np.sqrt(out_variance)
        out_statistic[missing] = np.nan
        out_half_width[missing] = np.nan
        statistic[first:last] = out_statistic.T
        upper[first:last] = (block_centre + out_half_width).T
        lower[first:last] = (block_centre - out_half_width).T
    with np.errstate(invalid="ignore"):
        alarm_upper[...] = statistic > upper
        alarm_lower[...] = statistic < lower
    alarm = alarm_upper | alarm_lower
    n_alarms = alarm.sum(axis=1, dtype=np.int64)
    first_alarm = np.where(n_alarms > 0, np.argmax(alarm, axis=1), -1).astype(np.int64)
    return EwmaResult(
        statistic=statistic,
        lower_limit=lower,
        upper_limit=upper,
        alarm_upper=alarm_upper,
        alarm_lower=alarm_lower,
        alarm=alarm,
        n_alarms=n_alarms,
        first_alarm=first_alarm,
        lam=lam,
        L=width,
    )
