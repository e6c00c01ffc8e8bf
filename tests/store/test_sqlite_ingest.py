"""SQLite's bulk write through a file ADBC fills: every value as ``executemany`` would have bound it, in chunks,
inside the caller's transaction (a rollback leaves nothing), and no load file left behind or attached."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.store import bulk, sqlite_ingest

TABLE = "ingest_probe"
COLUMNS = ["k", "i", "f", "d", "c", "n"]


@pytest.fixture
def sqlite_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer; PostgreSQL's is COPY")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {TABLE} (k INTEGER NOT NULL, i INTEGER, f REAL, d DATE, c INTEGER, n REAL)"
        )
    return engine


def _frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "k": range(rows),
            "i": [None if r % 7 == 0 else r * 3 for r in range(rows)],
            "f": [None if r % 5 == 0 else r / 3 for r in range(rows)],
            "d": [f"2020-{1 + r % 12:02d}-01" for r in range(rows)],
        },
        schema_overrides={"i": pl.Int64, "f": pl.Float64},
    )


def _executemany_reference(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    """What the same rows read back as when bound one by one through Python's sqlite3 (the writer it replaced)."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE {TABLE} (k INTEGER NOT NULL, i INTEGER, f REAL, d DATE, c INTEGER, n REAL)")
    db.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, 42, NULL)", frame.rows())
    return db.execute(f"SELECT *, typeof(i), typeof(f), typeof(d) FROM {TABLE} ORDER BY k").fetchall()


def _attached(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(row[1]) for row in conn.exec_driver_sql("PRAGMA database_list")}


def test_rows_arrive_as_executemany_bound_them_in_chunks(sqlite_engine: Engine) -> None:
    frame = _frame(1_003)
    chunks: list[int] = []
    with bulk.import_transaction(sqlite_engine) as conn:
        sqlite_ingest.insert_frame(conn, TABLE, frame, COLUMNS, {"c": "42", "n": "NULL"}, 250, chunks.append)
    assert chunks == [250, 250, 250, 250, 3]
    with sqlite_engine.connect() as conn:
        stored = conn.exec_driver_sql(
            f"SELECT *, typeof(i), typeof(f), typeof(d) FROM {TABLE} ORDER BY k"
        ).all()
    assert [tuple(row) for row in stored] == _executemany_reference(frame)
    assert sqlite_ingest.SCHEMA not in _attached(sqlite_engine)


def _store_folder(engine: Engine) -> Path:
    assert engine.url.database
    return Path(engine.url.database).parent


def test_a_rollback_leaves_nothing_and_no_file(sqlite_engine: Engine) -> None:
    folders = (_store_folder(sqlite_engine), Path(tempfile.gettempdir()))
    before = {folder: set(folder.glob("forewarn-load-*")) for folder in folders}
    seen: list[int] = []

    def load_then_fail() -> None:
        with bulk.import_transaction(sqlite_engine) as conn:
            sqlite_ingest.insert_frame(conn, TABLE, _frame(10), COLUMNS, {"c": "1", "n": "NULL"}, 100)
            seen.append(conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one())
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        load_then_fail()
    assert seen == [10]
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one() == 0
    assert sqlite_ingest.SCHEMA not in _attached(sqlite_engine)
    assert {folder: set(folder.glob("forewarn-load-*")) for folder in folders} == before


def test_a_file_left_attached_by_another_transaction_is_replaced(sqlite_engine: Engine) -> None:
    """Outside :func:`bulk.import_transaction` (a plain ``engine.begin()``), the file stays attached after the
    commit; the next load on that connection detaches it first."""
    for start in (0, 10):
        with sqlite_engine.begin() as conn:
            frame = _frame(20).slice(start, 10)
            sqlite_ingest.insert_frame(conn, TABLE, frame, COLUMNS, {"c": "1", "n": "NULL"}, 100)
    with sqlite_engine.connect() as conn:
        keys = conn.exec_driver_sql(f"SELECT k FROM {TABLE} ORDER BY k").scalars().all()
    assert keys == list(range(20))


def test_the_load_file_is_written_beside_the_database_not_in_the_temporary_folder(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 36M observations the file is a few GB: it goes on the store's disk, and is gone once attached."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    with bulk.import_transaction(sqlite_engine) as conn:
        sqlite_ingest.insert_frame(conn, TABLE, _frame(10), COLUMNS, {"c": "1", "n": "NULL"}, 100)
        files = {str(row[1]): str(row[2]) for row in conn.exec_driver_sql("PRAGMA database_list")}
    load = Path(files[sqlite_ingest.SCHEMA])
    assert load.parent.parent == _store_folder(sqlite_engine)
    assert not load.exists() and not load.parent.exists()  # unlinked as soon as attached
    assert list(elsewhere.iterdir()) == []
