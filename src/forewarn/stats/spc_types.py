"""The XmR chart's rule constants, result codes and options (NHS England "Making Data Count", as NHSRplotthedots 0.2.2).

Shared by the chart (:mod:`forewarn.stats.spc`), its layout (:mod:`forewarn.stats.spc_layout`) and its rules
(:mod:`forewarn.stats.spc_rules`); the numbers and codes follow NHSRplotthedots' ``ptd_spc``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from forewarn.stats.arrays import FloatArray
from forewarn.stats.improvement import Improvement

XMR_LIMIT_FACTOR = 2.66
"""Process limits sit this many mean moving ranges from the mean (3 / d2, d2 = 1.128)."""
XMR_CLOSE_FACTOR = 2 * (XMR_LIMIT_FACTOR / 3)
"""The "close to the limits" band starts two thirds of the way to the limits (two sigma)."""
MR_SCREEN_FACTOR = 3.267
"""Moving ranges at or above this many mean moving ranges (D4 for n = 2) are screened out."""
MIN_FIX_AFTER_N_POINTS = 12
"""NHSRplotthedots refuses a fixed baseline shorter than this."""
SHORT_GROUP_THRESHOLD = 13
"""Segments with fewer points than this carry a short-group warning (trial limits)."""
SHIFT_LENGTH = 7
"""Points in a row on one side of the mean that make a shift."""
TREND_LENGTH = 7
"""Points in a row strictly rising or falling that make a trend."""
TWO_IN_THREE_WINDOW = 3
"""Window of the two-in-three rule: two of three consecutive points close to a limit, all on one side."""


class SpecialCauseType(enum.IntEnum):
    """Which rule labels a point, after NHSRplotthedots' precedence (outside > trend > 2-in-3 > shift)."""

    COMMON_CAUSE = 0
    ABOVE_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    TREND_INCREASING = 3
    TREND_DECREASING = 4
    TWO_IN_THREE_ABOVE = 5
    TWO_IN_THREE_BELOW = 6
    SHIFT_ABOVE = 7
    SHIFT_BELOW = 8


class PointType(enum.IntEnum):
    """Point type of NHSRplotthedots: the special-cause label oriented by the improvement direction."""

    COMMON_CAUSE = 0
    SPECIAL_CAUSE_IMPROVEMENT = 1
    SPECIAL_CAUSE_CONCERN = 2
    SPECIAL_CAUSE_NEUTRAL_HIGH = 3
    SPECIAL_CAUSE_NEUTRAL_LOW = 4

    @property
    def label(self) -> str:
        """The name NHSRplotthedots prints, e.g. ``special_cause_concern``."""
        return self.name.lower()


class AssuranceType(enum.IntEnum):
    """Assurance icon of NHSRplotthedots: where the target sits against the process limits."""

    NOT_ASSESSED = 0
    CONSISTENT_PASS = 1
    CONSISTENT_FAIL = 2
    INCONSISTENT = 3

    @property
    def label(self) -> str | None:
        """The name NHSRplotthedots prints (``consistent_fail``...), None where it prints NA."""
        return None if self is AssuranceType.NOT_ASSESSED else self.name.lower()


def special_cause_type_labels(
    shift_length: int = SHIFT_LENGTH, trend_length: int = TREND_LENGTH
) -> tuple[str, ...]:
    """Labels of :class:`SpecialCauseType` codes, worded as NHSRplotthedots' ``special_cause_type``.

    Parameters
    ----------
    shift_length, trend_length
        Rule lengths, which appear in the labels ("7 Points Above CL").

    Returns
    -------
    tuple of str
        One label per code, indexed by the code.

    Notes
    -----
    The wording is that of NHSRplotthedots 0.2.2, so that labels can be compared with its output.

    References
    ----------
    NHS England, "Making Data Count: Strengthening your decisions" (2019); NHSRplotthedots 0.2.2,
    ``ptd_special_cause_type``.

    Examples
    --------
    The label ``ptd_spc()`` prints in ``special_cause_type`` for a point of a run of 7 below the mean:

    >>> special_cause_type_labels()[SpecialCauseType.SHIFT_BELOW]
    '7 Points Below CL'
    """
    return (
        "Common Cause",
        "Above UCL",
        "Below LCL",
        f"{trend_length} Point Trend (Increasing)",
        f"{trend_length} Point Trend (Decreasing)",
        "2 in 3 Above CL",
        "2 in 3 Below CL",
        f"{shift_length} Points Above CL",
        f"{shift_length} Points Below CL",
    )


@dataclass(frozen=True, eq=False)
class SpcOptions:
    """Options of an XmR chart, validated once when built.

    Attributes
    ----------
    improvement
        "increase" or "decrease" (the direction that is better), or "neutral".
    fix_after_n_points
        Baseline from the first n points of each segment (n >= 12, as NHSRplotthedots requires); None uses
        every point of the segment.
    shift_length
        Points in a row on one side of the mean that make a shift (7; at least 2).
    trend_length
        Points in a row strictly rising or falling that make a trend (7, some guidance uses 6; at least 3).
    screen_outliers
        Drop moving ranges >= 3.267 mean moving ranges before computing the limits (NHSRplotthedots default).
    target
        None, one target for every series, or one per series (NaN for a series without a target).
    short_group_threshold
        Segments with fewer points get a short-group warning (13, as NHSRplotthedots).
    """

    improvement: Improvement = "increase"
    fix_after_n_points: int | None = None
    shift_length: int = SHIFT_LENGTH
    trend_length: int = TREND_LENGTH
    screen_outliers: bool = True
    target: float | FloatArray | None = None
    short_group_threshold: int = SHORT_GROUP_THRESHOLD

    def __post_init__(self) -> None:
        if self.improvement not in ("increase", "decrease", "neutral"):
            raise ValueError(
                f"improvement must be 'increase', 'decrease' or 'neutral', got {self.improvement!r}"
            )
        if self.fix_after_n_points is not None and (
            not _is_int(self.fix_after_n_points) or self.fix_after_n_points < MIN_FIX_AFTER_N_POINTS
        ):
            raise ValueError(
                f"fix_after_n_points must be an integer >= {MIN_FIX_AFTER_N_POINTS} or None, "
                f"got {self.fix_after_n_points!r}"
            )
        if not _is_int(self.shift_length) or self.shift_length < 2:
            raise ValueError(f"shift_length must be an integer >= 2, got {self.shift_length!r}")
        if not _is_int(self.trend_length) or self.trend_length < 3:
            raise ValueError(f"trend_length must be an integer >= 3, got {self.trend_length!r}")
        if not isinstance(self.screen_outliers, bool | np.bool_):
            raise ValueError(f"screen_outliers must be True or False, got {self.screen_outliers!r}")
        if not _is_int(self.short_group_threshold) or self.short_group_threshold < 1:
            raise ValueError(
                f"short_group_threshold must be a positive integer, got {self.short_group_threshold!r}"
            )
        if self.target is not None:
            target = np.array(self.target, dtype=np.float64)
            if target.ndim > 1:
                raise ValueError(
                    f"target must be a number or a 1-D array (one per series), got shape {target.shape}"
                )
            if np.isinf(target).any():
                raise ValueError("target must be finite (NaN for a series without a target)")
            target.setflags(write=False)
            object.__setattr__(self, "target", float(target) if target.ndim == 0 else target)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# ----------------------------------------------------------------------------------------------------
# Layout: where each chart segment sits in the panel
# ----------------------------------------------------------------------------------------------------
