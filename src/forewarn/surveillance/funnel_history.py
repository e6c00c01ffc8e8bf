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


def _column_dates(panel: Panel) -> NDArray[np.datetime64]:
    """Each column's period (one indicator: a column is the same period in every series)."""
    days = panel.period.astype("datetime64[D]").astype(np.int64)
    days = np.where(np.isnat(panel.period), np.iinfo(np.int64).min, days)
    dates: NDArray[np.datetime64] = days.max(axis=0).astype("datetime64[D]")
    return dates


def _window(dates: NDArray[np.datetime64], days: int) -> FloatArray:
    """``inside[s, t]`` = 1 where period ``s`` is in the window ending at period ``t`` (the last ``days``)."""
    start = dates - np.timedelta64(days, "D")
    inside = (dates[:, None] > start[None, :]) & (dates[:, None] <= dates[None, :])
    return inside.astype(np.float64)


def _window_total(values: FloatArray, inside: FloatArray) -> FloatArray:
    """Each series' sum over the window ending at each period (NaN where the window has no value)."""
    finite = np.isfinite(values)
    summed = np.where(finite, values, 0.0) @ inside
    return np.where((finite.astype(np.float64) @ inside) > 0, summed, np.nan)


def funnel_history(panel: Panel, options: ScanOptions | None = None) -> FunnelHistory:
    """The funnel of ``panel``'s one indicator at each of its periods (module docstring).

    Raises ValueError for a panel of more or fewer than one indicator."""
    options = options or ScanOptions()
    if panel.indicators.height != 1:
        raise ValueError(f"funnel_history needs the panel of one indicator, got {panel.indicators.height}")
    kind = str(panel.indicators["kind"][0])
    n, width = panel.value.shape
    dates = _column_dates(panel) if n else np.zeros(0, dtype="datetime64[D]")
    shape = (n, width)
    z, ratio, lower, upper = (np.full(shape, np.nan) for _ in range(4))
    data_type: str | None = None
    inside = _window(dates, options.funnel_window_days)
    observed = np.isfinite(
        panel.value
    )  # in the funnel of a period: observed at it, as the scan's latest period
    series, column = np.nonzero(observed)
    if kind in ESTIMATE_KINDS:
        se = panel.standard_error
        usable = observed & np.isfinite(se) & (se > 0)
        weight = np.where(usable, 1.0 / np.where(usable, se * se, 1.0), 0.0)
        sum_w = weight @ inside
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = (weight * np.where(usable, panel.value, 0.0)) @ inside / sum_w
            error = 1.0 / np.sqrt(sum_w)
        keep = (sum_w[series, column] > 0) & np.isfinite(estimate[series, column])
        series, column = series[keep], column[keep]
        if series.size:
            data_type = ESTIMATE_DATA_TYPE
            estimated = estimate_funnel(
                estimate[series, column],
                error[series, column],
                column,
                n_funnels=width,
                limit=options.funnel_limit,
                trim=options.funnel_trim,
            )
            z[series, column] = estimated.z
            ratio[series, column] = estimate[series, column]
            lower[series, column] = estimated.lower
            upper[series, column] = estimated.upper
    else:
        num = _window_total(panel.numerator, inside)[series, column]
        den = _window_total(panel.denominator, inside)[series, column]
        exp = _window_total(panel.expected, inside)[series, column]
        for funnel_type, kinds in FUNNEL_DATA_TYPES:
            if kind not in kinds:
                continue
            if funnel_type == "PR":
                denominator = den
            else:
                denominator = expected_counts(
                    np.full(num.shape, kind == "rate"), num, den, exp, column, width
                )
            keep = np.isfinite(num) & np.isfinite(denominator) & (denominator > 0)
            if funnel_type == "PR":
                keep &= num <= denominator
            rows, cols = series[keep], column[keep]
            if rows.size == 0:
                continue
            data_type = funnel_type
            result = funnel_statistics(
                num[keep],
                denominator[keep],
                cols,
                n_funnels=width,
                options=funnel_options(funnel_type, options.funnel_limit, options.funnel_trim),
            )
            z[rows, cols] = result.z_adjusted
            ratio[rows, cols] = result.ratio
            lower[rows, cols] = result.lower
            upper[rows, cols] = result.upper
    in_funnel = np.isfinite(z) & np.isfinite(ratio)
    with np.errstate(invalid="ignore"):
        position = np.where(in_funnel & (ratio < lower), -1, np.where(in_funnel & (ratio > upper), 1, 0))
    return FunnelHistory(
        indicator_id=int(panel.indicators["indicator_id"][0]),
        data_type=data_type,
        period=dates,
        organisation_id=panel.organisation_id,
        z=z,
        ratio=ratio,
        lower=lower,
        upper=upper,
        position=position.astype(np.int64),
        in_funnel=in_funnel,
        limit=options.funnel_limit,
        limit_z=float(special.ndtri(1.0 - (1.0 - options.funnel_limit / 100.0) / 2.0)),
    )


__all__ = ["FunnelHistory", "funnel_history"]
