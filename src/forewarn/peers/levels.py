"""Where each organisation stands on one indicator: its level over the indicator's latest year (the scan's funnel
window), the totals behind it, and its whole series for SPC, aligned with a :class:`~forewarn.peers.context.Context`.

The panel and the window are the surveillance scan's own (:mod:`forewarn.surveillance.panel`,
:mod:`forewarn.surveillance.windows`), so a level here is the level the funnel on the indicator's page shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from forewarn.peers.context import Context
from forewarn.stats.arrays import FloatArray
from forewarn.stats.neighbours import precision_weights
from forewarn.store.columnar import read_frame
from forewarn.store.models import Indicator
from forewarn.surveillance.kinds import ESTIMATE_KINDS
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, build_panel
from forewarn.surveillance.windows import latest_period_units, window_estimates, window_sums


class UnknownIndicator(LookupError):
    """No indicator has this code."""


@dataclass(frozen=True)
class IndicatorMeta:
    id: int
    code: str
    name: str
    kind: str
    polarity: str
    unit: str | None
    multiplier: float


@dataclass(frozen=True)
class IndicatorLevels:
    """Per organisation of the context (NaN where it has no data in the window)."""

    indicator: IndicatorMeta
    window_end: dt.date | None
    window_days: int
    numerator: FloatArray
    denominator: FloatArray
    expected: FloatArray
    estimate: FloatArray  # precision-weighted mean of values with a standard error (means, counts)
    standard_error: FloatArray
    level: FloatArray  # what the indicator's page calls its value over the window
    series: FloatArray  # (n, t) the organisation's values in period order (NaN missing)
    periods: tuple[dt.date, ...]
    events_per_period: (
        FloatArray  # mean count behind each value (for proportions the rarer of the two outcomes)
    )

    @property
    def has_level(self) -> NDArray[np.bool_]:
        return np.isfinite(self.level)

    @property
    def sampling_variance(self) -> FloatArray:
        """Each level's sampling variance (binomial or Poisson from the window's counts, with half an event
        added so that a zero count is not certain; the square of a published standard error), NaN if unknown."""
        kind, x = self.indicator.kind, self.numerator
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "proportion":
                p = (x + 0.5) / (self.denominator + 1.0)
                return p * (1.0 - p) / self.denominator
            if kind == "rate":
                return (x + 0.5) / self.denominator**2 * self.indicator.multiplier**2
            if kind == "ratio_oe":
                return (x + 0.5) / self.expected**2
            return self.standard_error**2

    def precision(self) -> FloatArray | None:
        """:func:`~forewarn.stats.neighbours.precision_weights` of the levels, or None when no level has a known
        sampling variance (means published without a standard error)."""
        variance = self.sampling_variance
        if not np.isfinite(variance[self.has_level]).any():
            return None
        return precision_weights(self.level, variance)


def indicator_meta(conn: Connection, code: str) -> IndicatorMeta:
    row = conn.execute(
        select(
            Indicator.id,
            Indicator.code,
            Indicator.name,
            Indicator.kind,
            Indicator.polarity,
            Indicator.unit,
            Indicator.multiplier,
        ).where(Indicator.code == code.strip())
    ).one_or_none()
    if row is None:
        raise UnknownIndicator(f"no indicator with code {code!r}")
    return IndicatorMeta(
        id=int(row[0]),
        code=str(row[1]),
        name=str(row[2]),
        kind=str(row[3]),
        polarity=str(row[4]),
        unit=row[5],
        multiplier=float(row[6] or 1.0),
    )


def indicator_levels(
    conn: Connection, context: Context, code: str, *, window_days: int | None = None
) -> IndicatorLevels:
    """The indicator's window totals, level and series for every organisation of ``context``."""
    meta = indicator_meta(conn, code)
    days = window_days if window_days is not None else ScanOptions().funnel_window_days
    dataset = (
        "o.dataset_id IS NULL" if context.dataset_id is None else f"o.dataset_id = {int(context.dataset_id)}"
    )
    columns = ", ".join(f"b.{c}" for c in OBSERVATION_SCHEMA)
    observations = read_frame(
        conn,
        f"SELECT {columns} FROM observations b JOIN organisations o ON o.id = b.organisation_id "
        f"WHERE b.indicator_id = {meta.id} AND {dataset} AND b.period_start <= '{context.as_of.isoformat()}'",
        OBSERVATION_SCHEMA,
    )
    indicators = read_frame(
        conn,
        f"SELECT id, code, kind, polarity, target FROM indicators WHERE id = {meta.id}",
        INDICATOR_SCHEMA,
    )
    panel = build_panel(observations, indicators)
    n = context.n
    out = {name: np.full(n, np.nan) for name in ("num", "den", "exp", "est", "se")}
    width = panel.value.shape[1]
    series = np.full((n, width), np.nan)
    events = np.full(n, np.nan)
    periods: tuple[dt.date, ...] = ()
    window_end: dt.date | None = None
    if panel.n_series:
        row_of = {int(o): i for i, o in enumerate(context.organisation_id.tolist())}
        rows = np.array([row_of.get(int(o), -1) for o in panel.organisation_id.tolist()], dtype=np.int64)
        keep = rows >= 0
        _, at = latest_period_units(panel)
        num, den, exp = window_sums(panel, at, days)
        est, se = window_estimates(panel, at, days)
        for name, values in (("num", num), ("den", den), ("exp", exp), ("est", est), ("se", se)):
            out[name][rows[keep]] = values[keep]
        series[rows[keep]] = panel.value[keep]
        counts = (
            panel.numerator
            if meta.kind != "count"
            else np.where(np.isfinite(panel.numerator), panel.numerator, panel.value)
        )
        if meta.kind == "proportion":
            counts = np.minimum(panel.numerator, panel.denominator - panel.numerator)
        seen = np.isfinite(counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_count = np.where(seen, counts, 0.0).sum(axis=1) / seen.sum(axis=1)
        events[rows[keep]] = mean_count[keep]
        axis = pl.Series(observations["period_start"].unique().sort())
        periods = tuple(axis.to_list())
        window_end = periods[-1] if periods else None
    with np.errstate(invalid="ignore", divide="ignore"):
        if meta.kind == "proportion":
            level = out["num"] / out["den"]
        elif meta.kind == "rate":
            level = out["num"] / out["den"] * meta.multiplier
        elif meta.kind == "ratio_oe":
            level = out["num"] / out["exp"]
        else:
            level = np.where(
                np.isfinite(out["est"]), out["est"], _window_mean(series, periods, window_end, days)
            )
        level = np.where(np.isfinite(level), level, np.nan)
    if meta.kind in ESTIMATE_KINDS and not periods:
        level = np.full(n, np.nan)
    return IndicatorLevels(
        indicator=meta,
        window_end=window_end,
        window_days=days,
        numerator=out["num"],
        denominator=out["den"],
        expected=out["exp"],
        estimate=out["est"],
        standard_error=out["se"],
        level=level,
        series=series,
        periods=periods,
        events_per_period=events,
    )


def _window_mean(
    series: FloatArray, periods: tuple[dt.date, ...], end: dt.date | None, days: int
) -> FloatArray:
    """Plain mean of each organisation's values over the window, for values published without an error."""
    if end is None or series.shape[1] == 0:
        return np.full(series.shape[0], np.nan)
    start = end - dt.timedelta(days=days)
    inside = np.array([p > start for p in periods], dtype=bool)
    window = series[:, inside]
    seen = np.isfinite(window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen.any(axis=1), np.where(seen, window, 0.0).sum(axis=1) / seen.sum(axis=1), np.nan)


__all__ = ["IndicatorLevels", "IndicatorMeta", "UnknownIndicator", "indicator_levels", "indicator_meta"]
