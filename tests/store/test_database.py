"""The store's connections: a read connection turns into a writing transaction and back (one connection per
web request), and a service writes in the caller's transaction when given one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select

from forewarn.store.database import read_connection, transaction, writes_on
from forewarn.store.models_jobs import Job, JobStatus
from forewarn.store.models_web import AuditEntry

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _entry(action: str) -> dict[str, object]:
    return {"at": NOW, "actor": "tests", "action": action, "object_type": "test", "channel": "web"}


def _fail_after(conn: Connection, change: Callable[[], object]) -> None:
    with writes_on(conn):
        change()
        raise RuntimeError("the change failed")


def _count(engine: Engine, table: type[AuditEntry] | type[Job]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_writes_on_commits_then_reads_again(engine: Engine) -> None:
    begins: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda *a: begins.append(a[2]) if a[2].startswith("BEGIN") else None
    )
    with read_connection(engine) as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
        with writes_on(conn):
            conn.execute(insert(AuditEntry).values(**_entry("written")))
        # Reading again: the write is seen, and a later transaction is a plain one.
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1
    if engine.dialect.name == "sqlite":  # the write took the lock at its BEGIN; the reads did not
        assert begins == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN"]
    assert _count(engine, AuditEntry) == 1


def test_writes_on_rolls_back_on_error_and_reads_again(engine: Engine) -> None:
    with read_connection(engine) as conn:
        with pytest.raises(RuntimeError, match="failed"):
            _fail_after(conn, lambda: conn.execute(insert(AuditEntry).values(**_entry("lost"))))
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
    assert _count(engine, AuditEntry) == 0


def test_a_service_writes_in_the_callers_transaction_when_given_one(engine: Engine) -> None:
    def enqueue(db: Engine | object) -> None:
        with transaction(db) as conn:  # type: ignore[arg-type]
            conn.execute(
                insert(Job).values(
                    kind="scan",
                    status=JobStatus.QUEUED,
                    attempts=0,
                    max_attempts=1,
                    run_after=NOW,
                    created_at=NOW,
                )
            )

    enqueue(engine)  # its own transaction, committed
    assert _count(engine, Job) == 1
    with read_connection(engine) as conn, pytest.raises(RuntimeError, match="failed"):
        _fail_after(conn, lambda: enqueue(conn))  # the caller's transaction: rolled back with it
    assert _count(engine, Job) == 1


def test_a_non_durable_write_commits_and_the_setting_ends_with_it(engine: Engine) -> None:
    """``durable=False`` (page views) still commits; on PostgreSQL ``synchronous_commit`` is off inside that
    transaction only (``SET LOCAL``), so the next writing transaction on the same connection is durable again."""
    postgresql = engine.dialect.name == "postgresql"
    with read_connection(engine) as conn:
        with writes_on(conn, durable=False):
            conn.execute(insert(AuditEntry).values(**_entry("viewed")))
            if postgresql:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
        with writes_on(conn):
            conn.execute(insert(AuditEntry).values(**_entry("changed")))
            if postgresql:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    assert _count(engine, AuditEntry) == 2
