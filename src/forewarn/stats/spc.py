"""XmR (individuals) charts with the NHS England "Making Data Count" rules, over whole panels.

A panel is a 2-D array, one row per series (an indicator at an organisation) and one column per time point,
NaN where a series is shorter or a value is missing. Every series, and every rebased segment of a series, gets
its own baseline, limits and special-cause rules in one vectorised call.

The numbers follow NHSRplotthedots 0.2.2 (``ptd_spc``), the NHS-R community's implementation of the Making
Data Count guidance: process limits at mean +- 2.66 mean moving range, optional screening of moving ranges,
and the four rules (a point outside the limits, a shift, a trend, two of three points close to a limit).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, Int8Array, IntArray
from forewarn.stats.improvement import Improvement

ScalarT = TypeVar("ScalarT", bound=np.generic)

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


@dataclass(frozen=True)
class SegmentLayout:
    """Map between a panel (series x time) and its chart segments (one row per segment, points left-aligned).

    A segment is a maximal run of observed points of one series with the same phase. Missing points (NaN) are
    skipped, as if the row were absent from the data, so a moving range bridges a gap.

    Attributes
    ----------
    n_series, n_times
        Shape of the panel.
    series
        Per segment: the panel row it belongs to.
    segment
        Per segment: its ordinal within its series (0, 1, ...).
    length
        Per segment: its number of observed points.
    is_last
        Per segment: True for the last segment of its series.
    observed
        Mask of observed points of the panel; None when the segments are the panel rows themselves (no phase
        change and no NaN before an observed point), the fast path where nothing is copied.

    Notes
    -----
    The observed points of the panel in row-major order are the segments' points in segment-then-position
    order, so moving between the two layouts is one gather or scatter of flat indices.

    References
    ----------
    NHSRplotthedots 0.2.2 groups by facet and rebase group; qicharts2 0.8.1 splits by facet and part.

    Examples
    --------
    >>> panel = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, np.nan, 6.0, np.nan]])
    >>> layout = segment_layout(panel, phase=np.array([[0, 0, 1, 1], [0, 0, 0, 0]]))
    >>> layout.to_segments(panel).tolist()
    [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    >>> layout.per_point(np.array([10.0, 20.0, 30.0])).tolist()
    [[10.0, 10.0, 20.0, 20.0], [30.0, nan, 30.0, nan]]
    """

    n_series: int
    n_times: int
    series: IntArray
    segment: IntArray
    length: IntArray
    is_last: BoolArray
    observed: BoolArray | None

    @property
    def n_segments(self) -> int:
        """Number of chart segments."""
        return int(self.series.size)

    @property
    def width(self) -> int:
        """Columns of the segment panel (the longest segment, or the panel width on the fast path)."""
        return self.n_times if self.observed is None else int(self.length.max())

    @functools.cached_property
    def _valid(self) -> BoolArray:
        mask: BoolArray = np.arange(self.width)[None, :] < self.length[:, None]
        return mask

    @functools.cached_property
    def _flat_points(self) -> tuple[IntArray, IntArray]:
        # flat positions of the observed points in the segment panel and in the panel, both in row-major
        # order: the segments' points in segment-then-position order are the observed points in row order
        observed = self.observed if self.observed is not None else self._valid
        return np.flatnonzero(self._valid), np.flatnonzero(observed)

    def valid(self) -> BoolArray:
        """Mask of real points in the segment panel."""
        return self._valid

    def to_segments(self, panel: NDArray[ScalarT], fill: float | bool | int = np.nan) -> NDArray[ScalarT]:
        """Rearrange a panel-shaped array into the segment panel (left-aligned, ``fill`` after each segment).

        Parameters
        ----------
        panel
            Array of shape (n_series, n_times).
        fill
            Value for cells after the end of a segment.

        Returns
        -------
        ndarray
            Array of shape (n_segments, width); the panel itself on the fast path.
        """
        if self.observed is None:
            return panel
        seg_points, panel_points = self._flat_points
        out = np.full((self.n_segments, self.width), fill, dtype=panel.dtype)
        out.ravel()[seg_points] = np.ascontiguousarray(panel).ravel()[panel_points]
        return out

    def to_panel(
        self,
        seg: NDArray[ScalarT],
        fill: float | bool | int = np.nan,
        out: NDArray[ScalarT] | None = None,
    ) -> NDArray[ScalarT]:
        """Scatter a segment-panel array back to the panel (``fill`` where a point is missing).

        Parameters
        ----------
        seg
            Array of shape (n_segments, width).
        fill
            Value for missing points.
        out
            Optional C-contiguous array of shape (n_series, n_times) to write into.

        Returns
        -------
        ndarray
            Array of shape (n_series, n_times): ``out`` when given, else ``seg`` itself on the fast path.
        """
        if self.observed is None:
            if out is None:
                return seg
            out[...] = seg
            return out
        if out is None:
            out = np.empty((self.n_series, self.n_times), dtype=seg.dtype)
        seg_points, panel_points = self._flat_points
        out[...] = fill
        if out.flags.c_contiguous:
            out.reshape(-1)[panel_points] = np.ascontiguousarray(seg).ravel()[seg_points]
        else:
            out[self.observed] = seg[self._valid]
        return out

    def per_point(
        self,
        per_segment: NDArray[ScalarT],
        fill: float | bool | int = np.nan,
        out: NDArray[ScalarT] | None = None,
    ) -> NDArray[ScalarT]:
        """Broadcast one value per segment to each of its points in the panel (``fill`` where missing).

        Parameters
        ----------
        per_segment
            Array of shape (n_segments,).
        fill
            Value for missing points and padding.
        out
            Optional array of shape (n_series, n_times) to write into.

        Returns
        -------
        ndarray
            Array of shape (n_series, n_times).
        """
        seg = (
            np.empty((self.n_segments, self.width), dtype=per_segment.dtype)
            if self.observed is not None
            else out
        )
        if seg is None:
            seg = np.empty((self.n_segments, self.width), dtype=per_segment.dtype)
        seg[...] = per_segment[:, None]
        if bool((self.length < self.width).any()):
            np.copyto(seg, np.asarray(fill, dtype=seg.dtype), where=~self.valid())
        return seg if self.observed is None else self.to_panel(seg, fill, out)


def as_panel(values: ArrayLike, name: str = "values") -> FloatArray:
    """Check and convert a panel to a 2-D float array (series x time).

    Parameters
    ----------
    values
        Array-like of shape (n_series, n_times); NaN for missing points.
    name
        Name used in error messages.

    Returns
    -------
    ndarray of float64
        The panel (not copied when already float64).

    Notes
    -----
    Raises ValueError when the array is not 2-D, is empty, or holds an infinite value.

    References
    ----------
    None: an input check.

    Examples
    --------
    >>> as_panel([[1, 2, 3]]).shape
    (1, 3)
    """
    try:
        panel = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric 2-D array (series x time): {exc}") from exc
    if panel.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (series x time), got {panel.ndim} dimension(s)")
    if panel.shape[0] == 0 or panel.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {panel.shape})")
    if np.isinf(panel).any():
        raise ValueError(f"{name} holds an infinite value; use NaN for a missing point")
    return panel


def as_phase(phase: ArrayLike | None, shape: tuple[int, ...], name: str = "values") -> IntArray | None:
    """Check a phase (rebase segment, part) panel: integers, the shape of the values.

    Parameters
    ----------
    phase
        None, or an integer array-like of shape ``shape``.
    shape
        Shape of the values panel.
    name
        Name of the values, for error messages.

    Returns
    -------
    ndarray of int64 or None
        The phase panel.

    Notes
    -----
    Raises ValueError for a wrong shape or a non-integer dtype. Monotonicity is checked per segment layout.

    References
    ----------
    None: an input check.

    Examples
    --------
    >>> as_phase([[0, 0, 1]], (1, 3)).tolist()
    [[0, 0, 1]]
    """
    if phase is None:
        return None
    phase_arr = np.asarray(phase)
    if phase_arr.shape != shape:
        raise ValueError(f"phase must have the shape of {name} {shape}, got {phase_arr.shape}")
    if not (np.issubdtype(phase_arr.dtype, np.integer) or phase_arr.dtype == np.bool_):
        raise ValueError(f"phase must be an integer array, got dtype {phase_arr.dtype}")
    return phase_arr.astype(np.int64, copy=False)


def segment_layout(
    values: FloatArray,
    phase: IntArray | None = None,
    min_points: int = 1,
    name: str = "values",
    row_offset: int = 0,
) -> SegmentLayout:
    """Find the chart segments of a panel: maximal runs of observed points with the same phase.

    Parameters
    ----------
    values
        Panel of shape (n_series, n_times), NaN for missing points (from :func:`as_panel`).
    phase
        Optional integer array of the same shape: the rebase segment (phase, part) of each point,
        non-decreasing along time; a new segment starts where it increases. None: one segment per series.
    min_points
        Segments with fewer observed points raise ValueError (a chart needs them).
    name
        Name used in error messages.
    row_offset
        Added to row numbers in error messages (when ``values`` is a block of a larger panel).

    Returns
    -------
    SegmentLayout
        Where each segment sits.

    Notes
    -----
    When there is no phase change and every series is observed from its first column with only trailing NaN,
    the segments are the panel rows and nothing is copied.

    References
    ----------
    NHSRplotthedots 0.2.2, ``ptd_rebase`` (rebase groups); qicharts2 0.8.1, ``qic(part = ...)``.

    Examples
    --------
    >>> layout = segment_layout(as_panel([[1.0, 2.0, 3.0, 4.0]]), phase=np.array([[0, 0, 1, 1]]))
    >>> layout.length.tolist(), layout.segment.tolist()
    ([2, 2], [0, 1])
    """
    n_series, n_times = values.shape
    observed = ~np.isnan(values)
    counts = observed.sum(axis=1)
    phase_arr = as_phase(phase, values.shape, name)
    empty_rows = np.flatnonzero(counts == 0)
    if empty_rows.size:
        first_row = empty_rows[0] + row_offset
        raise ValueError(f"{name}: {empty_rows.size} series have no observed point (first: row {first_row})")
    only_trailing_gaps = not (~observed[:, :-1] & observed[:, 1:]).any()
    if phase_arr is None and only_trailing_gaps:
        layout = SegmentLayout(
            n_series=n_series,
            n_times=n_times,
            series=np.arange(n_series, dtype=np.int64),
            segment=np.zeros(n_series, dtype=np.int64),
            length=counts.astype(np.int64),
            is_last=np.ones(n_series, dtype=np.bool_),
            observed=None,
        )
    else:
        # observed points in row-major order; a segment starts at a new series or a change of phase
        rows = np.repeat(np.arange(n_series, dtype=np.int64), counts)
        n_points = rows.size
        new_segment = np.ones(n_points, dtype=np.bool_)
        new_segment[1:] = rows[1:] != rows[:-1]
        if phase_arr is not None:
            step = np.diff(phase_arr[observed])
            same_series = ~new_segment[1:]
            backwards = same_series & (step < 0)
            if backwards.any():
                row = int(rows[1:][backwards][0]) + row_offset
                raise ValueError(f"phase must not decrease along time within a series (row {row})")
            new_segment[1:] |= same_series & (step != 0)
        starts = np.flatnonzero(new_segment)
        series = rows[starts]
        first_of_series = np.ones(starts.size, dtype=np.bool_)
        first_of_series[1:] = series[1:] != series[:-1]
        ordinal = np.arange(starts.size, dtype=np.int64)
        segment = ordinal - np.maximum.accumulate(np.where(first_of_series, ordinal, 0))
        is_last = np.ones(starts.size, dtype=np.bool_)
        is_last[:-1] = series[1:] != series[:-1]
        layout = SegmentLayout(
            n_series=n_series,
            n_times=n_times,
            series=series,
            segment=segment,
            length=np.diff(np.append(starts, n_points)).astype(np.int64),
            is_last=is_last,
            observed=observed,
        )
    short = np.flatnonzero(layout.length < min_points)
    if short.size:
        first = short[0]
        raise ValueError(
            f"{name}: {short.size} chart segment(s) have fewer than {min_points} observed points, too few "
            f"for a chart (first: row {layout.series[first] + row_offset}, segment {layout.segment[first]}, "
            f"{layout.length[first]} point(s))"
        )
    return layout


# ----------------------------------------------------------------------------------------------------
# Baseline and limits
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmrLimits:
    """Baseline statistics of each chart segment (one value per row of the segment panel).

    Attributes
    ----------
    mean
        Mean of the baseline points.
    mean_moving_range
        Mean moving range of the baseline (after screening, if asked).
    lpl, upl
        Lower and upper process limits, mean -+ 2.66 mean moving range.
    lower_close, upper_close
        Edges of the "close to the limits" band, mean -+ (2/3) 2.66 mean moving range.
    baseline_points
        Number of points in the baseline.
    """

    mean: FloatArray
    mean_moving_range: FloatArray
    lpl: FloatArray
    upl: FloatArray
    lower_close: FloatArray
    upper_close: FloatArray
    baseline_points: IntArray


def xmr_limits(
    values: FloatArray,
    length: IntArray,
    fix_after_n_points: int | None = None,
    screen_outliers: bool = True,
) -> XmrLimits:
    """Mean, mean moving range and process limits of each row of a segment panel.

    Parameters
    ----------
    values
        Segment panel (one chart segment per row, points left-aligned, NaN after the segment's end).
    length
        Observed points per row (at least 2).
    fix_after_n_points
        Baseline from the first n points of each row; None uses every point.
    screen_outliers
        Drop moving ranges >= 3.267 times their mean and recompute the mean moving range.

    Returns
    -------
    XmrLimits
        One value per row.

    Notes
    -----
    With baseline points :math:`x_1..x_m`, :math:`\\bar{x} = \\sum x_i / m` and moving ranges
    :math:`MR_i = |x_i - x_{i-1}|`, :math:`\\overline{MR} = \\sum MR_i / (m - 1)`. Screening keeps
    :math:`MR_i < 3.267\\,\\overline{MR}` and averages again (if none is kept, which happens only when every
    moving range is zero, the unscreened mean is kept where NHSRplotthedots would return NaN). Limits are
    :math:`\\bar{x} \\pm 2.66\\,\\overline{MR}`; the close band starts at :math:`\\bar{x} \\pm (2/3)\\,2.66\\,
    \\overline{MR}`.

    References
    ----------
    D. J. Wheeler, *Understanding Variation* (2nd ed., 2000); L. S. Nelson, "Control charts for individual
    measurements", J. Quality Technology 14 (1982) 172-173 (screening); NHSRplotthedots 0.2.2,
    ``ptd_spc_standard``.

    Examples
    --------
    RRK type-1 breaches, April 2016 to March 2018; R: ``ptd_spc(rrk, breaches, period)`` gives mean 1711.875,
    limits 849.7932 and 2573.9568.

    >>> y = np.array([[1195, 1843, 1397, 1333, 1771, 1751, 2013, 1759, 2179, 2585, 1654, 1543,
    ...                1632, 1558, 1190, 1357, 1279, 1683, 2190, 1804, 986, 2181, 2048, 2154]], dtype=float)
    >>> lim = xmr_limits(y, np.array([24]))
    >>> print(lim.mean, lim.lpl.round(4), lim.upl.round(4))
    [1711.875] [849.7932] [2573.9568]
    """
    moving_range = np.abs(np.diff(values, axis=1))
    return _xmr_limits(values, moving_range, length, fix_after_n_points, screen_outliers)


def _xmr_limits(
    values: FloatArray,
    moving_range: FloatArray,
    length: IntArray,
    fix_after_n_points: int | None,
    screen_outliers: bool,
) -> XmrLimits:
    width = values.shape[1]
    baseline_points = length if fix_after_n_points is None else np.minimum(length, fix_after_n_points)
    if bool((baseline_points == width).all()):
        mean = values.sum(axis=1) / baseline_points
        mr_in_baseline = None
        n_ranges = baseline_points - 1
        mr_total = moving_range.sum(axis=1)
    else:
        in_baseline = np.arange(width)[None, :] < baseline_points[:, None]
        mean = np.where(in_baseline, values, 0.0).sum(axis=1) / baseline_points
        mr_in_baseline = in_baseline[:, 1:]
        n_ranges = baseline_points - 1
        mr_total = np.where(mr_in_baseline, moving_range, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_mr = mr_total / n_ranges
        if screen_outliers:
            kept = moving_range < MR_SCREEN_FACTOR * mean_mr[:, None]
            if mr_in_baseline is not None:
                kept &= mr_in_baseline
            n_kept = kept.sum(axis=1)
            screened = np.where(kept, moving_range, 0.0).sum(axis=1) / n_kept
            # every moving range screened out happens only when all are 0; keep 0 rather than NaN limits
            mean_mr = np.where(n_kept > 0, screened, mean_mr)
    return XmrLimits(
        mean=mean,
        mean_moving_range=mean_mr,
        lpl=mean - XMR_LIMIT_FACTOR * mean_mr,
        upl=mean + XMR_LIMIT_FACTOR * mean_mr,
        lower_close=mean - XMR_CLOSE_FACTOR * mean_mr,
        upper_close=mean + XMR_CLOSE_FACTOR * mean_mr,
        baseline_points=baseline_points.astype(np.int64),
    )


# ----------------------------------------------------------------------------------------------------
# Rules: each takes the segment panel (one chart per row, padding after each row's end) and returns the points
# that belong to a signal of that rule.
# ----------------------------------------------------------------------------------------------------


def _window_sums(steps: Int8Array, window: int) -> NDArray[np.int32]:
    """Sums of ``window`` consecutive values along axis 1 (shape: width - window + 1), by shifted adds."""
    n_rows, width = steps.shape
    n_starts = width - window + 1
    if n_starts <= 0:
        return np.zeros((n_rows, 0), dtype=np.int32)
    total = steps[:, :n_starts].astype(np.int32)
    for offset in range(1, window):
        total += steps[:, offset : offset + n_starts]
    return total


def _covered(starts: BoolArray, window: int, width: int) -> BoolArray:
    """Points (columns 0..width-1) inside at least one window of ``window`` points starting at ``starts``."""
    n_rows, n_starts = starts.shape
    covered = np.zeros((n_rows, width), dtype=np.bool_)
    if n_starts > 0:
        for offset in range(window):
            covered[:, offset : offset + n_starts] |= starts
    return covered


def _steps(values: FloatArray) -> Int8Array:
    """Sign of each step x[t+1] - x[t] as int8 (0 for a tie or padding)."""
    step = np.diff(values, axis=1)
    signs: Int8Array = (step > 0).view(np.int8) - (step < 0).view(np.int8)
    return signs


def outside_limits_rule(values: FloatArray, lpl: FloatArray, upl: FloatArray) -> BoolArray:
    """Points strictly outside the process limits.

    Parameters
    ----------
    values
        Segment panel (NaN padding).
    lpl, upl
        Limits per row.

    Returns
    -------
    ndarray of bool
        True where :math:`x_t > UPL` or :math:`x_t < LPL`.

    Notes
    -----
    A point on a limit is inside. Padding (NaN) is never flagged.

    References
    ----------
    W. A. Shewhart, *Economic Control of Quality of Manufactured Product* (1931); NHSRplotthedots 0.2.2,
    ``ptd_spc_standard`` (``outside_limits``).

    Examples
    --------
    R: ``c(1, 5, -3) > 5 | c(1, 5, -3) < -2``, as in ``ptd_spc_standard``.

    >>> outside_limits_rule(np.array([[1.0, 5.0, -3.0]]), np.array([-2.0]), np.array([5.0])).tolist()
    [[False, False, True]]
    """
    flags: BoolArray = (values > upl[:, None]) | (values < lpl[:, None])
    return flags


def relative_to_mean(values: FloatArray, mean: FloatArray) -> Int8Array:
    """Side of the mean of each point: +1 above, -1 below, 0 on it or padding.

    Parameters
    ----------
    values
        Segment panel (NaN padding).
    mean
        Mean per row.

    Returns
    -------
    ndarray of int8
        :math:`\\mathrm{sign}(x_t - \\bar{x})`, 0 for padding.

    Notes
    -----
    A point exactly on the mean has side 0 and breaks a shift, as in NHSRplotthedots.

    References
    ----------
    NHSRplotthedots 0.2.2, ``ptd_spc_standard`` (``relative_to_mean``).

    Examples
    --------
    R: ``sign(c(1, 2, 3) - 2)`` (the padding cell becomes 0).

    >>> relative_to_mean(np.array([[1.0, 2.0, 3.0, np.nan]]), np.array([2.0])).tolist()
    [[-1, 0, 1, 0]]
    """
    centre = mean[:, None]
    side: Int8Array = (values > centre).view(np.int8) - (values < centre).view(np.int8)
    return side


def shift_rule(side: Int8Array, length: int = SHIFT_LENGTH) -> BoolArray:
    """Points in a run of at least ``length`` consecutive points on the same side of the mean.

    Parameters
    ----------
    side
        Output of :func:`relative_to_mean` (0 breaks a run).
    length
        Run length that makes a shift (7).

    Returns
    -------
    ndarray of bool
        True for every point of such a run.

    Notes
    -----
    A window of :math:`L` points starting at :math:`j` is all above the mean when
    :math:`\\sum_{t=j}^{j+L-1} side_t = L` (all below: :math:`-L`); a point is flagged when such a window
    covers it. This is NHSRplotthedots' ``ptd_seven_point_one_side_mean`` then ``ptd_part_of_seven_trend``.

    References
    ----------
    NHS England, "Making Data Count" (2019), rule "shift"; NHSRplotthedots 0.2.2.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_part_of_seven_trend(NHSRplotthedots:::ptd_seven_point_one_side_mean(
    c(1, 1, 1, 1, 1, 1, 1, 0, -1)))``.

    >>> shift_rule(np.array([[1, 1, 1, 1, 1, 1, 1, 0, -1]], dtype=np.int8)).astype(int).tolist()
    [[1, 1, 1, 1, 1, 1, 1, 0, 0]]
    """
    # a sum of `length` sides in {-1, 0, 1} is +-length only when all are +1 (or all -1)
    starts = np.abs(_window_sums(side, length)) == length
    return _covered(starts, length, side.shape[1])


def trend_rule(values: FloatArray, length: int = TREND_LENGTH) -> BoolArray:
    """Points in a run of at least ``length`` consecutive points each strictly above (or below) the previous.

    Parameters
    ----------
    values
        Segment panel (NaN padding).
    length
        Points that make a trend (7; 6 in some guidance).

    Returns
    -------
    ndarray of bool
        True for every point of such a run.

    Notes
    -----
    A trend of :math:`L` points is :math:`L - 1` consecutive differences of one strict sign; a tie
    (difference 0) breaks it. Computed with cumulative sums over the signs of the differences.

    References
    ----------
    NHS England, "Making Data Count" (2019), rule "trend"; NHSRplotthedots 0.2.2, ``ptd_seven_point_trend``.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_part_of_seven_trend(NHSRplotthedots:::ptd_seven_point_trend(c(5, 1:7, 7)))``.

    >>> trend_rule(np.array([[5.0, 1, 2, 3, 4, 5, 6, 7, 7]])).astype(int).tolist()
    [[0, 1, 1, 1, 1, 1, 1, 1, 0]]
    """
    return _trend_from_steps(_steps(values), length)


def _trend_from_steps(steps: Int8Array, length: int) -> BoolArray:
    # a trend of `length` points is `length - 1` steps of one strict sign; window j covers points j..j+L-1
    starts = np.abs(_window_sums(steps, length - 1)) == length - 1
    return _covered(starts, length, steps.shape[1] + 1)


def trend_direction(values: FloatArray, trend: BoolArray) -> Int8Array:
    """Direction (+1 rising, -1 falling) of each trend point, as NHSRplotthedots labels it.

    Parameters
    ----------
    values
        Segment panel (NaN padding).
    trend
        Output of :func:`trend_rule`.

    Returns
    -------
    ndarray of int8
        +1 or -1 on trend points, 0 elsewhere.

    Notes
    -----
    A trend point whose next point is also a trend point takes the sign of the step to the next point;
    otherwise the sign of the step from the previous point. A zero step (two touching trends with a tie
    between them) counts as falling, as NHSRplotthedots' ``ifelse(sdy == 1, "In", "De")`` does.

    References
    ----------
    NHSRplotthedots 0.2.2, ``ptd_special_cause_type``.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_special_cause_type(c(1:7, 6:1), ...)`` labels the peak (point 7)
    "7 Point Trend (Decreasing)".

    >>> y = np.array([[1.0, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1]])
    >>> trend_direction(y, trend_rule(y)).tolist()
    [[1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]]
    """
    sign = _direction_from_steps(_steps(values), trend)
    direction: Int8Array = np.where(trend, np.where(sign == 1, 1, -1), 0).astype(np.int8)
    return direction


def _direction_from_steps(step: Int8Array, trend: BoolArray) -> Int8Array:
    """The step sign NHSRplotthedots reads for each point: to the next point when both are in a trend."""
    n_rows, width = trend.shape
    sign = np.zeros((n_rows, width), dtype=np.int8)
    sign[:, 1:] = step
    np.copyto(sign[:, :-1], step, where=trend[:, :-1] & trend[:, 1:])
    return sign


def two_in_three_rule(close_to_limits: BoolArray, side: Int8Array) -> BoolArray:
    """Points close to a limit that are two (or three) of three consecutive points close to it on one side.

    Parameters
    ----------
    close_to_limits
        Points beyond two thirds of the way to a limit but not outside it.
    side
        Output of :func:`relative_to_mean`.

    Returns
    -------
    ndarray of bool
        True for the close points of every qualifying window; the third point of a window is not flagged
        unless it is close itself.

    Notes
    -----
    A window of three consecutive points qualifies when at least two are close and all three are on the same
    side of the mean (:math:`|\\sum side| = 3`); windows running past either end of a segment never qualify.

    References
    ----------
    NHS England, "Making Data Count" (2019), rule "two out of three"; NHSRplotthedots 0.2.2,
    ``ptd_two_in_three`` and ``ptd_part_of_two_in_three``.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_part_of_two_in_three(NHSRplotthedots:::ptd_two_in_three(close, side), close)``
    with ``close = c(0, 1, 0, 1, 0)`` and ``side = c(1, 1, 1, 1, -1)``.

    >>> close = np.array([[False, True, False, True, False]])
    >>> two_in_three_rule(close, np.array([[1, 1, 1, 1, -1]], dtype=np.int8)).astype(int).tolist()
    [[0, 1, 0, 1, 0]]
    """
    n_rows, width = close_to_limits.shape
    pad = TWO_IN_THREE_WINDOW - 1
    close_pad = np.zeros((n_rows, width + 2 * pad), dtype=np.int8)
    close_pad[:, pad : pad + width] = close_to_limits
    side_pad = np.zeros((n_rows, width + 2 * pad), dtype=np.int8)
    side_pad[:, pad : pad + width] = side
    # window starting at padded column j covers j, j+1, j+2; there are width + 2 of them
    n_close = close_pad[:, :-2] + close_pad[:, 1:-1] + close_pad[:, 2:]
    side_sum = side_pad[:, :-2] + side_pad[:, 1:-1] + side_pad[:, 2:]
    window = (n_close >= 2) & (np.abs(side_sum) == TWO_IN_THREE_WINDOW)
    # point t (padded t + 2) lies in the windows starting at padded t, t + 1, t + 2
    in_window = window[:, :width] | window[:, 1 : width + 1] | window[:, 2 : width + 2]
    flags: BoolArray = close_to_limits & in_window
    return flags


def special_cause_type(
    outside: BoolArray,
    trend: BoolArray,
    direction: Int8Array,
    two_in_three: BoolArray,
    shift: BoolArray,
    side: Int8Array,
) -> Int8Array:
    """Label each point with one :class:`SpecialCauseType`, by NHSRplotthedots' precedence.

    Parameters
    ----------
    outside, trend, two_in_three, shift
        Rule flags from :func:`outside_limits_rule`, :func:`trend_rule`, :func:`two_in_three_rule`,
        :func:`shift_rule`.
    direction
        Output of :func:`trend_direction`.
    side
        Output of :func:`relative_to_mean`.

    Returns
    -------
    ndarray of int8
        SpecialCauseType codes.

    Notes
    -----
    Precedence: outside the limits > trend > two in three > shift > common cause. An outside point is "Above
    UCL" only when above the mean, else "Below LCL".

    References
    ----------
    NHSRplotthedots 0.2.2, ``ptd_special_cause_type``.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_special_cause_type`` labels an outside point above the mean "Above UCL".

    >>> f = np.array([[True, False]])
    >>> n = np.zeros((1, 2), dtype=bool)
    >>> special_cause_type(f, n, np.zeros((1, 2), np.int8), n, n, np.array([[1, -1]], np.int8)).tolist()
    [[1, 0]]
    """
    # above/below codes are consecutive, so code = "above" code + 1 when the point is below
    below = (side != 1).view(np.int8)
    codes = np.zeros(side.shape, dtype=np.int8)
    np.copyto(codes, below + np.int8(SpecialCauseType.SHIFT_ABOVE), where=shift)
    np.copyto(codes, below + np.int8(SpecialCauseType.TWO_IN_THREE_ABOVE), where=two_in_three)
    np.copyto(codes, (direction != 1).view(np.int8) + np.int8(SpecialCauseType.TREND_INCREASING), where=trend)
    np.copyto(codes, below + np.int8(SpecialCauseType.ABOVE_UPPER_LIMIT), where=outside)
    return codes


def point_type(special_cause: Int8Array, improvement: Improvement) -> Int8Array:
    """Orient special-cause labels by the improvement direction (:class:`PointType` codes).

    Parameters
    ----------
    special_cause
        SpecialCauseType codes.
    improvement
        "increase", "decrease" or "neutral".

    Returns
    -------
    ndarray of int8
        PointType codes.

    Notes
    -----
    Labels pointing up (above, increasing) are improvement when increase is better and concern when decrease
    is; with "neutral" they are special_cause_neutral_high (up) or _low (down).

    References
    ----------
    NHSRplotthedots 0.2.2, ``ptd_point_type``.

    Examples
    --------
    R: ``NHSRplotthedots:::ptd_point_type(c("Common Cause", "Above UCL", "Below LCL"), -1)`` gives
    common_cause, special_cause_concern, special_cause_improvement.

    >>> point_type(np.array([[0, 1, 2]], np.int8), "decrease").tolist()
    [[0, 2, 1]]
    """
    # odd SpecialCauseType codes point up, even non-zero codes point down
    if improvement == "neutral":
        up, down = PointType.SPECIAL_CAUSE_NEUTRAL_HIGH, PointType.SPECIAL_CAUSE_NEUTRAL_LOW
    elif improvement == "increase":
        up, down = PointType.SPECIAL_CAUSE_IMPROVEMENT, PointType.SPECIAL_CAUSE_CONCERN
    else:
        up, down = PointType.SPECIAL_CAUSE_CONCERN, PointType.SPECIAL_CAUSE_IMPROVEMENT
    is_up = special_cause & np.int8(1)
    codes: Int8Array = (special_cause != 0).view(np.int8) * (np.int8(down) + np.int8(up - down) * is_up)
    return codes


def assurance_type(
    target: FloatArray, lpl: FloatArray, upl: FloatArray, improvement: Improvement
) -> Int8Array:
    """Assurance of meeting a target from where it sits against the process limits.

    Parameters
    ----------
    target
        Target per series (NaN: none).
    lpl, upl
        Limits of the last segment of each series.
    improvement
        "increase", "decrease" or "neutral".

    Returns
    -------
    ndarray of int8
        AssuranceType codes.

    Notes
    -----
    Target above the upper limit: consistent_fail when increase is better, consistent_pass when decrease is;
    below the lower limit: the reverse; otherwise inconsistent. Not assessed for "neutral" or a missing target
    (NHSRplotthedots prints "inconsistent" for a facet whose target is NA; we do not assess it).

    References
    ----------
    NHS England, "Making Data Count" (2019), assurance icons; NHSRplotthedots 0.2.2,
    ``ptd_calculate_assurance_type``.

    Examples
    --------
    As ``summary(ptd_spc(..., improvement_direction = "increase", target = 0.95))`` for a trust with limits
    0.6 to 0.9 (consistent_fail) and target 0.5 against limits 0.4 to 0.6 (inconsistent):

    >>> assurance_type(np.array([0.95, 0.5]), np.array([0.6, 0.4]), np.array([0.9, 0.6]), "increase").tolist()
    [2, 3]
    """
    if improvement == "neutral":
        return np.full(target.shape, AssuranceType.NOT_ASSESSED, dtype=np.int8)
    increasing = improvement == "increase"
    above = AssuranceType.CONSISTENT_FAIL if increasing else AssuranceType.CONSISTENT_PASS
    below = AssuranceType.CONSISTENT_PASS if increasing else AssuranceType.CONSISTENT_FAIL
    codes = np.select(
        [np.isnan(target), target > upl, target < lpl],
        [AssuranceType.NOT_ASSESSED, above, below],
        default=AssuranceType.INCONSISTENT,
    )
    return codes.astype(np.int8)


# ----------------------------------------------------------------------------------------------------
# The chart
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmrSummary:
    """One row per chart segment (series-major, then segment order), as NHSRplotthedots' ``summary()``.

    Attributes
    ----------
    series, segment
        Panel row and segment ordinal (rebase group) within it.
    mean, lpl, upl
        Baseline mean and process limits.
    n
        Observed points.
    common_cause, special_cause_improvement, special_cause_concern
        Point counts (neutral special causes count in neither of the last two).
    variation
        PointType code of the segment's last point (the variation icon).
    assurance
        AssuranceType code; assessed only on the last segment of a series.
    short_group_warning
        True when the segment has fewer points than the threshold.
    is_last
        True for the last segment of its series.
    """

    series: IntArray
    segment: IntArray
    mean: FloatArray
    lpl: FloatArray
    upl: FloatArray
    n: IntArray
    common_cause: IntArray
    special_cause_improvement: IntArray
    special_cause_concern: IntArray
    variation: Int8Array
    assurance: Int8Array
    short_group_warning: BoolArray
    is_last: BoolArray


@dataclass(frozen=True)
class XmrChart:
    """An XmR chart for every series of a panel: per-point arrays (series x time) and a per-segment summary.

    Attributes
    ----------
    values
        The panel as given (float).
    segment_index
        Row of ``summary`` (the chart segment) of each point; -1 where missing.
    outside_limits, close_to_limits
        Point strictly outside the limits; point beyond the close band but inside the limits.
    relative_to_mean
        +1 above, -1 below, 0 on the mean or missing.
    shift, trend, two_in_three
        Points belonging to a signal of each rule (before precedence).
    special_cause_type
        SpecialCauseType code (labels in ``special_cause_labels``).
    special_cause_flag
        True where the type is not common cause.
    point_type
        PointType code.
    variation, assurance
        Per series: PointType code of its last point; AssuranceType code of its last segment.
    summary
        Per-segment summary.
    special_cause_labels
        Label of each SpecialCauseType code.
    warnings
        Messages for the caller (short segments), never raised.
    options
        The options used.

    Per-point views of segment values (``segment``, ``mean``, ``lpl``, ``upl``, ``short_group_warning``) are
    properties, computed from ``summary`` through ``segment_index`` when read.
    """

    values: FloatArray
    segment_index: NDArray[np.int32]
    outside_limits: BoolArray
    close_to_limits: BoolArray
    relative_to_mean: Int8Array
    shift: BoolArray
    trend: BoolArray
    two_in_three: BoolArray
    special_cause_type: Int8Array
    special_cause_flag: BoolArray
    point_type: Int8Array
    variation: Int8Array
    assurance: Int8Array
    summary: XmrSummary
    special_cause_labels: tuple[str, ...]
    warnings: tuple[str, ...]
    options: SpcOptions

    def _per_point(self, per_segment: NDArray[ScalarT], fill: float | bool | int) -> NDArray[ScalarT]:
        missing = self.segment_index < 0
        out = per_segment[np.where(missing, 0, self.segment_index)]
        np.copyto(out, np.asarray(fill, dtype=out.dtype), where=missing)
        return out

    @property
    def segment(self) -> IntArray:
        """Segment ordinal (rebase group) of each point within its series; -1 where missing."""
        out: IntArray = self._per_point(self.summary.segment, -1)
        return out

    @property
    def mean(self) -> FloatArray:
        """Mean of each point's segment baseline; NaN where missing."""
        out: FloatArray = self._per_point(self.summary.mean, np.nan)
        return out

    @property
    def lpl(self) -> FloatArray:
        """Lower process limit of each point's segment; NaN where missing."""
        out: FloatArray = self._per_point(self.summary.lpl, np.nan)
        return out

    @property
    def upl(self) -> FloatArray:
        """Upper process limit of each point's segment; NaN where missing."""
        out: FloatArray = self._per_point(self.summary.upl, np.nan)
        return out

    @property
    def short_group_warning(self) -> BoolArray:
        """True where the point's segment has fewer points than the threshold."""
        out: BoolArray = self._per_point(self.summary.short_group_warning, False)
        return out


def xmr_chart(
    values: ArrayLike, options: SpcOptions | None = None, phase: ArrayLike | None = None
) -> XmrChart:
    """XmR charts with Making Data Count rules for every series (and rebased segment) of a panel at once.

    Parameters
    ----------
    values
        Panel of shape (n_series, n_times), NaN for missing points or padding. Missing points are skipped: the
        moving range bridges them, as if the row were absent.
    options
        :class:`SpcOptions` (defaults: improvement "increase", all points as baseline, screening on).
    phase
        Optional integer panel of the same shape: rebase segment of each point, non-decreasing along time.
        Each segment gets its own baseline, limits and rules.

    Returns
    -------
    XmrChart
        Per-point arrays, per-series variation and assurance, a per-segment summary and warnings.

    Notes
    -----
    Per segment: baseline mean :math:`\\bar{x}` and mean moving range :math:`\\overline{MR}` (screened),
    limits :math:`\\bar{x} \\pm 2.66\\,\\overline{MR}` (see :func:`xmr_limits`). Rules:
    :func:`outside_limits_rule`, :func:`shift_rule`, :func:`trend_rule`, :func:`two_in_three_rule`, labelled
    by :func:`special_cause_type` and oriented by :func:`point_type`; variation is the point type of each
    segment's last point and assurance compares the target with the last segment's limits
    (:func:`assurance_type`). Segments shorter than ``short_group_threshold`` give a warning; fewer than 2
    observed points raise ValueError.

    References
    ----------
    NHS England and NHS Improvement, "Making Data Count: Getting started" (2019) and "Strengthening your
    decisions" (2019); D. J. Wheeler, *Understanding Variation* (2000); NHSRplotthedots 0.2.2, ``ptd_spc``.

    Examples
    --------
    RRK type-1 breaches, April 2016 to March 2018; R: ``ptd_spc(rrk, breaches, period, improvement_direction =
    "decrease")`` flags 8 points by the 7-below rule and one above the UPL.

    >>> y = [[1195, 1843, 1397, 1333, 1771, 1751, 2013, 1759, 2179, 2585, 1654, 1543,
    ...       1632, 1558, 1190, 1357, 1279, 1683, 2190, 1804, 986, 2181, 2048, 2154]]
    >>> chart = xmr_chart(y, SpcOptions(improvement="decrease"))
    >>> chart.summary.lpl.round(4), chart.summary.upl.round(4)
    (array([849.7932]), array([2573.9568]))
    >>> int(chart.shift.sum()), int(chart.outside_limits.sum())
    (8, 1)
    >>> PointType(chart.variation[0]).label
    'common_cause'
    """
    opts = options if options is not None else SpcOptions()
    panel = as_panel(values)
    phase_arr = as_phase(phase, panel.shape)
    n_series, n_times = panel.shape
    target = _target_per_series(opts.target, n_series)

    points = _XmrPoints.empty(n_series, n_times)
    blocks: list[_XmrSegments] = []
    block = max(1, _BLOCK_ELEMENTS // n_times)
    segments_before = 0
    for start in range(0, n_series, block):
        rows = slice(start, min(start + block, n_series))
        layout = segment_layout(
            panel[rows], None if phase_arr is None else phase_arr[rows], min_points=2, row_offset=start
        )
        blocks.append(_xmr_block(panel[rows], layout, opts, points, rows, segments_before))
        segments_before += layout.n_segments
    segs = _XmrSegments.concatenate(blocks)

    n = segs.length
    assurance = np.where(
        segs.is_last,
        assurance_type(target[segs.series], segs.lpl, segs.upl, opts.improvement),
        AssuranceType.NOT_ASSESSED,
    ).astype(np.int8)
    short = n < opts.short_group_threshold
    summary = XmrSummary(
        series=segs.series,
        segment=segs.segment,
        mean=segs.mean,
        lpl=segs.lpl,
        upl=segs.upl,
        n=n,
        common_cause=n - segs.n_special,
        special_cause_improvement=segs.n_improvement,
        special_cause_concern=segs.n_concern,
        variation=segs.variation,
        assurance=assurance,
        short_group_warning=short,
        is_last=segs.is_last,
    )
    last_series = segs.series[segs.is_last]
    series_variation = np.zeros(n_series, dtype=np.int8)
    series_variation[last_series] = segs.variation[segs.is_last]
    series_assurance = np.zeros(n_series, dtype=np.int8)
    series_assurance[last_series] = assurance[segs.is_last]
    warnings: tuple[str, ...] = ()
    if short.any():
        short_series = np.unique(segs.series[short])
        shown = ", ".join(str(s) for s in short_series[:5]) + (", ..." if short_series.size > 5 else "")
        warnings = (
            f"{int(short.sum())} segment(s) in {short_series.size} series (rows {shown}) have fewer than "
            f"{opts.short_group_threshold} points: their limits are trial limits, to be revised as points "
            "arrive.",
        )

    return XmrChart(
        values=panel,
        segment_index=points.segment_index,
        outside_limits=points.outside,
        close_to_limits=points.close,
        relative_to_mean=points.side,
        shift=points.shift,
        trend=points.trend,
        two_in_three=points.two_in_three,
        special_cause_type=points.special_cause,
        special_cause_flag=points.special_cause != SpecialCauseType.COMMON_CAUSE,
        point_type=points.point_type,
        variation=series_variation,
        assurance=series_assurance,
        summary=summary,
        special_cause_labels=special_cause_type_labels(opts.shift_length, opts.trend_length),
        warnings=warnings,
        options=opts,
    )


# Rows are processed in blocks of about this many cells, so that the temporaries of one block stay in cache;
# each block is vectorised over all its series (the loop runs over blocks, never over series).
_BLOCK_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class _XmrPoints:
    segment_index: NDArray[np.int32]
    side: Int8Array
    outside: BoolArray
    close: BoolArray
    shift: BoolArray
    trend: BoolArray
    two_in_three: BoolArray
    special_cause: Int8Array
    point_type: Int8Array

    @classmethod
    def empty(cls, n_rows: int, width: int) -> _XmrPoints:
        shape = (n_rows, width)
        return cls(
            segment_index=np.empty(shape, dtype=np.int32),
            side=np.empty(shape, dtype=np.int8),
            outside=np.empty(shape, dtype=np.bool_),
            close=np.empty(shape, dtype=np.bool_),
            shift=np.empty(shape, dtype=np.bool_),
            trend=np.empty(shape, dtype=np.bool_),
            two_in_three=np.empty(shape, dtype=np.bool_),
            special_cause=np.empty(shape, dtype=np.int8),
            point_type=np.empty(shape, dtype=np.int8),
        )


@dataclass(frozen=True)
class _XmrSegments:
    series: IntArray
    segment: IntArray
    length: IntArray
    is_last: BoolArray
    mean: FloatArray
    lpl: FloatArray
    upl: FloatArray
    n_special: IntArray
    n_improvement: IntArray
    n_concern: IntArray
    variation: Int8Array

    @classmethod
    def concatenate(cls, blocks: list[_XmrSegments]) -> _XmrSegments:
        return cls(
            **{name: np.concatenate([getattr(b, name) for b in blocks]) for name in cls.__dataclass_fields__}
        )


def _xmr_block(
    panel: FloatArray,
    layout: SegmentLayout,
    opts: SpcOptions,
    points: _XmrPoints,
    rows: slice,
    segments_before: int,
) -> _XmrSegments:
    """Limits, rules and labels of a block of panel rows; per-point results go into ``points[rows]``."""
    values: FloatArray = layout.to_segments(panel)
    length = layout.length
    step = np.diff(values, axis=1)
    steps: Int8Array = (step > 0).view(np.int8) - (step < 0).view(np.int8)
    moving_range = np.abs(step, out=step)
    limits = _xmr_limits(values, moving_range, length, opts.fix_after_n_points, opts.screen_outliers)

    side = relative_to_mean(values, limits.mean)
    outside = outside_limits_rule(values, limits.lpl, limits.upl)
    close = (values < limits.lower_close[:, None]) | (values > limits.upper_close[:, None])
    close &= ~outside
    shift = shift_rule(side, opts.shift_length)
    trend = _trend_from_steps(steps, opts.trend_length)
    direction = _direction_from_steps(steps, trend)
    two_in_three = two_in_three_rule(close, side)
    codes = special_cause_type(outside, trend, direction, two_in_three, shift, side)
    p_type = point_type(codes, opts.improvement)

    n_rows = values.shape[0]
    segment_index = np.arange(segments_before, segments_before + layout.n_segments, dtype=np.int32)
    layout.per_point(segment_index, fill=-1, out=points.segment_index[rows])
    per_point_bytes = (side, outside, close, shift, trend, two_in_three, codes, p_type)
    outputs = (
        points.side,
        points.outside,
        points.close,
        points.shift,
        points.trend,
        points.two_in_three,
        points.special_cause,
        points.point_type,
    )
    _bytes_to_panel(layout, per_point_bytes, tuple(output[rows] for output in outputs))

    return _XmrSegments(
        series=layout.series + rows.start,
        segment=layout.segment,
        length=length,
        is_last=layout.is_last,
        mean=limits.mean,
        lpl=limits.lpl,
        upl=limits.upl,
        n_special=(codes != SpecialCauseType.COMMON_CAUSE).sum(axis=1),
        n_improvement=(p_type == PointType.SPECIAL_CAUSE_IMPROVEMENT).sum(axis=1),
        n_concern=(p_type == PointType.SPECIAL_CAUSE_CONCERN).sum(axis=1),
        variation=p_type[np.arange(n_rows), length - 1],
    )


def _bytes_to_panel(
    layout: SegmentLayout, results: tuple[NDArray[Any], ...], outputs: tuple[NDArray[Any], ...]
) -> None:
    """Scatter per-point results of one byte each (at most 8) from the segment panel to ``outputs`` (0 where a
    point is missing): laid side by side as the bytes of one 8-byte word a point, one scatter of words instead of
    one scatter per result (the same bytes, at an eighth of the indexing)."""
    if layout.observed is None or len(results) > 8:
        for result, output in zip(results, outputs, strict=True):
            layout.to_panel(result, fill=0, out=output)
        return
    words = np.zeros((*results[0].shape, 8), dtype=np.uint8)
    for i, result in enumerate(results):
        words[..., i] = result.view(np.uint8)
    scattered = layout.to_panel(words.view(np.uint64)[..., 0], fill=0)
    as_bytes = scattered.view(np.uint8).reshape(*scattered.shape, 8)
    for i, output in enumerate(outputs):
        output[...] = as_bytes[..., i].view(output.dtype)


def _target_per_series(target: float | FloatArray | None, n_series: int) -> FloatArray:
    if target is None:
        return np.full(n_series, np.nan)
    arr = np.asarray(target, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_series, float(arr))
    if arr.shape != (n_series,):
        raise ValueError(f"target has {arr.shape[0]} values but the panel has {n_series} series")
    return arr
