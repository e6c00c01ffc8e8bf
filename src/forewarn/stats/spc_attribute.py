"""Shewhart control charts in the manner of qicharts2: I, C, U, P, Laney U' and P', Xbar and S, over panels.

Each function takes whole panels (series x time, NaN where missing) and returns centre lines, 3-sigma (and
2-sigma) limits and signals for every series and phase at once, with the Anhoej runs analysis around the
centre line. The conventions are those of qicharts2 0.8.1 with the package attached (moving ranges screened),
so that results can be checked against ``qic()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.runs import RunsAnalysis, anhoej_runs, concatenate_runs
from forewarn.stats.spc_layout import SegmentLayout, as_panel, as_phase, segment_layout
from forewarn.stats.spc_types import MR_SCREEN_FACTOR

ChartKind = Literal["i", "c", "u", "uprime", "p", "pprime", "xbar", "s"]

D2_FOR_TWO = 1.128
"""d2 for moving ranges of two points: sigma = mean moving range / 1.128."""
SIGMA_LIMIT = 3.0
"""Control limits at 3 sigma."""
SIGMA_WARNING = 2.0
"""Warning ("95 %") limits at 2 sigma."""
_BLOCK_ELEMENTS = 1 << 16


@dataclass(frozen=True, eq=False)
class ControlChartOptions:
    """Options of a qicharts2-style control chart, validated once when built.

    Attributes
    ----------
    freeze
        Centre and limits from the first ``freeze`` points of each phase (qicharts2 ``freeze``); None: all.
    screen_moving_ranges
        Drop moving ranges >= 3.267 times their mean before estimating sigma (I, U', P' charts). qicharts2
        does this when the package is attached (``options(qic.screenedmr = TRUE)``), the default for users.
    multiply
        Factor applied to values, centre and limits for display (qicharts2 ``multiply``), e.g. 100 or 10000.
    """

    freeze: int | None = None
    screen_moving_ranges: bool = True
    multiply: float = 1.0

    def __post_init__(self) -> None:
        if self.freeze is not None and (
            isinstance(self.freeze, bool) or not isinstance(self.freeze, int | np.integer) or self.freeze < 1
        ):
            raise ValueError(f"freeze must be a positive integer or None, got {self.freeze!r}")
        if not isinstance(self.screen_moving_ranges, bool | np.bool_):
            raise ValueError(f"screen_moving_ranges must be True or False, got {self.screen_moving_ranges!r}")
        if not np.isfinite(self.multiply) or self.multiply <= 0:
            raise ValueError(f"multiply must be a positive finite number, got {self.multiply!r}")


@dataclass(frozen=True)
class ControlChartSummary:
    """One row per chart segment (series-major, then phase), as qicharts2's ``summary(qic(...))``.

    Attributes
    ----------
    series, segment
        Panel row and phase ordinal within it.
    centre
        Centre line (multiplied).
    mean_lcl, mean_lcl_95, mean_ucl_95, mean_ucl
        Mean of the lower/upper 3-sigma and 2-sigma limits over the segment's points (aLCL... in qicharts2).
    n_sigma_signals
        Points outside the 3-sigma limits.
    runs
        Anhoej runs analysis around the centre line.
    """

    series: IntArray
    segment: IntArray
    centre: FloatArray
    mean_lcl: FloatArray
    mean_lcl_95: FloatArray
    mean_ucl_95: FloatArray
    mean_ucl: FloatArray
    n_sigma_signals: IntArray
    runs: RunsAnalysis


@dataclass(frozen=True)
class ControlChart:
    """A control chart for every series (and phase) of a panel.

    Attributes
    ----------
    chart
        Chart kind ("i", "c", "u", "uprime", "p", "pprime", "xbar", "s").
    y
        Plotted value at each point (multiplied); NaN where missing.
    sigma
        Standard error of the plotted value at each point (multiplied); NaN where missing.
    sigma_signal
        Point outside the 3-sigma limits.
    segment_index
        Row of ``summary`` for each point; -1 where missing.
    summary
        Per-segment centre, mean limits, signal counts and runs analysis.
    lower_floor, upper_ceiling
        Where limits are clipped (0 for counts, rates and SDs; 1 for proportions, before multiplying); None for
        no clipping.
    options
        The options used.

    The limits at each point (``lcl``, ``ucl``, ``lcl_95``, ``ucl_95``) and the centre line (``centre``) are
    properties, computed when read as :math:`CL \\pm k\\sigma_t` clipped to the floor and ceiling.
    """

    chart: ChartKind
    y: FloatArray
    sigma: FloatArray
    sigma_signal: BoolArray
    segment_index: NDArray[np.int32]
    summary: ControlChartSummary
    lower_floor: float | None
    upper_ceiling: float | None
    options: ControlChartOptions

    @property
    def centre(self) -> FloatArray:
        """Centre line at each point (multiplied); NaN where missing."""
        missing = self.segment_index < 0
        out: FloatArray = self.summary.centre[np.where(missing, 0, self.segment_index)]
        out[missing] = np.nan
        return out

    def _limit(self, width: float) -> FloatArray:
        multiply = self.options.multiply
        limit = self.centre + width * self.sigma
        if width < 0 and self.lower_floor is not None:
            np.maximum(limit, self.lower_floor * multiply, out=limit, where=~np.isnan(limit))
        if width > 0 and self.upper_ceiling is not None:
            np.minimum(limit, self.upper_ceiling * multiply, out=limit, where=~np.isnan(limit))
        return limit

    @property
    def lcl(self) -> FloatArray:
        """Lower 3-sigma control limit at each point (multiplied); NaN where missing or undefined."""
        return self._limit(-SIGMA_LIMIT)

    @property
    def ucl(self) -> FloatArray:
        """Upper 3-sigma control limit at each point (multiplied); NaN where missing or undefined."""
        return self._limit(SIGMA_LIMIT)

    @property
    def lcl_95(self) -> FloatArray:
        """Lower 2-sigma limit at each point (multiplied)."""
        return self._limit(-SIGMA_WARNING)

    @property
    def ucl_95(self) -> FloatArray:
        """Upper 2-sigma limit at each point (multiplied)."""
        return self._limit(SIGMA_WARNING)


@dataclass(frozen=True)
class _Limits:
    """Centre per segment and sigma per point of a block (segment panel)."""

    centre: FloatArray
    sigma: FloatArray
    lower_floor: float | None
    upper_ceiling: float | None


# ------------------------------------------------------------------------------------------------------------
# Constants for subgroup charts
# ------------------------------------------------------------------------------------------------------------


def c4(n: ArrayLike) -> FloatArray:
    """Bias constant c4(n) of the sample standard deviation (NaN for n <= 1).

    Parameters
    ----------
    n
        Subgroup sizes.

    Returns
    -------
    ndarray of float64
        :math:`c_4(n) = \\sqrt{2/(n-1)}\\,\\Gamma(n/2) / \\Gamma((n-1)/2)`.

    Notes
    -----
    :math:`E[s] = c_4 \\sigma` for normal data.

    References
    ----------
    D. C. Montgomery, *Introduction to Statistical Quality Control* (7th ed., 2013), Appendix VI; qicharts2
    0.8.1, ``c4``.

    Examples
    --------
    R: ``sqrt(2 / 4) * exp(lgamma(5 / 2) - lgamma(4 / 2))`` (qicharts2:::c4(5)) is 0.9400.

    >>> round(float(c4(5)), 4)
    0.94
    """
    size = np.asarray(n, dtype=np.float64)
    size = np.where(size > 1, size, np.nan)
    out: FloatArray = np.sqrt(2 / (size - 1)) * np.exp(gammaln(size / 2) - gammaln((size - 1) / 2))
    return out


# ------------------------------------------------------------------------------------------------------------
# Sigma estimators per chart kind (each works on a block of the segment panel)
# ------------------------------------------------------------------------------------------------------------


def _baseline_mask(length: IntArray, width: int, freeze: int | None) -> tuple[BoolArray, IntArray]:
    n_base = length if freeze is None else np.minimum(length, freeze)
    mask: BoolArray = np.arange(width)[None, :] < n_base[:, None]
    return mask, n_base


def _mean_moving_range(values: FloatArray, n_base: IntArray, screen: bool) -> FloatArray:
    """Mean moving range of the first n_base points of each row, screened (Nelson 1982) if asked."""
    moving_range = np.abs(np.diff(values, axis=1))
    in_base = np.arange(values.shape[1] - 1)[None, :] < (n_base - 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_mr = np.where(in_base, moving_range, 0.0).sum(axis=1) / (n_base - 1)
        if screen:
            kept = in_base & (moving_range < MR_SCREEN_FACTOR * mean_mr[:, None])
            n_kept = kept.sum(axis=1)
            screened = np.where(kept, moving_range, 0.0).sum(axis=1) / n_kept
            # all moving ranges screened out happens only when all are 0: keep 0 rather than NaN limits
            mean_mr = np.where(n_kept > 0, screened, mean_mr)
    out: FloatArray = mean_mr
    return out


def _ratio_centre(numerator: FloatArray, denominator: FloatArray, in_base: BoolArray) -> FloatArray:
    centre: FloatArray = np.where(in_base, numerator, 0.0).sum(axis=1) / np.where(
        in_base, denominator, 0.0
    ).sum(axis=1)
    return centre


def _laney_factor(
    y: FloatArray, centre: FloatArray, sigma: FloatArray, n_base: IntArray, screen: bool
) -> FloatArray:
    """Laney's sigma_z: the mean moving range of the z-scores / 1.128."""
    z = (y - centre[:, None]) / sigma
    factor: FloatArray = _mean_moving_range(z, n_base, screen) / D2_FOR_TWO
    return factor


