"""Bulk reads (``read_frame(..., bulk=True)``): on SQLite through ADBC in a child process. The same values to the
bit as the cursor path, whatever the first rows hold, seeing what is committed, and leaving the caller's own
connection (and its locks) alone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.store.columnar import read_frame, read_frames, write_frame
from tests.conftest import test_database_kind

AWKWARD = [0.1 + 0.2, 1e-5, 5e-324, 1.7976931348623157e308, -2.5e-300, 1 / 3, 123456789.123456789, None]
SCHEMA = {"k": pl.Int64, "x": pl.Float64, "d": pl.Date, "s": pl.String}


def _probe(engine: Engine) -> None:
    real = "DOUBLE PRECISION" if engine.dialect.name == "postgresql" else "REAL"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE probe (k INTEGER NOT NULL, x {real}, d DATE, s TEXT)")


def test_a_bulk_read_gives_the_values_written_to_the_bit(engine: Engine) -> None:
    _probe(engine)
    frame = pl.DataFrame(
        {
            "k": list(range(len(AWKWARD))),
            "x": AWKWARD,
            "d": [dt.date(2020, 1, 1), None, dt.date(1999, 12, 31), *[dt.date(2021, 2, 28)] * 5],
            "s": ["", None, 'a "quoted", text', "\\N", "é", "x", "{}", "0"],
        },
        schema=SCHEMA,
    )
    with engine.begin() as conn:
        write_frame(conn, "probe", frame)
    with engine.connect() as conn:
        bulk = read_frame(conn, "SELECT k, x, d, s FROM probe ORDER BY k", SCHEMA, bulk=True)
        cursor = read_frame(conn, "SELECT k, x, d, s FROM probe ORDER BY k", SCHEMA)
    assert bulk.schema == frame.schema
    assert bulk.rows() == frame.rows() == cursor.rows()
    bits = [None if v is None else np.float64(v).tobytes() for v in bulk["x"]]
    assert bits == [None if v is None else np.float64(v).tobytes() for v in AWKWARD]


def test_columns_null_through_their_first_100000_rows_read(engine: Engine) -> None:
    """ADBC's SQLite driver types each column from its first batch; a column null there read as INT64 and failed
    on the first REAL ("expected INT64 but got DOUBLE") before the typing row."""
    _probe(engine)
    n = 120_000
    k = np.arange(n)
    late = k >= 100_000
    frame = pl.DataFrame(
        {
            "k": k,
            "x": np.where(late, k / 7, np.nan),
            "d": pl.Series([dt.date(2020, 1, 1)] * n).set(pl.Series(~late), None),
            "s": pl.Series(["t"] * n).set(pl.Series(~late), None),
        },
        schema=SCHEMA,
    ).with_columns(pl.col("x").fill_nan(None))
    with engine.begin() as conn:
        write_frame(conn, "probe", frame)
    with engine.connect() as conn:
        back = read_frame(conn, "SELECT k, x, d, s FROM probe ORDER BY k", SCHEMA, bulk=True)
    assert back.equals(frame)
    assert back["x"].null_count() == 100_000 and back["x"][-1] == (n - 1) / 7


def test_an_empty_bulk_read_is_an_empty_frame_of_its_schema(engine: Engine) -> None:
    _probe(engine)
    with engine.connect() as conn:
        back = read_frame(conn, "SELECT k, x, d, s FROM probe", SCHEMA, bulk=True)
    assert back.is_empty() and dict(back.schema) == SCHEMA


@pytest.mark.skipif(test_database_kind() != "sqlite", reason="SQLite's WAL and locks")
def test_a_bulk_read_sees_commits_and_leaves_the_callers_connection_working(engine: Engine) -> None:
    """The failure in-process ADBC gave: its closing connection checkpointed the WAL under the engine's open
    connection, whose next statement failed with "disk I/O error". Here the caller holds a read transaction
    across bulk reads, another connection commits in between, and every connection goes on working."""
    _probe(engine)
    with engine.begin() as conn:
        write_frame(conn, "probe", pl.DataFrame({"k": [1]}, schema={"k": pl.Int64}))
    with engine.connect() as reader:
        assert reader.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 1  # its snapshot starts here
        with engine.begin() as writer:
            write_frame(writer, "probe", pl.DataFrame({"k": [2, 3]}, schema={"k": pl.Int64}))
        bulk = read_frame(reader, "SELECT k FROM probe ORDER BY k", {"k": pl.Int64}, bulk=True)
        assert bulk["k"].to_list() == [1, 2, 3]  # the last commit, not the caller's snapshot
        assert reader.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 1  # its snapshot is intact
    with engine.begin() as conn:
        write_frame(conn, "probe", pl.DataFrame({"k": [4]}, schema={"k": pl.Int64}))
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 4


def test_a_bulk_read_in_a_transaction_that_wrote_sees_its_writes(engine: Engine) -> None:
    _probe(engine)
    with engine.begin() as conn:
        write_frame(conn, "probe", pl.DataFrame({"k": [5, 6]}, schema={"k": pl.Int64}))
        back = read_frame(conn, "SELECT k FROM probe ORDER BY k", {"k": pl.Int64}, bulk=True)
    assert back["k"].to_list() == [5, 6]


@pytest.mark.skipif(test_database_kind() != "sqlite", reason="the ADBC child's error")
def test_a_failing_bulk_read_says_why(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(RuntimeError, match="no such table: missing"):
        read_frame(conn, "SELECT k FROM missing", {"k": pl.Int64}, bulk=True)


def test_several_bulk_reads_come_one_at_a_time_in_order(engine: Engine) -> None:
    """``read_frames``: each query's result as its own frame, in the order asked, the same rows as one
    ``read_frame`` each (on SQLite all through one child process, each framed by its length)."""
    _probe(engine)
    frame = pl.DataFrame(
        {"k": np.arange(300_000) % 3, "x": np.arange(300_000) / 7, "d": [dt.date(2020, 1, 1)] * 300_000},
        schema={"k": pl.Int64, "x": pl.Float64, "d": pl.Date},
    )
    with engine.begin() as conn:
        write_frame(conn, "probe", frame)
    queries = [f"SELECT k, x, d FROM probe WHERE k = {k} ORDER BY x" for k in (2, 0, 7, 1)]
    schema = {"k": pl.Int64, "x": pl.Float64, "d": pl.Date}
    with engine.connect() as conn:
        frames = list(read_frames(conn, queries, schema))
        one_by_one = [read_frame(conn, sql, schema) for sql in queries]
    assert [f.height for f in frames] == [100_000, 100_000, 0, 100_000]
    assert all(f.equals(g) for f, g in zip(frames, one_by_one, strict=True))
    assert frames[0]["k"].unique().to_list() == [2] and frames[1]["x"][1] == 3 / 7


@pytest.mark.skipif(test_database_kind() != "sqlite", reason="the ADBC child")
def test_bulk_reads_stopped_early_end_their_child_and_a_failing_one_says_why(engine: Engine) -> None:
    _probe(engine)
    with engine.begin() as conn:
        write_frame(conn, "probe", pl.DataFrame({"k": [1, 2]}, schema={"k": pl.Int64}))
    schema = {"k": pl.Int64}
    with engine.connect() as conn:
        reads = read_frames(conn, ["SELECT k FROM probe"] * 50, schema)
        assert next(reads)["k"].to_list() == [1, 2]
        reads.close()  # the child is killed and reaped; the connection goes on working
        assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 2
        reads = read_frames(conn, ["SELECT k FROM probe", "SELECT k FROM missing"], schema)
        assert next(reads).height == 2
        with pytest.raises(RuntimeError, match="no such table: missing"):
            next(reads)
