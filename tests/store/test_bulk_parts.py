"""``threads.ahead``: the parts of an import made one ahead in a thread, in their order, a failure of either
side raised in the caller's thread, and the thread gone when the caller stops early; ``sqlite_segments``: the
parts written into load files that grow, copied in their order inside the transaction, detached after it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Connection

from forewarn.store import bulk, sqlite_segments
from forewarn.store.database import make_engine
from forewarn.store.threads import ahead


def _alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "forewarn-parts-ahead"]


def test_every_item_comes_in_its_order() -> None:
    assert list(ahead(range(50))) == list(range(50))
    assert list(ahead([])) == []
    assert not _alive()


def test_a_failure_of_the_producer_is_raised_where_its_item_would_have_come() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad part")

    items = ahead(failing())
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match="bad part"):
        next(items)
    assert not _alive()


def test_a_caller_that_stops_early_stops_the_producer() -> None:
    made: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                made.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    items = ahead(endless())
    assert [next(items), next(items)] == [0, 1]
    items.close()  # what a ``for`` loop broken by an error does
    assert not _alive()
    assert closed.wait(5)
    # One ahead at most: the two taken, one waiting in the hand-over, and one made while it waited.
    assert len(made) <= 4


def test_segments_grow_geometrically_and_keep_the_parts_in_order(tmp_path: Path) -> None:
    parts = [pl.DataFrame({"n": list(range(10 * k, 10 * k + 10))}) for k in range(20)]
    files = list(sqlite_segments._write_segments(iter(parts), tmp_path, 6))
    # The first part alone, then each file as many rows as all before it; the sixth takes what remains.
    assert [rows for _, rows in files] == [10, 10, 20, 40, 80, 40]
    read: list[int] = []
    for path, rows in files:
        with closing(sqlite3.connect(path)) as db:
            values = [int(v) for (v,) in db.execute("SELECT n FROM rows ORDER BY rowid")]
        assert len(values) == rows
        read.extend(values)
    assert read == list(range(200))


def test_segments_are_copied_in_the_transaction_and_detached_after_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    parts = [pl.DataFrame({"n": list(range(5 * k, 5 * k + 5))}) for k in range(9)]

    def copy(conn: Connection) -> Callable[[str, int], None]:
        def copied(table: str, _rows: int) -> None:
            conn.exec_driver_sql(f"INSERT INTO t SELECT n FROM {table} ORDER BY rowid")

        return copied

    with bulk.import_transaction(engine) as conn:
        assert sqlite_segments.copy_segments(conn, parts, copy(conn)) == 45
        attached = [str(row[1]) for row in conn.exec_driver_sql("PRAGMA database_list")]
        assert sum(name.startswith(sqlite_segments.PREFIX) for name in attached) == 5
    with engine.connect() as conn:
        assert [int(n) for (n,) in conn.exec_driver_sql("SELECT n FROM t ORDER BY rowid")] == list(range(45))
        assert not [row for row in conn.exec_driver_sql("PRAGMA database_list") if row[1] != "main"]

    # Rolled back with the transaction when the copy fails midway.
    def fail_midway() -> None:
        with bulk.import_transaction(engine) as conn:
            copied = copy(conn)

            def failing(table: str, rows: int) -> None:
                copied(table, rows)
                raise OSError("full")

            sqlite_segments.copy_segments(conn, parts, failing)

    with pytest.raises(OSError, match="full"):
        fail_midway()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 45
    assert not list(tmp_path.glob("forewarn-segments-*"))
    assert not _alive()
    engine.dispose()