def _i_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    y = inputs["y"]
    in_base, n_base = _baseline_mask(length, y.shape[1], options.freeze)
    centre = np.where(in_base, y, 0.0).sum(axis=1) / n_base
    # qicharts2 takes moving ranges of y - CL, which are those of y up to rounding
    sigma = _mean_moving_range(y - centre[:, None], n_base, options.screen_moving_ranges) / D2_FOR_TWO
    return _Limits(centre, np.broadcast_to(sigma[:, None], y.shape), None, None)


def _c_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    y = inputs["y"]
    in_base, n_base = _baseline_mask(length, y.shape[1], options.freeze)
    centre = np.where(in_base, y, 0.0).sum(axis=1) / n_base
    return _Limits(centre, np.broadcast_to(np.sqrt(centre)[:, None], y.shape), 0.0, None)


def _u_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    counts, size = inputs["counts"], inputs["size"]
    in_base, _ = _baseline_mask(length, counts.shape[1], options.freeze)
    centre = _ratio_centre(counts, size, in_base)
    return _Limits(centre, np.sqrt(centre[:, None] / size), 0.0, None)


def _uprime_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    base = _u_limits(inputs, length, options)
    _, n_base = _baseline_mask(length, base.sigma.shape[1], options.freeze)
    factor = _laney_factor(inputs["y"], base.centre, base.sigma, n_base, options.screen_moving_ranges)
    return _Limits(base.centre, base.sigma * factor[:, None], 0.0, None)


