"""Binary COPY of a Polars frame: the bytes checked against a decoder written from PostgreSQL's format description,
and (on PostgreSQL) the rows the server stores checked against the frame, nulls, dates and exact floats included."""

from __future__ import annotations

import datetime as dt
import struct

import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.store import pg_copy
from tests.conftest import test_database_kind

DECODERS = {
    "bigint": lambda b: struct.unpack(">q", b)[0],
    "integer": lambda b: struct.unpack(">i", b)[0],
    "double precision": lambda b: struct.unpack(">d", b)[0],
    "date": lambda b: dt.date(2000, 1, 1) + dt.timedelta(days=struct.unpack(">i", b)[0]),
}


def _decode(payload: bytes, types: list[str]) -> list[tuple[object, ...]]:
    """PostgreSQL's binary COPY rows (no header or trailer), one field at a time."""
    rows, at = [], 0
    while at < len(payload):
        (count,) = struct.unpack_from(">h", payload, at)
        at += 2
        assert count == len(types)
        row: list[object] = []
        for kind in types:
            (length,) = struct.unpack_from(">i", payload, at)
            at += 4
            if length == -1:
                row.append(None)
                continue
            row.append(DECODERS[kind](payload[at : at + length]))
            at += length
        rows.append(tuple(row))
    return rows


FRAME = pl.DataFrame(
    {
        "id": [1, 2, -3, 2**40, 5],
        "day": [dt.date(2020, 2, 29), None, dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(1970, 1, 1)],
        "x": [0.1, None, -1e-300, 1.0 / 3.0, None],
        "n": pl.Series([7, 8, None, 10, 11], dtype=pl.Int32),
        "empty": pl.Series([None] * 5, dtype=pl.Float64),
    }
)
TYPES = ["bigint", "date", "double precision", "integer", "double precision"]


def test_rows_with_mixed_nulls_keep_their_order_and_exact_values() -> None:
    assert _decode(pg_copy.encode(FRAME, TYPES), TYPES) == FRAME.rows()


def test_rows_of_one_layout_are_encoded_the_same_way() -> None:
    frame = FRAME.filter(pl.col("x").is_not_null() & pl.col("n").is_not_null())
    assert _decode(pg_copy.encode(frame, TYPES), TYPES) == frame.rows()
    assert pg_copy.encode(frame.clear(), TYPES) == b""


def test_a_type_it_cannot_write_exactly_is_refused() -> None:
    with pytest.raises(TypeError):
        pg_copy.encode(FRAME.select("x"), ["bigint"])  # floats into an integer column
    with pytest.raises(TypeError):
        pg_copy.encode(FRAME.select("id"), ["text"])


@pytest.mark.skipif(test_database_kind() != "postgresql", reason="PostgreSQL's COPY")
def test_the_server_stores_the_frame_as_it_is(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE t (id BIGINT, day DATE, x DOUBLE PRECISION, n INTEGER, "
            "empty DOUBLE PRECISION, other TEXT)"
        )
        seen: list[int] = []
        pg_copy.copy_frame(conn, "t", FRAME, chunk_rows=2, progress=seen.append)
        assert seen == [2, 2, 1]
        stored = conn.exec_driver_sql("SELECT id, day, x, n, empty, other FROM t ORDER BY ctid").all()
    assert [tuple(row)[:5] for row in stored] == FRAME.rows()
    assert all(row[5] is None for row in stored)
