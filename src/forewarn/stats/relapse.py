"""Does an improvement last after the support is withdrawn? Monitoring against the achieved level.

After an intervention ends, each organisation's monthly values are compared with the level it had *achieved* by
the end of the intervention (the mean of its last ``baseline`` months), in units of its own month-to-month noise
(the XmR sigma of those months: mean moving range / 1.128, from ``stats.spc.xmr_limits``). Two signals, each from
the existing charts:

- a lower CUSUM of the standardised values (``stats.cusum.normal_cusum``, reference value ``k``, decision interval
  from a target in-control ARL by ``stats.arl.cusum_crit``): a sustained fall of about ``2k`` sigmas;
- the SPC shift rule (``stats.spc.shift_rule``): ``shift_length`` months in a row below the achieved level.

The first month either signals is the relapse alarm. Values must be oriented so that higher is better (pass
``improvement="decrease"`` for an indicator where lower is better).

References
----------
Page ES (1954). Continuous inspection schemes. Biometrika 41:100-115.
Montgomery DC (2019). Introduction to Statistical Quality Control, 8th ed., sections 6.4 (XmR) and 9.1 (CUSUM).
NHS England (2019). Making Data Count: the shift rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.cusum import NormalCusumOptions, normal_cusum
from forewarn.stats.spc import xmr_limits
from forewarn.stats.spc_rules import relative_to_mean, shift_rule

XMR_D2 = 1.128


@dataclass(frozen=True)
class RelapseOptions:
    """Signals of a relapse. ``target_arl`` is the CUSUM's in-control average run length in months."""

    k: float = 0.5
    target_arl: float = 1000.0
    shift_length: int = 7
    use_cusum: bool = True
    use_shift: bool = True

    def __post_init__(self) -> None:
        if not self.k >= 0:
            raise ValueError("k must be >= 0")
        if not self.target_arl > 1:
            raise ValueError("target_arl must be > 1")
        if self.shift_length < 2:
            raise ValueError("shift_length must be at least 2")
        if not (self.use_cusum or self.use_shift):
            raise ValueError("use at least one of the CUSUM and the shift rule")


@dataclass(frozen=True)
class RelapseMonitor:
    """Follow-up monitoring of a panel of organisations (series x follow-up months).

    Attributes
    ----------
    achieved : (series,)
        Mean of the baseline months: the level achieved by the end of the intervention.
    sigma : (series,)
        XmR sigma of the baseline months.
    z : (series, months)
        ``(value - achieved) / sigma`` (oriented: negative is worse).
    cusum : (series, months)
        The lower CUSUM ``C-`` (non-negative).
    cusum_alarm, shift_alarm, alarm : (series, months)
        Months the CUSUM signals; months completing a run of ``shift_length`` below the achieved level; either.
    first_alarm : (series,)
        Index of the first alarm in the follow-up, -1 if none.
    h : float
        The CUSUM's decision interval.
    """

    achieved: FloatArray
    sigma: FloatArray
    z: FloatArray
    cusum: FloatArray
    cusum_alarm: BoolArray
    shift_alarm: BoolArray
    alarm: BoolArray
    first_alarm: IntArray
    h: float


def _left_aligned(values: FloatArray) -> tuple[FloatArray, IntArray]:
    finite = np.isfinite(values)
    order = np.argsort(~finite, axis=1, kind="stable")
    packed = np.take_along_axis(values, order, axis=1)
    length = finite.sum(axis=1).astype(np.int64)
    packed = np.where(np.arange(values.shape[1])[None, :] < length[:, None], packed, np.nan)
    return packed, length


def _first(flags: BoolArray) -> IntArray:
    any_flag = flags.any(axis=1)
    return np.where(any_flag, flags.argmax(axis=1), -1).astype(np.int64)


