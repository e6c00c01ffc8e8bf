"""XmR (individuals) charts with the NHS England "Making Data Count" rules, over whole panels.

A panel is a 2-D array, one row per series (an indicator at an organisation) and one column per time point,
NaN where a series is shorter or a value is missing. Every series, and every rebased segment of a series, gets
its own baseline, limits and special-cause rules in one vectorised call.

The numbers follow NHSRplotthedots 0.2.2 (``ptd_spc``), the NHS-R community's implementation of the Making
Data Count guidance: process limits at mean +- 2.66 mean moving range, optional screening of moving ranges,
and the four rules (a point outside the limits, a shift, a trend, two of three points close to a limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, Int8Array, IntArray
from forewarn.stats.spc_layout import ScalarT, SegmentLayout, as_panel, as_phase, segment_layout
from forewarn.stats.spc_rules import (
    assurance_type,
    direction_from_steps,
    outside_limits_rule,
    point_type,
    relative_to_mean,
    shift_rule,
    special_cause_type,
    trend_from_steps,
    two_in_three_rule,
)
from forewarn.stats.spc_types import (
    MR_SCREEN_FACTOR,
    XMR_CLOSE_FACTOR,
    XMR_LIMIT_FACTOR,
    AssuranceType,
    PointType,
    SpcOptions,
    SpecialCauseType,
    special_cause_type_labels,
)

__all__ = [
    "AssuranceType",
    "PointType",
    "SpcOptions",
    "SpecialCauseType",
    "XmrChart",
    "XmrLimits",
    "XmrSummary",
    "special_cause_type_labels",
    "xmr_chart",
    "xmr_limits",
]

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
            panel[rows],
            None if phase_arr is None else phase_arr[rows],
            min_points=2,
            row_offset=start,
            panel_width=True,
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
# each block is vectorised over all its series (the loop runs over blocks, never over series). Each block's
# segment panel is as wide as the panel (``segment_layout(panel_width=True)``), so a series' limits do not
# depend on the block size or on the series beside it. 2^18 cells (about 7,300 series of 36 months) took
# 10% less CPU than 2^16 on AMD EPYC (docs/performance.md, "The maths, fourth pass").
_BLOCK_ELEMENTS = 1 << 18


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
    trend = trend_from_steps(steps, opts.trend_length)
    direction = direction_from_steps(steps, trend)
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
