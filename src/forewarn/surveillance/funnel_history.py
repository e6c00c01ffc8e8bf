"""An indicator's funnel at every one of its periods, as the scan would have drawn it then: each organisation's
z-score and its position against the funnel's limits, period by period.

The scan keeps one funnel per indicator (its latest window); a board asking "how long has this organisation been
outside the funnel, and did it come back after the intervention?" needs the funnel's history. For each period
``t`` of the indicator, the funnel compares the organisations observed at ``t`` over the window ending at ``t``
(the scan's ``funnel_window_days``: a year of monthly data, the period itself for annual data), with the scan's
own methods and options (:func:`forewarn.surveillance.compute.funnel_options`: binomial or Poisson funnels with
over-dispersion by winsorised z and an additive DerSimonian-Laird tau^2, Spiegelhalter 2005b; estimates with
standard errors against precision, Spiegelhalter 2005a). Each period is one funnel of one call
(``funnel_id`` = the period's column), so the whole history is computed at once; the latest period's funnel is
the scan's (tested).

The position is against the limits, before the store-wide false-discovery control the scan then applies to the
latest funnel alone (a history of q-values across periods would depend on which periods were tested together).

References: Spiegelhalter DJ (2005a). Funnel plots for comparing institutional performance. Stat Med
24:1185-1202. Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators. Qual Saf Health Care
14:347-351.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.estimate_funnel import estimate_funnel
from forewarn.stats.funnel import funnel_statistics
from forewarn.surveillance.compute import (
    ESTIMATE_DATA_TYPE,
    FUNNEL_DATA_TYPES,
    expected_counts,
    funnel_options,
)
from forewarn.surveillance.kinds import ESTIMATE_KINDS
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import Panel


@dataclass(frozen=True)
class FunnelHistory:
    """One indicator's funnels, one per period: arrays of shape (organisations, periods), NaN (position 0)
    where the organisation was not in that period's funnel.

    ``z`` is the over-dispersion-adjusted z-score, ``ratio`` the value the funnel plotted (over the window),
    ``lower`` and ``upper`` the organisation's limits at ``limit`` percent, ``position`` -1 below, +1 above,
    0 within or not compared; ``in_funnel`` says which. ``limit_z`` is the normal quantile of the limits (3.09
    at 99.8%): where the limits are normal ones, ``|z| > limit_z`` is outside them."""

    indicator_id: int
    data_type: str | None
    period: NDArray[np.datetime64]
    organisation_id: IntArray
    z: FloatArray
    ratio: FloatArray
    lower: FloatArray
    upper: FloatArray
    position: IntArray
    in_funnel: NDArray[np.bool_]
    limit: float
    limit_z: float

    def of(self, organisation_id: int) -> int | None:
        """The row of one organisation, None when it has no series of the indicator."""
        rows = np.flatnonzero(self.organisation_id == organisation_id)
        return int(rows[0]) if rows.size else None


def _indicator_dates(panel: Panel) -> NDArray[np.datetime64]:
    """Each indicator's period at each column, shape (indicators, columns); NaT where an indicator has fewer
    periods than the widest (a column is the same period in every series of one indicator)."""
    lowest = np.iinfo(np.int64).min
    days = panel.period.astype("datetime64[D]").astype(np.int64)
    days = np.where(np.isnat(panel.period), lowest, days)
    dates = np.full((panel.indicators.height, days.shape[1]), lowest, dtype=np.int64)
    np.maximum.at(dates, panel.indicator_index, days)
    out: NDArray[np.datetime64] = np.where(
        dates == lowest, np.datetime64("NaT"), dates.astype("datetime64[D]")
    )
    return out.astype("datetime64[D]")


def _window_start(dates: NDArray[np.datetime64], days: int) -> IntArray:
    """``start[i, t]``: indicator ``i``'s first column in the window ending at its column ``t`` (the periods
    after ``dates[i, t] - days``), every indicator at once by one search over the indicators' dates laid end to
    end, each indicator's block offset past the one before."""
    n_indicators, width = dates.shape
    if dates.size == 0:
        return np.zeros(dates.shape, dtype=np.int64)
    missing = np.isnat(dates)
    day = np.where(missing, 0, dates.astype(np.int64))
    base = int(day[~missing].min()) if (~missing).any() else 0
    offset = np.where(missing, 0, day - base)
    span = int(offset.max()) + days + 2  # wider than any indicator's dates and its window
    block = np.arange(n_indicators, dtype=np.int64)[:, None] * span
    keys = block + np.where(missing, span - 1, offset)  # padded columns last in their block
    # At least -1 into its own block: span - 1 past the block before, so the search starts at the block's first.
    wanted = block + np.maximum(offset - days, -1)
    found = np.searchsorted(keys.ravel(), wanted.ravel(), side="right").reshape(dates.shape)
    start: IntArray = found - np.arange(n_indicators, dtype=np.int64)[:, None] * width
    return start


def _window_total(values: FloatArray, start: IntArray) -> FloatArray:
    """Each series' sum over the window of each period (``start`` per series and column, from
    :func:`_window_start`), NaN where the window has no value: differences of running sums, one pass."""
    n = values.shape[0]
    finite = np.isfinite(values)
    zeros = np.zeros((n, 1))
    summed = np.concatenate([zeros, np.cumsum(np.where(finite, values, 0.0), axis=1)], axis=1)
    counted = np.concatenate([zeros, np.cumsum(finite, axis=1, dtype=np.float64)], axis=1)
    rows = np.arange(n)[:, None]
    total = summed[:, 1:] - summed[rows, start]
    return np.where(counted[:, 1:] - counted[rows, start] > 0, total, np.nan)