def _p_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    counts, size = inputs["counts"], inputs["size"]
    in_base, _ = _baseline_mask(length, counts.shape[1], options.freeze)
    centre = _ratio_centre(counts, size, in_base)
    return _Limits(centre, np.sqrt(centre[:, None] * (1 - centre[:, None]) / size), 0.0, 1.0)


def _pprime_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    base = _p_limits(inputs, length, options)
    _, n_base = _baseline_mask(length, base.sigma.shape[1], options.freeze)
    factor = _laney_factor(inputs["y"], base.centre, base.sigma, n_base, options.screen_moving_ranges)
    return _Limits(base.centre, base.sigma * factor[:, None], 0.0, 1.0)


def _pooled_sd(sd: FloatArray, size: FloatArray, length: IntArray, in_base: BoolArray) -> FloatArray:
    """Pooled SD (Montgomery 6.31) when subgroup sizes vary within a segment, else the mean SD (6.29)."""
    valid = np.arange(sd.shape[1])[None, :] < length[:, None]
    varies = np.where(valid, size, -np.inf).max(axis=1) != np.where(valid, size, np.inf).min(axis=1)
    pooled = np.sqrt(
        np.where(in_base, (size - 1) * sd**2, 0.0).sum(axis=1) / np.where(in_base, size - 1, 0.0).sum(axis=1)
    )
    mean_sd = np.where(in_base, sd, 0.0).sum(axis=1) / in_base.sum(axis=1)
    out: FloatArray = np.where(varies, pooled, mean_sd)
    return out


