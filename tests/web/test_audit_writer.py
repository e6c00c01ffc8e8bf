"""Views are audited in batches by a background writer: none lost, written without waiting for a flush."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from forewarn.accounts.audit import pending, recent_entries
from forewarn.web.state import AuditWriter


def test_batched_views_are_all_written_in_order_of_happening(engine: Engine) -> None:
    writer = AuditWriter(engine, interval=0.05, max_batch=7)
    for i in range(20):
        writer.submit(pending("someone@example.org", "view", "organisation", i, channel="web"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if len(recent_entries(conn)) == 20:
                break
        time.sleep(0.05)
    writer.flush()
    with engine.connect() as conn:
        entries = recent_entries(conn)
    assert sorted(int(e.object_id or -1) for e in entries) == list(range(20))
    stamps = [e.at for e in sorted(entries, key=lambda e: int(e.object_id or 0))]
    assert stamps == sorted(stamps)


def test_flush_writes_what_is_queued_and_the_writer_restarts(engine: Engine) -> None:
    writer = AuditWriter(engine, interval=5.0)
    writer.submit(pending(None, "view", "portfolio"))
    writer.flush()
    writer.submit(pending(None, "view", "portfolio"))
    writer.flush()
    with engine.connect() as conn:
        assert [e.actor for e in recent_entries(conn)] == ["anonymous", "anonymous"]


def test_a_full_batch_is_written_without_waiting_for_the_interval(engine: Engine) -> None:
    writer = AuditWriter(engine, interval=60.0, max_batch=5)
    for i in range(5):
        writer.submit(pending("someone@example.org", "view", "organisation", i, channel="web"))
    deadline = time.monotonic() + 10
    written = 0
    while time.monotonic() < deadline and written < 5:
        with engine.connect() as conn:
            written = len(recent_entries(conn))
        time.sleep(0.02)
    assert written == 5  # long before the 60-second interval
    writer.flush()