def funnel_history(panel: Panel, options: ScanOptions | None = None) -> FunnelHistory:
    """The funnel of ``panel``'s one indicator at each of its periods (module docstring).

    Raises ValueError for a panel of more or fewer than one indicator."""
    if panel.indicators.height != 1:
        raise ValueError(f"funnel_history needs the panel of one indicator, got {panel.indicators.height}")
    return funnel_histories(panel, options)[int(panel.indicators["indicator_id"][0])]


def funnel_histories(panel: Panel, options: ScanOptions | None = None) -> dict[int, FunnelHistory]:
    """The funnel of each of ``panel``'s indicators at each of its periods, keyed by indicator id: every
    (indicator, period) funnel of the panel in one pass (one call a funnel type, ``funnel_id`` = indicator x
    column), so a report charting twelve indicators reads and computes them together."""
    options = options or ScanOptions()
    n, width = panel.value.shape
    n_indicators = panel.indicators.height
    dates = _indicator_dates(panel)
    kinds = np.asarray(panel.indicators["kind"].to_list(), dtype=object)
    start = _window_start(dates, options.funnel_window_days)[panel.indicator_index]  # (series, columns)
    z, ratio, lower, upper = (np.full((n, width), np.nan) for _ in range(4))
    data_type: list[str | None] = [None] * n_indicators
    # In the funnel of a period: observed at it, as the scan's latest period.
    series, column = np.nonzero(np.isfinite(panel.value))
    indicator = panel.indicator_index[series]
    funnel_id = indicator * width + column
    n_funnels = n_indicators * width
    estimate_kind = np.isin(kinds, list(ESTIMATE_KINDS))
    if estimate_kind.any():
        se = panel.standard_error
        usable = (
            np.isfinite(panel.value) & np.isfinite(se) & (se > 0) & estimate_kind[panel.indicator_index, None]
        )
        weight = np.where(usable, 1.0 / np.where(usable, se * se, 1.0), 0.0)
        sum_w = _window_total(np.where(usable, weight, np.nan), start)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = _window_total(np.where(usable, weight * panel.value, np.nan), start) / sum_w
            error = 1.0 / np.sqrt(sum_w)
        keep = (
            estimate_kind[indicator]
            & np.isfinite(sum_w[series, column])
            & (sum_w[series, column] > 0)
            & np.isfinite(estimate[series, column])
        )
        rows, cols = series[keep], column[keep]
        if rows.size:
            estimated = estimate_funnel(
                estimate[rows, cols],
                error[rows, cols],
                funnel_id[keep],
                n_funnels=n_funnels,
                limit=options.funnel_limit,
                trim=options.funnel_trim,
            )
            z[rows, cols] = estimated.z
            ratio[rows, cols] = estimate[rows, cols]
            lower[rows, cols] = estimated.lower
            upper[rows, cols] = estimated.upper
            for i in np.unique(indicator[keep]):
                data_type[int(i)] = ESTIMATE_DATA_TYPE
    counted = ~estimate_kind[indicator]
    num = _window_total(panel.numerator, start)[series, column]
    den = _window_total(panel.denominator, start)[series, column]
    exp = _window_total(panel.expected, start)[series, column]
    for funnel_type, funnel_kinds in FUNNEL_DATA_TYPES:
        of_type = counted & np.isin(kinds[indicator], list(funnel_kinds))
        if not of_type.any():
            continue
        if funnel_type == "PR":
            denominator = den
        else:
            is_rate = kinds[indicator] == "rate"
            denominator = expected_counts(
                is_rate & of_type, np.where(of_type, num, 0.0), den, exp, funnel_id, n_funnels
            )
        keep = of_type & np.isfinite(num) & np.isfinite(denominator) & (denominator > 0)
        if funnel_type == "PR":
            keep &= num <= denominator
        rows, cols = series[keep], column[keep]
        if rows.size == 0:
            continue
        result = funnel_statistics(
            num[keep],
            denominator[keep],
            funnel_id[keep],
            n_funnels=n_funnels,
            options=funnel_options(funnel_type, options.funnel_limit, options.funnel_trim),
        )
        z[rows, cols] = result.z_adjusted
        ratio[rows, cols] = result.ratio
        lower[rows, cols] = result.lower
        upper[rows, cols] = result.upper
        for i in np.unique(indicator[keep]):
            data_type[int(i)] = funnel_type
    in_funnel = np.isfinite(z) & np.isfinite(ratio)
    with np.errstate(invalid="ignore"):
        position = np.where(in_funnel & (ratio < lower), -1, np.where(in_funnel & (ratio > upper), 1, 0))
    limit_z = float(special.ndtri(1.0 - (1.0 - options.funnel_limit / 100.0) / 2.0))
    histories: dict[int, FunnelHistory] = {}
    ids = panel.indicators["indicator_id"].to_numpy()
    for i in range(n_indicators):  # slicing the shared arrays: one view per indicator, no computation
        rows = np.flatnonzero(panel.indicator_index == i)
        periods = int((~np.isnat(dates[i])).sum())
        histories[int(ids[i])] = FunnelHistory(
            indicator_id=int(ids[i]),
            data_type=data_type[i],
            period=dates[i, :periods],
            organisation_id=panel.organisation_id[rows],
            z=z[rows, :periods],
            ratio=ratio[rows, :periods],
            lower=lower[rows, :periods],
            upper=upper[rows, :periods],
            position=position[rows, :periods].astype(np.int64),
            in_funnel=in_funnel[rows, :periods],
            limit=options.funnel_limit,
            limit_z=limit_z,
        )
    return histories


__all__ = ["FunnelHistory", "funnel_histories", "funnel_history"]