def _xbar_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    mean, sd, size = inputs["y"], inputs["sd"], inputs["size"]
    in_base, _ = _baseline_mask(length, mean.shape[1], options.freeze)
    centre = _ratio_centre(size * mean, size, in_base)
    sigma_within = _pooled_sd(sd, size, length, in_base)
    # sigma of a subgroup mean: s / (c4 sqrt(n)), so 3 sigma = A3 s
    return _Limits(centre, sigma_within[:, None] / (c4(size) * np.sqrt(size)), None, None)


def _s_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    sd, size = inputs["y"], inputs["size"]
    in_base, _ = _baseline_mask(length, sd.shape[1], options.freeze)
    centre = _pooled_sd(sd, size, length, in_base)
    c4_n = c4(size)
    # sigma of s: CL sqrt(1 - c4^2) / c4, so B3/B4 = 1 -+ 3 sqrt(1 - c4^2) / c4
    return _Limits(centre, centre[:, None] * np.sqrt(1 - c4_n**2) / c4_n, 0.0, None)


_LIMITS: dict[ChartKind, Callable[[dict[str, FloatArray], IntArray, ControlChartOptions], _Limits]] = {
    "i": _i_limits,
    "c": _c_limits,
    "u": _u_limits,
    "uprime": _uprime_limits,
    "p": _p_limits,
    "pprime": _pprime_limits,
    "xbar": _xbar_limits,
    "s": _s_limits,
}

# Charts whose sigma comes from moving ranges need two baseline points.
_MIN_BASELINE: dict[ChartKind, int] = {"i": 2, "uprime": 2, "pprime": 2}


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


# ------------------------------------------------------------------------------------------------------------
# Named charts
# ------------------------------------------------------------------------------------------------------------


def i_chart(
    values: ArrayLike, options: ControlChartOptions | None = None, phase: ArrayLike | None = None
) -> ControlChart:
    """Individuals (I) chart: sigma from the mean moving range, screened as qicharts2 does.

    Parameters
    ----------
    values
        Panel (series x time), NaN for missing points.
    options
        :class:`ControlChartOptions` (freeze, screening, multiply).
    phase
        Optional phase panel (qicharts2 ``part``).

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{x}` of the baseline; :math:`\\sigma = \\overline{MR} / 1.128`, the moving ranges
    :math:`|x_t - x_{t-1}|` of the baseline, those :math:`\\ge 3.267\\,\\overline{MR}` dropped before
    averaging again when screening; limits :math:`CL \\pm 3\\sigma`.

    References
    ----------
    D. C. Montgomery (2013), eq. 6.33; L. S. Nelson, J. Quality Technology 14 (1982) 172-173; qicharts2 0.8.1,
    ``qic.i``.

    Examples
    --------
    R: ``qic(month, n, data = cdi, chart = "i")`` gives centre 14.8333, limits 3.3346 and 26.3321.

    >>> y = [[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...       17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]]
    >>> chart = i_chart(y)
    >>> [round(float(v), 4) for v in (chart.summary.centre[0], chart.lcl[0, 0], chart.ucl[0, 0])]
    [14.8333, 3.3346, 26.3321]
    """
    return control_chart("i", {"y": values}, options, phase)


