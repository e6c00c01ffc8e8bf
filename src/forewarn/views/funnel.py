"""One indicator's funnel plot as the last scan computed it, read from what the scan stored in ``series_status``.

Pages, the API and server-drawn charts draw the funnel from here instead of recomputing it, so the points and
limits they show are exactly those that flagged the outliers: each organisation's ratio over the funnel's window
(a year of monthly data) against its denominator (N for a proportion, the expected count for a ratio O/E or a
rate), and limit curves from the funnel's stored target, phi and tau2 with the scan's own options.

The curves span only the denominators of the organisations drawn (widened by a fixed margin and rounded out), so a
viewer who may see some organisations learns nothing of the others' sizes from where the curves end.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Row, select

from forewarn.stats.estimate_funnel import estimate_funnel_curves
from forewarn.stats.funnel import funnel_denominator_grid, funnel_limit_curves_from_estimates
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.surveillance.compute import ESTIMATE_DATA_TYPE, FUNNEL_DATA_TYPES, funnel_options
from forewarn.surveillance.options import ScanOptions
from forewarn.views.scan import latest_scan_options

# "PR" and "SR" count funnels, or "N" for estimates with standard errors.
FunnelType = Literal["SR", "PR", "RC", "N"]

GRID_POINTS = 120  # points of the geometric grid each limit curve is drawn over
DASHED_LIMIT = 95.0  # drawn dashed beside the scan's own limit, as CQC and SHMI funnels do
DENOMINATOR_MARGIN = 1.25  # the curves run from the smallest drawn denominator / this to the largest x this
StoredRow = Row[*tuple[Any, ...]]  # one organisation's funnel columns of series_status


@dataclass(frozen=True)
class FunnelPoint:
    """One organisation as its funnel plotted it: ``lower`` and ``upper`` are its limits at the scan's
    ``funnel_limit``; ``outlier`` is -1 below, 0 within, +1 above after FDR control."""

    organisation_id: int
    ratio: float
    denominator: float
    lower: float | None
    upper: float | None
    z: float | None
    q: float | None
    outlier: int

    @property
    def outside_limits(self) -> bool:
        """Outside its limits (before FDR control), as the scan counts it."""
        return (self.lower is not None and self.ratio < self.lower) or (
            self.upper is not None and self.ratio > self.upper
        )


@dataclass(frozen=True)
class FunnelLimitCurve:
    """The lower and upper limits at ``coverage`` percent over a grid of denominators (NaN where undefined)."""

    coverage: float
    denominator: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class IndicatorFunnel:
    """An indicator's funnel: ``points`` are the organisations asked for; the counts cover every organisation
    the funnel compared. ``curves`` hold the 95% limits and the scan's ``limit`` (one curve when they are the
    same), in increasing coverage, over the drawn points' denominators only (none when no point is drawn).
    Each ratio is over the periods starting from ``window_start`` to ``period``."""

    indicator_id: int
    period: dt.date | None
    window_days: int
    data_type: FunnelType
    target: float
    phi: float | None
    tau2: float | None
    limit: float
    points: tuple[FunnelPoint, ...]
    curves: tuple[FunnelLimitCurve, ...]
    compared: int
    outside_limits: int
    flagged: int

    @property
    def window_start(self) -> dt.date | None:
        return None if self.period is None else funnel_window_start(self.period, self.window_days)


def scan_funnel_settings(conn: Connection) -> tuple[float, int]:
    """The ``funnel_limit`` and ``funnel_window_days`` of the latest scan (the defaults when there is none, or
    an older scan lacks them)."""
    stored = latest_scan_options(conn)
    limit, days = stored.get("funnel_limit"), stored.get("funnel_window_days")
    defaults = ScanOptions()
    return (
        float(limit) if isinstance(limit, int | float) else defaults.funnel_limit,
        days if isinstance(days, int) and days >= 1 else defaults.funnel_window_days,
    )


def funnel_window_start(period: dt.date, days: int) -> dt.date:
    """The earliest period start in a funnel's window ending with the period starting at ``period``.

    The scan sums each series over the periods starting after ``period - days``, up to ``period``
    (:func:`forewarn.surveillance.compute._window_sums`). When ``period`` starts on the 1st, the indicator's
    periods are taken to be months, quarters or years, which all start on a 1st, so the window starts on the
    first 1st inside it: with 365 days, a monthly indicator at March 2024 is compared over April 2023 to March
    2024.
    """
    first = period - dt.timedelta(days=days - 1)
    if period.day == 1 and first.day != 1:
        first = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first


def _round_out(value: float, *, up: bool) -> float:
    """``value`` (> 0) rounded up, or down, to two significant figures."""
    step = math.floor(math.log10(value)) - 1
    mantissa = value / 10.0**step
    return float(f"{math.ceil(mantissa) if up else math.floor(mantissa)}e{step}")


def drawn_denominator_range(denominators: Collection[float]) -> tuple[float, float]:
    """Where the limit curves start and end: the smallest drawn denominator divided by
    :data:`DENOMINATOR_MARGIN` and the largest multiplied by it, each rounded out to two significant figures.

    A function of the drawn points alone, for every viewer: a member's curves do not end at the denominator of
    an organisation the member may not see, and a single point still gets a stretch of funnel around it.
    """
    if not denominators:
        raise ValueError("no denominators to draw the limits over")
    if min(denominators) <= 0 or not all(math.isfinite(d) for d in denominators):
        raise ValueError("denominators must be positive and finite")
    return (
        _round_out(min(denominators) / DENOMINATOR_MARGIN, up=False),
        _round_out(max(denominators) * DENOMINATOR_MARGIN, up=True),
    )


def _stored_rows(conn: Connection, indicator_id: int) -> list[StoredRow]:
    """Every organisation the indicator's funnel compared, in organisation order."""
    query = (
        select(
            SeriesStatus.organisation_id,
            SeriesStatus.funnel_ratio,
            SeriesStatus.funnel_denominator,
            SeriesStatus.funnel_lower,
            SeriesStatus.funnel_upper,
            SeriesStatus.funnel_z,
            SeriesStatus.funnel_q,
            SeriesStatus.funnel_outlier,
            SeriesStatus.funnel_period,
            SeriesStatus.funnel_data_type,
            SeriesStatus.funnel_target,
            SeriesStatus.funnel_phi,
            SeriesStatus.funnel_tau2,
        )
        .where(
            SeriesStatus.indicator_id == indicator_id,
            SeriesStatus.funnel_ratio.is_not(None),
            SeriesStatus.funnel_denominator.is_not(None),
        )
        .order_by(SeriesStatus.organisation_id)
    )
    return list(conn.execute(query).all())


