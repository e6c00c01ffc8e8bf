"""The latest surveillance scan: when it ran, and the options the pages need to explain its results."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from forewarn.store.models_surveillance import ScanRun
from forewarn.views.model import Model

DEFAULT_FUNNEL_LIMIT = 99.8
DEFAULT_FDR_ALPHA = 0.05


class ScanOut(Model):
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    series_scanned: int


def latest_scan(conn: Connection) -> ScanOut | None:
    row = (
        conn.execute(
            select(ScanRun.id, ScanRun.started_at, ScanRun.finished_at, ScanRun.series_scanned)
            .order_by(ScanRun.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else ScanOut.model_validate(row)


def latest_scan_options(conn: Connection) -> dict[str, object]:
    """The options the latest scan ran with (empty before the first scan)."""
    options = conn.execute(select(ScanRun.options).order_by(ScanRun.id.desc()).limit(1)).scalar()
    return options if isinstance(options, dict) else {}


def funnel_limit_and_alpha(conn: Connection) -> tuple[float, float]:
    """The latest scan's funnel limit (percent) and false-discovery-rate alpha (the defaults when absent)."""
    options = latest_scan_options(conn)
    limit, alpha = options.get("funnel_limit"), options.get("fdr_alpha")
    return (
        float(limit) if isinstance(limit, int | float) else DEFAULT_FUNNEL_LIMIT,
        float(alpha) if isinstance(alpha, int | float) else DEFAULT_FDR_ALPHA,
    )
