"""The latest scan and its options, with the defaults before the first scan."""

from __future__ import annotations

from sqlalchemy import Engine

from forewarn.surveillance.scan import run_scan
from forewarn.views.scan import DEFAULT_FDR_ALPHA, DEFAULT_FUNNEL_LIMIT, funnel_limit_and_alpha, latest_scan
from tests.web.world import build_world


def test_no_scan_then_the_latest(engine: Engine) -> None:
    build_world(engine, scan=False)
    with engine.connect() as conn:
        assert latest_scan(conn) is None
        assert funnel_limit_and_alpha(conn) == (DEFAULT_FUNNEL_LIMIT, DEFAULT_FDR_ALPHA)
    run_scan(engine)
    run_scan(engine)
    with engine.connect() as conn:
        scan = latest_scan(conn)
        assert scan is not None and scan.id == 2 and scan.series_scanned == 8
        assert scan.started_at.tzinfo is not None  # served as UTC on every store
        assert funnel_limit_and_alpha(conn) == (99.8, 0.05)
