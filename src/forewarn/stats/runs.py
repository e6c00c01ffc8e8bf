"""Run charts and the Anhoej runs rules, over whole panels.

A run chart plots each series around its median; the Anhoej rules signal non-random variation when the
longest run of points on one side of the centre line is unusually long, or the line crosses the centre
unusually few times. The numbers follow qicharts2 0.8.1 (``qic(chart = "run")``, ``runs.analysis``), which
also applies these rules to control charts around their mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from forewarn.stats.arrays import BoolArray, FloatArray, Int8Array, IntArray
from forewarn.stats.spc_layout import SegmentLayout, as_panel, as_phase, segment_layout

CROSSINGS_QUANTILE = 0.05
"""Fewer crossings than the 5 % quantile of Binomial(n - 1, 0.5) signal a shift (Chen 2010)."""
LONGEST_RUN_SLACK = 3
"""A longest run above round(log2(n)) + 3 signals a shift (Schilling 2012)."""
_BLOCK_ELEMENTS = 1 << 16


def anhoej_limits(n_useful: ArrayLike) -> tuple[IntArray, IntArray]:
    """Upper limit of the longest run and lower limit of the number of crossings for n useful points.

    Parameters
    ----------
    n_useful
        Number of points not on the centre line (any shape, integers >= 0).

    Returns
    -------
    longest_run_max, n_crossings_min : ndarray of int64
        :math:`\\mathrm{round}(\\log_2 n) + 3` and :math:`\\mathrm{qbinom}(0.05, n - 1, 0.5)`; both 0 where
        n = 0 (qicharts2 gives NA there and never signals).

    Notes
    -----
    The longest run of a random sequence of n points rarely exceeds :math:`\\log_2 n + 3` (Schilling); the
    number of crossings of the centre line is Binomial(n - 1, 1/2) and its lower 5 % quantile is the smallest
    c with :math:`P(C \\le c) \\ge 0.05` (Chen). The quantile is computed once per distinct n.

    References
    ----------
    J. Anhoej and A. V. Olesen, "Run charts revisited: a simulation study of run chart rules for detection of
    non-random variation in health care processes", PLoS ONE 9 (2014) e113825; M. F. Schilling, "The
    surprising predictability of long runs", Mathematics Magazine 85 (2012) 141-149; Z. Chen, "A note on the
    runs test", Model Assisted Statistics and Applications 5 (2010) 73-77; qicharts2 0.8.1, ``runs.analysis``.

    Examples
    --------
    R: ``round(log2(32)) + 3`` is 8 and ``qbinom(0.05, 31, 0.5)`` is 11 (the cdi run chart of qicharts2).

    >>> longest, crossings = anhoej_limits([32, 10])
    >>> longest.tolist(), crossings.tolist()
    ([8, 6], [11, 2])
    """
    n = np.asarray(n_useful)
    if n.size and (not np.issubdtype(n.dtype, np.integer) or (n < 0).any()):
        raise ValueError("n_useful must hold non-negative integers")
    n = n.astype(np.int64)
    distinct, inverse = np.unique(n, return_inverse=True)
    positive = distinct > 0
    longest = np.zeros(distinct.shape, dtype=np.int64)
    crossings = np.zeros(distinct.shape, dtype=np.int64)
    longest[positive] = np.round(np.log2(distinct[positive])).astype(np.int64) + LONGEST_RUN_SLACK
    crossings[positive] = stats.binom.ppf(CROSSINGS_QUANTILE, distinct[positive] - 1, 0.5).astype(np.int64)
    return longest[inverse].reshape(n.shape), crossings[inverse].reshape(n.shape)


@dataclass(frozen=True)
class RunsAnalysis:
    """Anhoej runs analysis of each chart segment (one value per segment).

    Attributes
    ----------
    n_obs
        Observed points.
    n_useful
        Points not on the centre line.
    longest_run, longest_run_max
        Longest run on one side of the centre line, and its upper limit.
    n_crossings, n_crossings_min
        Times the line crosses the centre line, and the lower limit.
    runs_signal
        True when the longest run exceeds its limit or the crossings fall below theirs.
    """

    n_obs: IntArray
    n_useful: IntArray
    longest_run: IntArray
    longest_run_max: IntArray
    n_crossings: IntArray
    n_crossings_min: IntArray
    runs_signal: BoolArray


def anhoej_runs(values: FloatArray, centre: FloatArray) -> RunsAnalysis:
    """Anhoej runs analysis of each row of a segment panel around its centre line.

    Parameters
    ----------
    values
        Segment panel: one chart segment per row, points left-aligned, NaN after (or for a missing point).
    centre
        Centre line per row (or per point, same shape as ``values``).

    Returns
    -------
    RunsAnalysis
        One value per row.

    Notes
    -----
    Points on the centre line are dropped (they neither break nor extend a run). With the sides
    :math:`s_t = \\mathrm{sign}(x_t - CL) \\ne 0` of the useful points in order, a run starts where
    :math:`s_t` differs from the previous useful side; crossings = runs - 1. Run lengths come from cumulative
    counts of useful points, forward-filled from each run's start, without a loop over series.

    References
    ----------
    J. Anhoej, "Diagnostic value of run chart analysis", PLoS ONE 10 (2015) e0121349; qicharts2 0.8.1,
    ``runs.analysis``.

    Examples
    --------
    The cdi data of qicharts2 around their median 17; R: ``qic(month, n, data = cdi)`` gives 32 useful points,
    longest run 14 (limit 8) and 6 crossings (minimum 11), a signal.

    >>> y = np.array([[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...                17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]], dtype=float)
    >>> r = anhoej_runs(y, np.array([17.0]))
    >>> r.n_useful.tolist(), r.longest_run.tolist(), r.n_crossings.tolist(), r.runs_signal.tolist()
    ([32], [14], [6], [True])
    """
    n_rows, width = values.shape
    centre_arr = np.asarray(centre, dtype=np.float64)
    centre_2d = centre_arr[:, None] if centre_arr.ndim == 1 else centre_arr
    side: Int8Array = (values > centre_2d).view(np.int8) - (values < centre_2d).view(np.int8)
    useful = side != 0
    n_obs = (~np.isnan(values)).sum(axis=1)
    n_useful = useful.sum(axis=1)

    columns = np.arange(width)
    # side of the last useful point at or before t (0 before the first), then shifted to "before t"
    last_useful = np.maximum.accumulate(np.where(useful, columns, -1), axis=1)
    filled = np.take_along_axis(side, np.maximum(last_useful, 0), axis=1) * (last_useful >= 0)
    previous_side = np.zeros_like(side)
    previous_side[:, 1:] = filled[:, :-1]
    run_start = useful & (previous_side != side)
    n_runs = run_start.sum(axis=1)

    useful_count = np.cumsum(useful, axis=1, dtype=np.int32)
    count_at_start = np.maximum.accumulate(np.where(run_start, useful_count, 0), axis=1)
    run_length = np.where(useful, useful_count - count_at_start + 1, 0)
    longest_run = run_length.max(axis=1) if width else np.zeros(n_rows, dtype=np.int64)
    n_crossings = np.maximum(n_runs - 1, 0)

    longest_max, crossings_min = anhoej_limits(n_useful)
    signal = (n_useful > 0) & ((longest_run > longest_max) | (n_crossings < crossings_min))
    return RunsAnalysis(
        n_obs=n_obs.astype(np.int64),
        n_useful=n_useful.astype(np.int64),
        longest_run=longest_run.astype(np.int64),
        longest_run_max=longest_max,
        n_crossings=n_crossings.astype(np.int64),
        n_crossings_min=crossings_min,
        runs_signal=signal,
    )


def baseline_median(values: FloatArray, length: IntArray, freeze: int | None = None) -> FloatArray:
    """Median of the baseline points (the first ``freeze``, or all) of each row of a segment panel.

    Parameters
    ----------
    values
        Segment panel (points left-aligned, NaN after).
    length
        Observed points per row (at least 1).
    freeze
        Number of leading points in the baseline; None for all.

    Returns
    -------
    ndarray of float64
        Median per row.

    Notes
    -----
    Rows are sorted once (NaN last); the median is the middle value, or the mean of the two middle values.

    References
    ----------
    qicharts2 0.8.1, ``qic.run`` (``stats::median`` of the baseline).

    Examples
    --------
    R: ``median(c(3, 1, 2))`` is 2, the centre of ``qic(c(3, 1, 2, 10), freeze = 3)``.

    >>> baseline_median(np.array([[3.0, 1.0, 2.0, 10.0]]), np.array([4]), freeze=3).tolist()
    [2.0]
    """
    n_base = length if freeze is None else np.minimum(length, freeze)
    width = values.shape[1]
    in_base = np.arange(width)[None, :] < n_base[:, None]
    ordered = np.sort(np.where(in_base, values, np.nan), axis=1)
    rows = np.arange(values.shape[0])
    low = ordered[rows, (n_base - 1) // 2]
    high = ordered[rows, n_base // 2]
    median: FloatArray = (low + high) / 2
    return median


@dataclass(frozen=True)
class RunChart:
    """Run charts for every series (and phase) of a panel.

    Attributes
    ----------
    values
        The panel (float).
    segment_index
        Row of the per-segment arrays for each point; -1 where missing.
    series, segment
        Per segment: panel row and phase ordinal within it.
    centre
        Per segment: the median of its baseline.
    runs
        Per segment: the Anhoej runs analysis.
    """

    values: FloatArray
    segment_index: NDArray[np.int32]
    series: IntArray
    segment: IntArray
    centre: FloatArray
    runs: RunsAnalysis

    @property
    def centre_line(self) -> FloatArray:
        """Centre line at each point (series x time); NaN where missing."""
        missing = self.segment_index < 0
        out: FloatArray = self.centre[np.where(missing, 0, self.segment_index)]
        out[missing] = np.nan
        return out


def run_chart(values: ArrayLike, phase: ArrayLike | None = None, freeze: int | None = None) -> RunChart:
    """Run charts with Anhoej rules for every series (and phase) of a panel at once.

    Parameters
    ----------
    values
        Panel of shape (n_series, n_times); NaN for missing points (skipped).
    phase
        Optional integer panel: phase (qicharts2 ``part``) of each point, non-decreasing along time; each
        phase gets its own median and runs analysis.
    freeze
        Median from the first ``freeze`` points of each phase (qicharts2 ``freeze``); runs are still analysed
        over every point. None uses all points.

    Returns
    -------
    RunChart
        Centre lines and runs analysis per segment.

    Notes
    -----
    Centre = median of the baseline (:func:`baseline_median`); runs analysis by :func:`anhoej_runs`. qicharts2
    ignores ``freeze`` when ``part`` is given; here both apply (freeze within each phase).

    References
    ----------
    J. Anhoej and A. V. Olesen, PLoS ONE 9 (2014) e113825; qicharts2 0.8.1, ``qic(chart = "run")``.

    Examples
    --------
    R: ``qic(month, n, data = cdi, freeze = 24)`` gives median 19, 31 useful points, longest run 15.

    >>> y = [[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...       17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]]
    >>> chart = run_chart(y, freeze=24)
    >>> chart.centre.tolist(), chart.runs.n_useful.tolist(), chart.runs.longest_run.tolist()
    ([19.0], [31], [15])
    """
    if freeze is not None and (
        isinstance(freeze, bool) or not isinstance(freeze, int | np.integer) or freeze < 1
    ):
        raise ValueError(f"freeze must be a positive integer or None, got {freeze!r}")
    panel = as_panel(values)
    phase_arr = as_phase(phase, panel.shape)
    n_series, n_times = panel.shape
    segment_index = np.empty((n_series, n_times), dtype=np.int32)
    parts: list[tuple[int, SegmentLayout, FloatArray, RunsAnalysis]] = []
    block = max(1, _BLOCK_ELEMENTS // n_times)
    segments_before = 0
    for start in range(0, n_series, block):
        rows = slice(start, min(start + block, n_series))
        layout = segment_layout(panel[rows], None if phase_arr is None else phase_arr[rows], row_offset=start)
        seg_values: FloatArray = layout.to_segments(panel[rows])
        centre = baseline_median(seg_values, layout.length, freeze)
        parts.append((start, layout, centre, anhoej_runs(seg_values, centre)))
        index = np.arange(segments_before, segments_before + layout.n_segments, dtype=np.int32)
        layout.per_point(index, fill=-1, out=segment_index[rows])
        segments_before += layout.n_segments
    return RunChart(
        values=panel,
        segment_index=segment_index,
        series=np.concatenate([layout.series + start for start, layout, _, _ in parts]),
        segment=np.concatenate([layout.segment for _, layout, _, _ in parts]),
        centre=np.concatenate([centre for _, _, centre, _ in parts]),
        runs=concatenate_runs([runs for _, _, _, runs in parts]),
    )


def concatenate_runs(parts: list[RunsAnalysis]) -> RunsAnalysis:
    """Join runs analyses of consecutive blocks of segments.

    Parameters
    ----------
    parts
        Analyses in segment order.

    Returns
    -------
    RunsAnalysis
        One analysis over all segments.

    Notes
    -----
    Field-by-field concatenation.

    References
    ----------
    None: bookkeeping.

    Examples
    --------
    Two one-point runs around 2, as ``qic(c(1, 2, 3))`` counts them (2 useful points).

    >>> a = anhoej_runs(np.array([[1.0, 2.0, 3.0]]), np.array([2.0]))
    >>> concatenate_runs([a, a]).n_useful.tolist()
    [2, 2]
    """
    return RunsAnalysis(
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in RunsAnalysis.__dataclass_fields__
        }
    )
