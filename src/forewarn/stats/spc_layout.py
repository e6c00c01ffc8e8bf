"""Where each XmR chart segment sits in a panel: series x time to segments x points and back.

A segment is a maximal run of observed points of one series with the same phase (NHSRplotthedots 0.2.2 rebases
a chart at each phase change); the chart (:mod:`forewarn.stats.spc`) computes limits and rules per segment.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

ScalarT = TypeVar("ScalarT", bound=np.generic)


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
    panel_width
        True: the segment panel is as wide as the panel (``n_times``) whatever its segments' lengths, so a row's
        sums (pairwise, their order set by the row's width) do not depend on which other series share the
        layout. False: as wide as the longest segment.

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
    panel_width: bool = False

    @property
    def n_segments(self) -> int:
        """Number of chart segments."""
        return int(self.series.size)

    @property
    def width(self) -> int:
        """Columns of the segment panel: the longest segment, or the panel's width on the fast path or when
        ``panel_width`` is set."""
        return self.n_times if self.observed is None or self.panel_width else int(self.length.max())

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
        if self.observed is not None and out is not None and out.flags.c_contiguous:
            # The segments' points in segment-then-position order are the observed points in row order: each
            # segment's value repeated over its points is what the segment panel would scatter, without it.
            out[...] = fill
            out.reshape(-1)[self._flat_points[1]] = np.repeat(per_segment, self.length)
            return out
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
    panel_width: bool = False,
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
    panel_width
        Make the segment panel as wide as the panel (:attr:`SegmentLayout.panel_width`), so that results summed
        along its rows do not depend on the block of rows laid out together.

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
            panel_width=panel_width,
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
