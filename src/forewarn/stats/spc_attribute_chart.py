"""A qicharts2-style control chart of any kind over a whole panel, block by block (qicharts2 0.8.1, ``qic``).

Splits each block of series into chart segments by phase (qicharts2 ``part``), takes the kind's centre and sigma
(:mod:`forewarn.stats.spc_attribute_limits`), clips and multiplies the 3-sigma and 2-sigma limits in
qicharts2's order, flags points beyond the 3-sigma limits (Montgomery, *Introduction to Statistical Quality
Control*, 7th ed., 2013, ch. 6-7) and runs the Anhoej runs analysis around the centre line
(:mod:`forewarn.stats.runs`). The named charts of :mod:`forewarn.stats.spc_attribute` call :func:`control_chart`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.runs import RunsAnalysis, anhoej_runs, concatenate_runs
from forewarn.stats.spc_attribute_limits import _LIMITS, _MIN_BASELINE, _Limits
from forewarn.stats.spc_attribute_types import (
    SIGMA_LIMIT,
    SIGMA_WARNING,
    ChartKind,
    ControlChart,
    ControlChartOptions,
    ControlChartSummary,
)
from forewarn.stats.spc_layout import SegmentLayout, as_panel, as_phase, segment_layout

_BLOCK_ELEMENTS = 1 << 16


def control_chart(
    chart: ChartKind,
    inputs: dict[str, ArrayLike],
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Control chart of any kind for every series and phase of a panel; the named chart functions call this.

    Parameters
    ----------
    chart
        "i", "c", "u", "uprime", "p", "pprime", "xbar" or "s".
    inputs
        Panels by name: "y" (values, counts, subgroup means or SDs), and "counts", "size", "sd" as the kind
        needs (see the named functions).
    options
        :class:`ControlChartOptions`.
    phase
        Optional integer panel: phase (qicharts2 ``part``) of each point, non-decreasing along time.

    Returns
    -------
    ControlChart
        Values, limits, signals and per-segment summary.

    Notes
    -----
    Limits are :math:`CL \\pm 3\\sigma_t` and :math:`CL \\pm 2\\sigma_t`, :math:`\\sigma_t` by chart kind;
    p limits are clipped to [0, 1], c, u and s lower limits at 0. A point missing in any input is skipped.
    Runs are analysed around the centre line over all points of the segment (:func:`anhoej_runs`).

    References
    ----------
    D. C. Montgomery, *Introduction to Statistical Quality Control* (7th ed., 2013), ch. 6-7; qicharts2 0.8.1,
    ``qic``.

    Examples
    --------
    R: ``qic(c(3, 5, 4, 4), chart = "c")`` gives centre 4 and upper limit 4 + 3 * 2 = 10.

    >>> chart = control_chart("c", {"y": [[3.0, 5.0, 4.0, 4.0]]})
    >>> float(chart.summary.centre[0]), round(float(chart.ucl[0, 0]), 4)
    (4.0, 10.0)
    """
    opts = options if options is not None else ControlChartOptions()
    if chart not in _LIMITS:
        raise ValueError(f"chart must be one of {sorted(_LIMITS)}, got {chart!r}")
    panels = {name: as_panel(value, name) for name, value in inputs.items()}
    y = panels["y"]
    for name, panel in panels.items():
        if panel.shape != y.shape:
            raise ValueError(f"{name} has shape {panel.shape}, but y has shape {y.shape}")
    phase_arr = as_phase(phase, y.shape, "y")
    min_points = max(_MIN_BASELINE.get(chart, 1), 1)
    if opts.freeze is not None and opts.freeze < min_points:
        raise ValueError(f"freeze must be at least {min_points} for a {chart} chart, got {opts.freeze}")

    n_series, n_times = y.shape
    out = _ChartPoints(
        y=np.empty((n_series, n_times)),
        sigma=np.empty((n_series, n_times)),
        sigma_signal=np.empty((n_series, n_times), dtype=np.bool_),
        segment_index=np.empty((n_series, n_times), dtype=np.int32),
    )
    parts: list[_ChartSegments] = []
    block = max(1, _BLOCK_ELEMENTS // n_times)
    segments_before = 0
    floor_and_ceiling: tuple[float | None, float | None] = (None, None)
    for start in range(0, n_series, block):
        rows = slice(start, min(start + block, n_series))
        # a point missing in any input is missing in all
        missing = np.zeros((rows.stop - start, n_times), dtype=np.bool_)
        for panel in panels.values():
            missing |= np.isnan(panel[rows])
        observed = {name: np.where(missing, np.nan, panel[rows]) for name, panel in panels.items()}
        layout = segment_layout(
            observed["y"],
            None if phase_arr is None else phase_arr[rows],
            min_points=min_points,
            name="y",
            row_offset=start,
        )
        seg = {name: layout.to_segments(panel) for name, panel in observed.items()}
        limits = _LIMITS[chart](seg, layout.length, opts)
        floor_and_ceiling = (limits.lower_floor, limits.upper_ceiling)
        parts.append(_finish_block(layout, seg["y"], limits, out, rows, opts.multiply, start))
        index = np.arange(segments_before, segments_before + layout.n_segments, dtype=np.int32)
        layout.per_point(index, fill=-1, out=out.segment_index[rows])
        segments_before += layout.n_segments

    summary = ControlChartSummary(
        series=np.concatenate([p.series for p in parts]),
        segment=np.concatenate([p.segment for p in parts]),
        centre=np.concatenate([p.centre for p in parts]),
        mean_lcl=np.concatenate([p.mean_limits[:, 0] for p in parts]),
        mean_lcl_95=np.concatenate([p.mean_limits[:, 1] for p in parts]),
        mean_ucl_95=np.concatenate([p.mean_limits[:, 2] for p in parts]),
        mean_ucl=np.concatenate([p.mean_limits[:, 3] for p in parts]),
        n_sigma_signals=np.concatenate([p.n_sigma_signals for p in parts]),
        runs=concatenate_runs([p.runs for p in parts]),
    )
    return ControlChart(
        chart=chart,
        y=out.y,
        sigma=out.sigma,
        sigma_signal=out.sigma_signal,
        segment_index=out.segment_index,
        summary=summary,
        lower_floor=floor_and_ceiling[0],
        upper_ceiling=floor_and_ceiling[1],
        options=opts,
    )


@dataclass(frozen=True)
class _ChartPoints:
    y: FloatArray
    sigma: FloatArray
    sigma_signal: BoolArray
    segment_index: NDArray[np.int32]


@dataclass(frozen=True)
class _ChartSegments:
    series: IntArray
    segment: IntArray
    centre: FloatArray
    mean_limits: FloatArray
    n_sigma_signals: IntArray
    runs: RunsAnalysis


_LIMIT_WIDTHS = (-SIGMA_LIMIT, -SIGMA_WARNING, SIGMA_WARNING, SIGMA_LIMIT)


def _finish_block(
    layout: SegmentLayout,
    y: FloatArray,
    limits: _Limits,
    out: _ChartPoints,
    rows: slice,
    multiply: float,
    row_offset: int,
) -> _ChartSegments:
    """Limits (in qicharts2's order: clip, then multiply), signals and runs of a block; points into ``out``."""
    valid = layout.valid()
    centre = limits.centre[:, None]
    y_shown = y * multiply
    mean_limits = np.empty((layout.n_segments, len(_LIMIT_WIDTHS)))
    signal = np.zeros(y.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, width in enumerate(_LIMIT_WIDTHS):
            limit = centre + width * limits.sigma
            if limits.lower_floor is not None and width < 0:
                np.maximum(limit, limits.lower_floor, out=limit, where=~np.isnan(limit))
            if limits.upper_ceiling is not None and width > 0:
                np.minimum(limit, limits.upper_ceiling, out=limit, where=~np.isnan(limit))
            limit *= multiply
            defined = valid & np.isfinite(limit)
            mean_limits[:, k] = np.where(defined, limit, 0.0).sum(axis=1) / defined.sum(axis=1)
            if width == -SIGMA_LIMIT:
                signal |= y_shown < limit
            elif width == SIGMA_LIMIT:
                signal |= y_shown > limit
    sigma_shown = np.where(valid, limits.sigma * multiply, np.nan)
    layout.to_panel(y_shown, out=out.y[rows])
    layout.to_panel(sigma_shown, out=out.sigma[rows])
    layout.to_panel(signal, fill=False, out=out.sigma_signal[rows])
    return _ChartSegments(
        series=layout.series + row_offset,
        segment=layout.segment,
        centre=limits.centre * multiply,
        mean_limits=mean_limits,
        n_sigma_signals=signal.sum(axis=1),
        runs=anhoej_runs(y, limits.centre),
    )
