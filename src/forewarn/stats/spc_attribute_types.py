"""The qicharts2-style control charts' kinds, sigma constants, options and results (qicharts2 0.8.1).

The chart kinds (I, C, U, P, Laney U' and P', Xbar, S), d2 = 1.128 for moving ranges of two points (Montgomery,
*Introduction to Statistical Quality Control*, 7th ed., 2013, Appendix VI), the 3-sigma control and 2-sigma
warning widths, :class:`ControlChartOptions` (freeze, moving-range screening after Nelson 1982, multiply, as
``qic()`` takes them) and the results :class:`ControlChart` and :class:`ControlChartSummary`, whose limits are
computed when read. Shared by the sigma estimators (:mod:`forewarn.stats.spc_attribute_limits`), the panel
computation (:mod:`forewarn.stats.spc_attribute_chart`) and the named charts (:mod:`forewarn.stats.spc_attribute`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.runs import RunsAnalysis

ChartKind = Literal["i", "c", "u", "uprime", "p", "pprime", "xbar", "s"]

D2_FOR_TWO = 1.128
"""d2 for moving ranges of two points: sigma = mean moving range / 1.128."""

SIGMA_LIMIT = 3.0
"""Control limits at 3 sigma."""

SIGMA_WARNING = 2.0
"""Warning ("95 %") limits at 2 sigma."""


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