def relapse_monitor(
    baseline: ArrayLike,
    follow_up: ArrayLike,
    options: RelapseOptions | None = None,
    *,
    noise: ArrayLike | None = None,
    improvement: Literal["increase", "decrease"] = "increase",
) -> RelapseMonitor:
    """Monitor each series' follow-up against the level achieved in its baseline months.

    Parameters
    ----------
    baseline : array_like (series, b)
        The last months of each intervention (NaN where missing; at least 3 values needed for a sigma).
    follow_up : array_like (series, t)
        The months after withdrawal, in order (NaN where missing: the CUSUM carries over).
    options : RelapseOptions
    noise : array_like (series, m), optional
        Months to take the XmR sigma from, when a longer stretch than the baseline is wanted (a sigma from a
        handful of moving ranges is itself noisy); default the baseline.
    improvement : "increase" or "decrease"
        Which way is better.

    Returns
    -------
    RelapseMonitor
        Series with fewer than 3 baseline values, or no variation, get NaN z and no alarm.

    Examples
    --------
    A series that held its level, and one that fell by two sigmas after six months:

    >>> base = [[1.0, 1.2, 0.8, 1.1, 0.9, 1.0]] * 2
    >>> held = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0] * 4
    >>> fell = held[:6] + [v - 0.3 for v in held[6:]]
    >>> m = relapse_monitor(base, [held, fell])
    >>> m.first_alarm.tolist()
    [-1, 11]
    """
    opts = options or RelapseOptions()
    sign = 1.0 if improvement == "increase" else -1.0
    base = sign * np.atleast_2d(np.asarray(baseline, dtype=np.float64))
    follow = sign * np.atleast_2d(np.asarray(follow_up, dtype=np.float64))
    if base.shape[0] != follow.shape[0]:
        raise ValueError("baseline and follow_up need one row per series each")
    packed, length = _left_aligned(base)
    usable = length >= 3
    limits = xmr_limits(np.where(usable[:, None], np.nan_to_num(packed), 0.0), np.maximum(length, 2))
    achieved = np.where(usable, limits.mean, np.nan)
    sigma = limits.mean_moving_range / XMR_D2
    if noise is not None:
        spread = sign * np.atleast_2d(np.asarray(noise, dtype=np.float64))
        if spread.shape[0] != base.shape[0]:
            raise ValueError("noise needs one row per series")
        packed_noise, noise_length = _left_aligned(spread)
        enough = noise_length >= 3
        noise_limits = xmr_limits(
            np.where(enough[:, None], np.nan_to_num(packed_noise), 0.0), np.maximum(noise_length, 2)
        )
        sigma = np.where(enough, noise_limits.mean_moving_range / XMR_D2, sigma)
    usable &= np.isfinite(sigma) & (sigma > 0)
    sigma = np.where(usable, sigma, np.nan)
    with np.errstate(invalid="ignore"):
        z = (follow - achieved[:, None]) / sigma[:, None]
    z = np.where(usable[:, None], z, np.nan)
    n, t = follow.shape
    cusum_alarm = np.zeros((n, t), dtype=np.bool_)
    cusum = np.full((n, t), np.nan)
    h = float("nan")
    if opts.use_cusum:
        result = normal_cusum(
            np.where(np.isfinite(z), z, np.nan),
            NormalCusumOptions(k=opts.k, target_arl=opts.target_arl, sided="lower"),
        )
        cusum, cusum_alarm, h = result.lower, result.alarm_lower, result.h
    shift_alarm = np.zeros((n, t), dtype=np.bool_)
    if opts.use_shift:
        side = relative_to_mean(np.where(np.isfinite(z), z, np.nan), np.zeros(n))
        below = side == -1
        in_run = shift_rule(side, opts.shift_length) & below
        # shift_rule marks every point of a run; the run is known once its shift_length-th point arrives
        run_length = np.zeros(n, dtype=np.int64)
        for j in range(t):
            run_length = np.where(in_run[:, j], run_length + 1, 0)
            shift_alarm[:, j] = run_length >= opts.shift_length
    alarm = (cusum_alarm | shift_alarm) & usable[:, None]
    return RelapseMonitor(
        achieved=sign * achieved,
        sigma=sigma,
        z=z,
        cusum=cusum,
        cusum_alarm=cusum_alarm & usable[:, None],
        shift_alarm=shift_alarm & usable[:, None],
        alarm=alarm,
        first_alarm=_first(alarm),
        h=h,
    )
