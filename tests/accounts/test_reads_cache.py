"""The data version that keys the page caches: read afresh on every call by default, trusted for ``max_age``
seconds when asked, and read again at once after ``expire`` (a change made by this process)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from forewarn.accounts.reads import DataVersionClock, data_version
from forewarn.store.models_surveillance import ScanRun


def _finish_a_scan(engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(ScanRun).values(started_at=now, finished_at=now, options={}))


def test_by_default_every_call_reads_the_version(engine: Engine) -> None:
    cache = DataVersionClock()
    with engine.connect() as conn:
        before = cache.version(conn)
    _finish_a_scan(engine)
    with engine.connect() as conn:
        after = cache.version(conn)
        assert after == data_version(conn) and after[0] == before[0] + 1


def test_a_trusted_reading_lags_until_it_expires(engine: Engine) -> None:
    cache = DataVersionClock(max_age=3600)
    with engine.connect() as conn:
        before = cache.version(conn)
    _finish_a_scan(engine)
    with engine.connect() as conn:
        assert cache.version(conn) == before
        cache.expire()
        assert cache.version(conn) == data_version(conn) != before