def c_chart(
    counts: ArrayLike, options: ControlChartOptions | None = None, phase: ArrayLike | None = None
) -> ControlChart:
    """C chart of counts in equal areas of opportunity: sigma = sqrt(mean count).

    Parameters
    ----------
    counts
        Panel of non-negative counts (series x time), NaN for missing.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{c}`, limits :math:`\\bar{c} \\pm 3\\sqrt{\\bar{c}}`, the lower one clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eq. 7.17; qicharts2 0.8.1, ``qic.c``.

    Examples
    --------
    R: ``qic(month, n, data = cdi, chart = "c")`` gives limits 3.2791 and 26.3876.

    >>> y = [[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...       17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]]
    >>> chart = c_chart(y)
    >>> round(float(chart.lcl[0, 0]), 4), round(float(chart.ucl[0, 0]), 4)
    (3.2791, 26.3876)
    """
    _check_non_negative(counts, "counts")
    return control_chart("c", {"y": counts}, options, phase)


def u_chart(
    counts: ArrayLike,
    exposure: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """U chart of rates (counts per unit of exposure): sigma_t = sqrt(u-bar / n_t).

    Parameters
    ----------
    counts
        Panel of non-negative counts.
    exposure
        Panel of positive exposures (areas of opportunity, e.g. patient-days).
    options
        :class:`ControlChartOptions` (``multiply`` to show e.g. per 10,000 days).
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts (y = counts / exposure, multiplied).

    Notes
    -----
    :math:`\\bar{u} = \\sum c / \\sum n` over the baseline, limits
    :math:`\\bar{u} \\pm 3\\sqrt{\\bar{u}/n_t}`, the lower one clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eq. 7.19; qicharts2 0.8.1, ``qic.u``.

    Examples
    --------
    R: ``qic(1:3, c(2, 4, 3), rep(100, 3), chart = "u", multiply = 100)`` gives centre 3 and upper limit
    100 * (0.03 + 3 * sqrt(0.03 / 100)) = 8.1962.

    >>> chart = u_chart([[2.0, 4.0, 3.0]], [[100.0, 100.0, 100.0]], ControlChartOptions(multiply=100))
    >>> float(chart.summary.centre[0]), round(float(chart.ucl[0, 0]), 4)
    (3.0, 8.1962)
    """
    _check_counts(counts, exposure, "exposure", proportion=False)
    return control_chart("u", _rate_inputs(counts, exposure), options, phase)


def uprime_chart(
    counts: ArrayLike,
    exposure: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Laney U' chart: the U chart's sigma scaled by the between-subgroup spread of the z-scores.

    Parameters
    ----------
    counts
        Panel of non-negative counts.
    exposure
        Panel of positive exposures.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`z_t = (u_t - \\bar{u}) / \\sqrt{\\bar{u}/n_t}`, :math:`\\sigma_z = \\overline{MR}(z) / 1.128`
    (screened moving ranges), limits :math:`\\bar{u} \\pm 3\\sigma_z\\sqrt{\\bar{u}/n_t}`.

    References
    ----------
    D. B. Laney, "Improved control charts for attributes", Quality Engineering 14 (2002) 531-537; qicharts2
    0.8.1, ``qic.up``.

    Examples
    --------
    R: ``qic(1:4, c(20, 40, 30, 35), rep(1000, 4), chart = "up")`` has centre 125 / 4000 = 0.03125.

    >>> chart = uprime_chart([[20.0, 40.0, 30.0, 35.0]], [[1000.0, 1000.0, 1000.0, 1000.0]])
    >>> round(float(chart.summary.centre[0]), 5)
    0.03125
    """
    _check_counts(counts, exposure, "exposure", proportion=False)
    return control_chart("uprime", _rate_inputs(counts, exposure), options, phase)


def p_chart(
    counts: ArrayLike,
    trials: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """P chart of proportions: sigma_t = sqrt(p-bar (1 - p-bar) / n_t), limits clipped to [0, 1].

    Parameters
    ----------
    counts
        Panel of counts of the event (0 <= counts <= trials).
    trials
        Panel of positive denominators.
    options
        :class:`ControlChartOptions` (``multiply=100`` for percentages).
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts (y = counts / trials).

    Notes
    -----
    :math:`\\bar{p} = \\sum x / \\sum n` over the baseline; limits :math:`\\bar{p} \\pm
    3\\sqrt{\\bar{p}(1-\\bar{p})/n_t}` clipped to [0, 1].

    References
    ----------
    D. C. Montgomery (2013), section 7.2; qicharts2 0.8.1, ``qic.p``.

    Examples
    --------
    R: ``qic(1:3, c(5, 10, 15), rep(100, 3), chart = "p")`` gives centre 0.1 and lower limit
    0.1 - 3 * sqrt(0.1 * 0.9 / 100) = 0.01.

    >>> chart = p_chart([[5.0, 10.0, 15.0]], [[100.0, 100.0, 100.0]])
    >>> float(chart.summary.centre[0]), float(chart.lcl[0, 0])
    (0.1, 0.01)
    """
    _check_counts(counts, trials, "trials", proportion=True)
    return control_chart("p", _rate_inputs(counts, trials), options, phase)


def pprime_chart(
    counts: ArrayLike,
    trials: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Laney P' chart: the P chart's sigma scaled by the between-subgroup spread of the z-scores.

    Parameters
    ----------
    counts
        Panel of counts of the event.
    trials
        Panel of positive denominators.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`z_t = (p_t - \\bar{p}) / \\sqrt{\\bar{p}(1-\\bar{p})/n_t}`, :math:`\\sigma_z = \\overline{MR}(z) /
    1.128` (screened moving ranges), limits :math:`\\bar{p} \\pm 3\\sigma_z\\sqrt{\\bar{p}(1-\\bar{p})/n_t}`
    clipped to [0, 1].

    References
    ----------
    D. B. Laney, Quality Engineering 14 (2002) 531-537; qicharts2 0.8.1, ``qic.pp``.

    Examples
    --------
    R: ``qic(i, r, n, data = nhs_accidents, chart = "pp")``: limits about 0.9401 and 0.9657, none outside.

    >>> r = [[266501, 264225, 276532, 281461, 269071, 261215, 270409, 279778, 270483, 270320,
    ...       267923, 271478, 255353, 256820, 261835, 259144, 255910, 260863, 264465, 260989]]
    >>> n = [[280443, 276823, 291681, 296155, 282343, 275888, 283867, 295251, 284468, 282529,
    ...       279618, 283932, 266629, 268091, 276803, 271578, 266005, 273520, 278574, 273772]]
    >>> chart = pprime_chart(r, n)
    >>> round(float(chart.summary.mean_lcl[0]), 6), int(chart.summary.n_sigma_signals[0])
    (0.940102, 0)
    """
    _check_counts(counts, trials, "trials", proportion=True)
    return control_chart("pprime", _rate_inputs(counts, trials), options, phase)


def xbar_chart(
    means: ArrayLike,
    sds: ArrayLike,
    sizes: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Xbar chart of subgroup means, sigma from the subgroup SDs (pooled when sizes vary).

    Parameters
    ----------
    means, sds, sizes
        Panels of subgroup means, standard deviations and sizes (sizes >= 2).
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\sum n_t \\bar{x}_t / \\sum n_t`; :math:`\\bar{s}` is the pooled SD
    :math:`\\sqrt{\\sum (n_t-1)s_t^2 / \\sum (n_t-1)}` when sizes vary in the segment, else the mean SD;
    limits :math:`CL \\pm A_3(n_t)\\,\\bar{s}` with :math:`A_3 = 3 / (c_4\\sqrt{n})`.

    References
    ----------
    D. C. Montgomery (2013), eqs. 6.29-6.31; qicharts2 0.8.1, ``qic.xbar``.

    Examples
    --------
    Subgroups 8:12, 10:14 and 9:13 (means 10, 12, 11; SD 1.5811 each); R: ``qic(rep(1:3, each = 5),
    c(8:12, 10:14, 9:13), chart = "xbar")`` gives centre 11 and upper limit 11 + A3(5) * 1.5811 = 13.2568.

    >>> sd = float(np.std(np.arange(8, 13), ddof=1))
    >>> chart = xbar_chart([[10.0, 12.0, 11.0]], [[sd, sd, sd]], [[5, 5, 5]])
    >>> float(chart.summary.centre[0]), round(float(chart.ucl[0, 0]), 4)
    (11.0, 13.2568)
    """
    _check_subgroups(sds, sizes)
    return control_chart("xbar", {"y": means, "sd": sds, "size": sizes}, options, phase)


def s_chart(
    sds: ArrayLike,
    sizes: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """S chart of subgroup standard deviations.

    Parameters
    ----------
    sds, sizes
        Panels of subgroup standard deviations and sizes (sizes >= 2).
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{s}` (pooled when sizes vary, as for :func:`xbar_chart`); limits :math:`B_3\\bar{s}` and
    :math:`B_4\\bar{s}` with :math:`B_{3,4} = 1 \\mp 3\\sqrt{1-c_4^2}/c_4`, the lower clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eqs. 6.27-6.31; qicharts2 0.8.1, ``qic.s``.

    Examples
    --------
    The subgroups of :func:`xbar_chart`'s example; R: ``qic(rep(1:3, each = 5), c(8:12, 10:14, 9:13),
    chart = "s")`` gives centre 1.5811, lower limit 0 and upper limit B4(5) * 1.5811 = 3.3030.

    >>> sd = float(np.std(np.arange(8, 13), ddof=1))
    >>> chart = s_chart([[sd, sd, sd]], [[5, 5, 5]])
    >>> [round(float(v), 4) for v in (chart.summary.centre[0], chart.lcl[0, 0], chart.ucl[0, 0])]
    [1.5811, 0.0, 3.303]
    """
    _check_subgroups(sds, sizes)
    return control_chart("s", {"y": sds, "size": sizes}, options, phase)


# ------------------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------------------


def _rate_inputs(counts: ArrayLike, size: ArrayLike) -> dict[str, ArrayLike]:
    count_panel = as_panel(counts, "counts")
    size_panel = as_panel(size, "size")
    if count_panel.shape != size_panel.shape:
        raise ValueError(
            f"counts has shape {count_panel.shape} but the denominator has shape {size_panel.shape}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = count_panel / size_panel
    return {"y": rate, "counts": count_panel, "size": size_panel}


def _check_non_negative(values: ArrayLike, name: str) -> None:
    panel = as_panel(values, name)
    if (panel < 0).any():
        raise ValueError(f"{name} must be non-negative")


def _check_counts(counts: ArrayLike, size: ArrayLike, size_name: str, proportion: bool) -> None:
    count_panel = as_panel(counts, "counts")
    size_panel = as_panel(size, size_name)
    if (count_panel < 0).any():
        raise ValueError("counts must be non-negative")
    if (size_panel <= 0).any():
        raise ValueError(f"{size_name} must be positive (NaN for a missing point)")
    if proportion and count_panel.shape == size_panel.shape and (count_panel > size_panel).any():
        raise ValueError("counts must not exceed trials")


def _check_subgroups(sds: ArrayLike, sizes: ArrayLike) -> None:
    sd_panel = as_panel(sds, "sds")
    size_panel = as_panel(sizes, "sizes")
    if (sd_panel < 0).any():
        raise ValueError("sds must be non-negative")
    if (size_panel < 2).any():
        raise ValueError("sizes must be at least 2 (a standard deviation needs two observations)")
