"""One indicator's funnel plot as the last scan computed it, read from what the scan stored in ``series_status``.

Pages, the API and server-drawn charts draw the funnel from here instead of recomputing it, so the points and
limits they show are exactly those that flagged the outliers: each organisation's ratio over the funnel's window
(a year of monthly data) against its denominator (N for a proportion, the expected count for a ratio O/E or a
rate), and limit curves from the funnel's stored target, phi and tau2 with the scan's own options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Row, select

from forewarn.stats.funnel import DataType, funnel_denominator_grid, funnel_limit_curves_from_estimates
from forewarn.store.models_surveillance import ScanRun, SeriesStatus
from forewarn.surveillance.compute import FUNNEL_DATA_TYPES, funnel_options
from forewarn.surveillance.options import ScanOptions

GRID_POINTS = 120  # points of the geometric grid each limit curve is drawn over
DASHED_LIMIT = 95.0  # drawn dashed beside the scan's own limit, as CQC and SHMI funnels do
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
    same), in increasing coverage."""

    indicator_id: int
    period: dt.date | None
    data_type: DataType
    target: float
    phi: float | None
    tau2: float | None
    limit: float
    points: tuple[FunnelPoint, ...]
    curves: tuple[FunnelLimitCurve, ...]
    compared: int
    outside_limits: int
    flagged: int


def scan_funnel_limit(conn: Connection) -> float:
    """The ``funnel_limit`` of the latest scan (the default when there is none, or an older scan lacks it)."""
    options = conn.execute(select(ScanRun.options).order_by(ScanRun.id.desc()).limit(1)).scalar()
    limit = options.get("funnel_limit") if isinstance(options, dict) else None
    return float(limit) if isinstance(limit, int | float) else ScanOptions().funnel_limit


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


def _data_type(indicator_id: int, rows: list[StoredRow]) -> DataType:
    """The funnel's one data type (every row of an indicator is written by the same scan of its funnel)."""
    found = {row.funnel_data_type for row in rows}
    for name, _ in FUNNEL_DATA_TYPES:
        if found == {name}:
            return name
    raise ValueError(f"indicator {indicator_id} has funnel rows of data types {sorted(map(str, found))}")


def limit_curves(
    data_type: DataType,
    target: float,
    phi: float | None,
    tau2: float | None,
    denominators: Collection[float],
    *,
    limit: float,
    through: Collection[float] = (),
    n_points: int = GRID_POINTS,
) -> tuple[FunnelLimitCurve, ...]:
    """The 95% and ``limit`` curves of a funnel from its estimates, over a geometric grid spanning
    ``denominators`` plus the denominators ``through`` (so each curve passes exactly through those points'
    limits), with the scan's options (:func:`forewarn.surveillance.compute.funnel_options`)."""
    grid = funnel_denominator_grid(np.asarray(list(denominators), dtype=np.float64), n_points=n_points)[0]
    grid = np.unique(np.concatenate([grid, np.asarray(list(through), dtype=np.float64)]))
    curves = []
    for coverage in sorted({DASHED_LIMIT, float(limit)}):
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
    every organisation) and curves passing through each of their limits; None when the scan compared no
    organisation on it. Access is the caller's business: the counts and limits depend on every organisation."""
    rows = _stored_rows(conn, indicator_id)
    if not rows:
        return None
    data_type = _data_type(indicator_id, rows)
    points = [_point(r) for r in rows]
    shown = [p for p in points if organisation_ids is None or p.organisation_id in organisation_ids]
    # Target, phi and tau2 belong to the funnel: every row of the indicator repeats them.
    first = rows[0]
    target, phi, tau2 = float(first.funnel_target), _optional(first.funnel_phi), _optional(first.funnel_tau2)
    limit = scan_funnel_limit(conn)
    return IndicatorFunnel(
        indicator_id=indicator_id,
        period=first.funnel_period,
        data_type=data_type,
        target=target,
        phi=phi,
        tau2=tau2,
        limit=limit,
        points=tuple(shown),
        curves=limit_curves(
            data_type,
            target,
            phi,
            tau2,
            [p.denominator for p in points],
            limit=limit,
            through=[p.denominator for p in shown],
        ),
        compared=len(points),
        outside_limits=sum(p.outside_limits for p in points),
        flagged=sum(p.outlier != 0 for p in points),
    )


__all__ = [
    "FunnelLimitCurve",
    "FunnelPoint",
    "IndicatorFunnel",
    "indicator_funnel",
    "limit_curves",
    "scan_funnel_limit",
]
