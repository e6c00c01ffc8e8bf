"""The XmR chart's special-cause rules over segment panels (NHS England "Making Data Count", NHSRplotthedots 0.2.2).

A point outside the process limits, a shift (points in a row on one side of the mean), a trend (points in a row
rising or falling) and two of three points close to a limit, then the special-cause, point and assurance types
as ``ptd_spc`` reports them. Each rule takes the segment panel (one chart per row, padding after each row's end).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, Int8Array
from forewarn.stats.improvement import Improvement
from forewarn.stats.spc_types import (
    SHIFT_LENGTH,
    TREND_LENGTH,
    TWO_IN_THREE_WINDOW,
    AssuranceType,
    PointType,
    SpecialCauseType,
)

# ----------------------------------------------------------------------------------------------------
# Rules: each takes the segment panel (one chart per row, padding after each row's end) and returns the points
# that belong to a signal of that rule.
# ----------------------------------------------------------------------------------------------------


def _window_sums(steps: Int8Array, window: int) -> NDArray[np.int32]:
    """Sums of ``window`` consecutive values along axis 1 (shape: width - window + 1), by shifted adds.

    The sums over 1, 2, 4, ... consecutive values are built by doubling, and the window's sum adds those of the
    binary digits of ``window`` (for 7 = 4 + 2 + 1: four adds instead of six); integer sums, so the same
    numbers whatever the order."""
    n_rows, width = steps.shape
    n_starts = width - window + 1
    if n_starts <= 0:
        return np.zeros((n_rows, 0), dtype=np.int32)
    span_sums = steps.astype(np.int32)  # sums over ``span`` values starting at each column
    span = 1
    total: NDArray[np.int32] | None = None
    covered = 0  # values of the window already in ``total``
    while True:
        if window & span:
            part = span_sums[:, covered : covered + n_starts]
            total = part.copy() if total is None else np.add(total, part, out=total)
            covered += span
        if covered == window:
            return total if total is not None else np.zeros((n_rows, n_starts), dtype=np.int32)
        span_sums = span_sums[:, :-span] + span_sums[:, span:]
        span *= 2


def _covered(starts: BoolArray, window: int, width: int) -> BoolArray:
    """Points (columns 0..width-1) inside at least one window of ``window`` points starting at ``starts``.

    Cover by doubling: a point covered by a window starting up to ``span - 1`` columns before it, or up to
    ``step <= span`` columns before that, is covered by one starting up to ``span + step - 1`` before it (for
    7: spans 1, 2, 4, 7, three ORs instead of seven)."""
    n_rows, n_starts = starts.shape
    covered = np.zeros((n_rows, width), dtype=np.bool_)
    if n_starts > 0:
        covered[:, :n_starts] = starts
        span = 1
        while span < window:
            step = min(span, window - span)
            shifted = covered[:, :-step].copy()  # the OR reads the columns before any is updated
            covered[:, step:] |= shifted
            span += step
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
    return trend_from_steps(_steps(values), length)


def trend_from_steps(steps: Int8Array, length: int) -> BoolArray:
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
    sign = direction_from_steps(_steps(values), trend)
    direction: Int8Array = np.where(trend, np.where(sign == 1, 1, -1), 0).astype(np.int8)
    return direction


def direction_from_steps(step: Int8Array, trend: BoolArray) -> Int8Array:
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
