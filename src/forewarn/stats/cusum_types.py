"""The CUSUM charts' options and results: risk-adjusted LLR CUSUM, normal CUSUM and chosen thresholds.

:class:`RiskAdjustedCusumOptions` (rate or odds ratio R to detect, Poisson or Bernoulli likelihood, head start and
reset; Steiner et al. 2000, Biostatistics 1:441; Bottle & Aylin 2008, JRSS A 171:705) and
:class:`NormalCusumOptions` (reference value k, threshold h or a target in-control ARL, sides; Page 1954,
Biometrika 41:100), validated on construction, with the result arrays :class:`CusumResult` and
:class:`NormalCusumResult` and the threshold :class:`CusumThreshold`. Shared by the charts
(:mod:`forewarn.stats.cusum`) and the threshold search (:mod:`forewarn.stats.cusum_threshold`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

LikelihoodForm = Literal["poisson", "bernoulli"]

Reset = Literal["zero", "head_start"]

NormalSides = Literal["upper", "lower", "two"]

ThresholdMethod = Literal["markov", "simulation"]


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
