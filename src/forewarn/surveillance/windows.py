"""Where each series stands in time: its indicator's latest period, and totals over the funnel's window.

Shared by the funnels, ranks and change detection, which all compare organisations over the same window.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.surveillance.panel import Panel


def series_attribute(panel: Panel, column: str) -> NDArray[np.object_]:
    """An indicator attribute (kind, polarity, code...) repeated for each series."""
    return np.asarray(panel.indicators[column].to_numpy()[panel.indicator_index], dtype=object)


def rows_of(values: np.ndarray, rows: IntArray) -> np.ndarray:
    """``values[rows]`` for sorted, distinct ``rows``: a view when they are consecutive (every series of a
    one-indicator partition), else a copy."""
    if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size:
        return values[int(rows[0]) : int(rows[-1]) + 1]
    return values[rows]


def indicator_periods(panel: Panel, index: int) -> int:
    """How many periods indicator ``index`` has in the panel (columns where any of its series has a row)."""
    rows = rows_of(panel.period, np.flatnonzero(panel.indicator_index == index))
    return int((~np.isnat(rows)).any(axis=0).sum())


def latest_period_units(panel: Panel) -> tuple[IntArray, IntArray]:
    """Series observed at their indicator's latest period, and that period's column."""
    last = panel.last_index
    latest = np.zeros(panel.indicators.height, dtype=np.int64)
    np.maximum.at(latest, panel.indicator_index, last)
    at = latest[panel.indicator_index]
    observed = ~np.isnan(panel.value[np.arange(panel.n_series), at]) if panel.n_series else np.zeros(0, bool)
    return np.flatnonzero(observed), at


# numpy's pairwise summation adds a row of 8 or more values in 8 running sums, a block of 8 columns at a time,
# and the columns left over one by one (as :func:`forewarn.stats.incontrol.summed_width` relies on).
_SUM_BLOCK = 8


def _window(panel: Panel, at: IntArray, days: int) -> tuple[int, NDArray[np.bool_]]:
    """The columns a sum over each series' latest ``days`` needs, from ``start`` on, and which of their cells
    are in the window.

    ``start`` is the first column any window reaches, down to a multiple of 8. The columns before it are outside
    every window, so the zeros they hold add nothing to numpy's pairwise sums: its 8 running sums meet the same
    values from the same block on, after adding exact zeros, and the columns left over one by one are the same
    ones (the count of columns cut is a multiple of 8). Sums over ``start:`` have the bits of sums over every
    column (a window of 12 months sums 12 to 19 of 36 columns, not 36); a row of negative zeros sums to +0.0
    either way (numpy's sum starts from +0.0), as ``tests/surveillance/test_windows.py`` checks. Used by
    :func:`window_estimates` (about 30 to 20 ms of CPU for four partitions of 50,000 x 36).
    """
    n = panel.n_series
    end = panel.period[np.arange(n), at]
    window = panel.period > (end - np.timedelta64(days, "D"))[:, None]
    window &= ~np.isnat(panel.period)
    used = np.flatnonzero(window.any(axis=0))
    start = int(used[0]) // _SUM_BLOCK * _SUM_BLOCK if used.size else 0
    return start, window[:, start:]


def window_sums(panel: Panel, at: IntArray, days: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Numerators, denominators and expected counts summed over each indicator's latest ``days`` of data.

    Monthly indicators are compared over their latest year (as SHMI and CQC funnels are), which a single noisy
    month would not support; an annual indicator's window holds just its latest period.
    """
    # Over every column (not :func:`_window`'s cut): the cut measured no faster here, the window's mask over the
    # whole panel being most of the cost (docs/performance.md, "The maths, third pass").
    n = panel.n_series
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    end = panel.period[np.arange(n), at]
    window = (panel.period > (end - np.timedelta64(days, "D"))[:, None]) & ~np.isnat(panel.period)

    def total(values: FloatArray) -> FloatArray:
        inside = window & np.isfinite(values)
        summed = np.where(inside, values, 0.0).sum(axis=1)
        return np.where(inside.any(axis=1), summed, np.nan)

    return total(panel.numerator), total(panel.denominator), total(panel.expected)


def window_periods(panel: Panel, at: IntArray, days: int) -> FloatArray:
    """How many periods with a value each series has in its indicator's latest ``days`` (the funnel window)."""
    n = panel.n_series
    if n == 0:
        return np.zeros(0)
    end = panel.period[np.arange(n), at]
    window = (panel.period > (end - np.timedelta64(days, "D"))[:, None]) & ~np.isnat(panel.period)
    return np.asarray((window & np.isfinite(panel.value)).sum(axis=1), dtype=np.float64)


def window_estimates(panel: Panel, at: IntArray, days: int) -> tuple[FloatArray, FloatArray]:
    """Precision-weighted mean of each series' values with a standard error over its indicator's latest
    ``days``, and that mean's standard error (NaN where the window has none)."""
    n = panel.n_series
    if n == 0:
        return np.zeros(0), np.zeros(0)
    se_all = panel.standard_error
    if not np.isfinite(se_all).any():  # a panel of counts: no estimate anywhere (what the sums below give)
        return np.full(n, np.nan), np.full(n, np.nan)
    start, inside = _window(panel, at, days)
    se, value = se_all[:, start:], panel.value[:, start:]
    inside &= np.isfinite(value)
    inside &= np.isfinite(se)
    inside &= se > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(inside, 1.0 / (se * se), 0.0)
        sum_w = w.sum(axis=1)
        mean = (w * np.where(inside, value, 0.0)).sum(axis=1) / sum_w
        return np.where(sum_w > 0, mean, np.nan), np.where(sum_w > 0, 1.0 / np.sqrt(sum_w), np.nan)