def _optional(value: float | None) -> float | None:
    return None if value is None else float(value)


def _point(row: StoredRow) -> FunnelPoint:
    return FunnelPoint(
        organisation_id=int(row.organisation_id),
        ratio=float(row.funnel_ratio),
        denominator=float(row.funnel_denominator),
        lower=_optional(row.funnel_lower),
        upper=_optional(row.funnel_upper),
        z=_optional(row.funnel_z),
        q=_optional(row.funnel_q),
        outlier=0 if row.funnel_outlier is None else int(row.funnel_outlier),
    )


def _data_type(indicator_id: int, rows: list[StoredRow]) -> FunnelType:
    """The funnel's one data type (every row of an indicator is written by the same scan of its funnel)."""
    found = {row.funnel_data_type for row in rows}
    if found == {ESTIMATE_DATA_TYPE}:
        return "N"
    for name, _ in FUNNEL_DATA_TYPES:
        if found == {name}:
            return name
    raise ValueError(f"indicator {indicator_id} has funnel rows of data types {sorted(map(str, found))}")


def limit_curves(
    data_type: FunnelType,
    target: float,
    phi: float | None,
    tau2: float | None,
    denominators: Collection[float],
    *,
    limit: float,
    n_points: int = GRID_POINTS,
) -> tuple[FunnelLimitCurve, ...]:
    """The 95% and ``limit`` curves of a funnel from its estimates, drawn for the points of ``denominators``:
    over a geometric grid across :func:`drawn_denominator_range` plus those denominators themselves (so each
    curve passes exactly through those points' limits), with the scan's options
    (:func:`forewarn.surveillance.compute.funnel_options`)."""
    points = np.asarray(list(denominators), dtype=np.float64)
    grid = funnel_denominator_grid(drawn_denominator_range(points.tolist()), n_points=n_points)[0]
    grid = np.unique(np.concatenate([grid, points]))
    curves = []
    for coverage in sorted({DASHED_LIMIT, float(limit)}):
        if data_type == "N":
            # Estimates against precision 1/se^2: target +- q sqrt(se^2 + tau^2) (Spiegelhalter 2005a).
            lower, upper = estimate_funnel_curves(target, 0.0 if tau2 is None else tau2, grid, limit=coverage)
            curves.append(
                FunnelLimitCurve(
                    coverage=coverage,
                    denominator=tuple(grid.tolist()),
                    lower=tuple(lower.tolist()),
                    upper=tuple(upper.tolist()),
                )
            )
            continue
        drawn = funnel_limit_curves_from_estimates(
            [target],
            [np.nan if phi is None else phi],
            [0.0 if tau2 is None else tau2],
            grid,
            options=funnel_options(data_type, limit),
            limit=coverage,
        )
        curves.append(
            FunnelLimitCurve(
                coverage=coverage,
                denominator=tuple(grid.tolist()),
                lower=tuple(drawn.lower[0].tolist()),
                upper=tuple(drawn.upper[0].tolist()),
            )
        )
    return tuple(curves)


def indicator_funnel(
    conn: Connection, indicator_id: int, organisation_ids: Collection[int] | None = None
) -> IndicatorFunnel | None:
    """The indicator's funnel as the last scan computed it, with the points of ``organisation_ids`` (None: of
    every organisation) and curves over their denominators alone, passing through each of their limits; None
    when the scan compared no organisation on it. Access is the caller's business: the counts, target, phi and
    tau2 are the whole funnel's."""
    rows = _stored_rows(conn, indicator_id)
    if not rows:
        return None
    data_type = _data_type(indicator_id, rows)
    points = [_point(r) for r in rows]
    shown = [p for p in points if organisation_ids is None or p.organisation_id in organisation_ids]
    # Target, phi and tau2 belong to the funnel: every row of the indicator repeats them.
    first = rows[0]
    target, phi, tau2 = float(first.funnel_target), _optional(first.funnel_phi), _optional(first.funnel_tau2)
    limit, window_days = scan_funnel_settings(conn)
    drawn = [p.denominator for p in shown]
    return IndicatorFunnel(
        indicator_id=indicator_id,
        period=first.funnel_period,
        window_days=window_days,
        data_type=data_type,
        target=target,
        phi=phi,
        tau2=tau2,
        limit=limit,
        points=tuple(shown),
        curves=limit_curves(data_type, target, phi, tau2, drawn, limit=limit) if drawn else (),
        compared=len(points),
        outside_limits=sum(p.outside_limits for p in points),
        flagged=sum(p.outlier != 0 for p in points),
    )


__all__ = [
    "DENOMINATOR_MARGIN",
    "FunnelLimitCurve",
    "FunnelPoint",
    "IndicatorFunnel",
    "drawn_denominator_range",
    "funnel_window_start",
    "indicator_funnel",
    "limit_curves",
    "scan_funnel_settings",
]
