"""PostgreSQL's partition reads as binary arrays (``forewarn.store.pg_arrays``): the parse of the array format
against arrays built here byte by byte (every store), and, on PostgreSQL, every value read back as the CSV path
reads it, floats to the bit, NULL apart from NaN."""

from __future__ import annotations

import datetime as dt
import math
import struct

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.store.columnar import read_frame, read_frames
from forewarn.store.pg_arrays import array_query, element_starts, parse_array, supports

INT8, FLOAT8, DATE = (1016, 20, 8, ">q"), (1022, 701, 8, ">d"), (1182, 1082, 4, ">i")


def _array(kind: tuple[int, int, int, str], values: list[float | int | None]) -> bytes:
    """A one-dimensional array as PostgreSQL's ``array_send`` writes it."""
    _, element, size, fmt = kind
    has_null = int(any(v is None for v in values))
    out = struct.pack(">iiiii", 1, has_null, element, len(values), 1)
    for v in values:
        out += struct.pack(">i", -1) if v is None else struct.pack(">i", size) + struct.pack(fmt, v)
    return out


def _bits(values: np.ndarray) -> list[bytes]:
    return [np.float64(v).tobytes() for v in values]


# A float whose 8 bytes hold the words -1 and 8 (a NaN with a payload): a parse that looked for length words
# anywhere but at element starts would take it for a NULL followed by a length.
TRAP = struct.unpack(">d", struct.pack(">ii", -1, 8))[0]


def test_an_array_without_nulls_is_read_whole() -> None:
    values = [0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308, float("nan"), float("-inf"), TRAP]
    read, nulls = parse_array(_array(FLOAT8, values), len(values), 8, FLOAT8[0])
    assert nulls is None
    assert _bits(read) == _bits(np.array(values))
    ints = [0, -1, 8, 2**62, -(2**63)]
    read, nulls = parse_array(_array(INT8, ints), len(ints), 8, INT8[0])
    assert nulls is None and read.tolist() == ints and read.dtype == np.int64


@pytest.mark.parametrize(
    "pattern",
    [
        [None, 1.5],
        [1.5, None],
        [None, None, 2.0, None, TRAP, None, TRAP, TRAP, None],
        [TRAP, None] * 40 + [None] * 7 + [0.25] * 13,
        [None] * 5 + [TRAP],
    ],
)
def test_nulls_anywhere_are_found_by_pointer_doubling(pattern: list[float | None]) -> None:
    read, nulls = parse_array(_array(FLOAT8, pattern), len(pattern), 8, FLOAT8[0])
    assert nulls is not None
    assert nulls.tolist() == [v is None for v in pattern]
    kept = [v for v in pattern if v is not None]
    assert _bits(read[~nulls]) == _bits(np.array(kept))


def test_dates_with_nulls_and_a_column_of_nulls() -> None:
    days = [-10_957, None, 0, 8_000, None, -1]
    read, nulls = parse_array(_array(DATE, days), len(days), 4, DATE[0])
    assert nulls is not None and nulls.tolist() == [d is None for d in days]
    assert read[~nulls].tolist() == [d for d in days if d is not None]
    read, nulls = parse_array(_array(FLOAT8, [None] * 4), 4, 8, FLOAT8[0])
    assert nulls is not None and nulls.all()


def test_a_malformed_array_is_refused() -> None:
    good = _array(FLOAT8, [1.0, None, 2.0])
    with pytest.raises(ValueError):
        parse_array(good, 4, 8, FLOAT8[0])  # a count other than the array's
    with pytest.raises(ValueError):
        parse_array(good[:-4], 3, 8, FLOAT8[0])  # cut short
    with pytest.raises(ValueError):
        parse_array(good, 3, 8, INT8[0])  # another element type
    broken = bytearray(good)
    broken[20 + 12 : 20 + 16] = struct.pack(">i", 7)  # the NULL's length word made a length of 7
    with pytest.raises(ValueError):
        parse_array(bytes(broken), 3, 8, FLOAT8[0])


def test_element_starts_match_a_walk_one_element_at_a_time() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 64, 1_000):
        values: list[float | None] = [
            None if rng.random() < 0.4 else float(rng.choice([TRAP, 1.0, -2.5])) for _ in range(n)
        ]
        payload = _array(FLOAT8, values)
        words = np.frombuffer(payload, dtype=">i4", offset=20)
        walk, at = [], 0
        for _ in range(n):
            walk.append(at)
            at += 1 if words[at] == -1 else 3
        if any(v is None for v in values):
            assert element_starts(words, n, 3).tolist() == walk


def test_only_numbers_and_dates_are_read_as_arrays() -> None:
    assert supports({"a": pl.Int64, "b": pl.Float64, "c": pl.Date, "d": pl.Int32})
    assert not supports({"a": pl.Int64, "s": pl.String})
    assert not supports({"a": pl.Int64, "b": pl.Boolean})
    assert not supports({})
    query = array_query("SELECT x, y FROM t", {"x": pl.Int64, "y": pl.Date})
    assert query == (
        "SELECT count(*), array_agg(q.c0::int8), array_agg(q.c1::date) FROM (SELECT x, y FROM t) AS q(c0, c1)"
    )


SCHEMA = {"k": pl.Int64, "big": pl.Int64, "x": pl.Float64, "d": pl.Date}
VALUES = [
    0.1 + 0.2,
    None,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    float("nan"),
    float("inf"),
    TRAP,
    None,
    1 / 3,
]
DATES = [
    dt.date(2000, 1, 1),
    dt.date(1999, 12, 31),
    None,
    dt.date(1970, 1, 1),
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
    dt.date(2024, 2, 29),
    None,
    dt.date(2021, 1, 1),
    dt.date(1900, 3, 1),
]


def _probe(engine: Engine) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "k": list(range(len(VALUES))),
            "big": [2**62, -(2**63), None, 0, 7, 8, -1, None, 3, 4],
            "x": VALUES,
            "d": DATES,
        },
        schema=SCHEMA,
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE probe (k INTEGER NOT NULL, big BIGINT, x DOUBLE PRECISION, d DATE)"
        )
        # One row at a time through the driver: the values as given, NaN and -0.0 included.
        conn.exec_driver_sql(
            "INSERT INTO probe (k, big, x, d) VALUES (%(k)s, %(big)s, %(x)s, %(d)s)",
            list(frame.iter_rows(named=True)),
        )
    return frame


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema and a.height == b.height
    for name in a.columns:
        assert a[name].is_null().to_list() == b[name].is_null().to_list(), name
        kept = a[name].is_not_null()
        if a[name].dtype == pl.Float64:
            # Floats to the bit; NaN as NaN (the CSV path's text "NaN" drops a NaN's payload bits, the array not)
            x, y = a[name].filter(kept).to_numpy(), b[name].filter(kept).to_numpy()
            assert np.isnan(x).tolist() == np.isnan(y).tolist(), name
            assert _bits(x[~np.isnan(x)]) == _bits(y[~np.isnan(y)]), name
        else:
            assert a[name].filter(kept).to_list() == b[name].filter(kept).to_list(), name


@pytest.fixture
def pg_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the binary array read is PostgreSQL's")
    return engine


def test_values_read_as_arrays_are_the_values_stored(pg_engine: Engine) -> None:
    frame = _probe(pg_engine)
    with pg_engine.connect() as conn:
        (arrays,) = read_frames(conn, ["SELECT k, big, x, d FROM probe ORDER BY k"], SCHEMA)
    _same(arrays, frame)
    assert _bits(arrays["x"].to_numpy()[7:8]) == _bits(np.array([TRAP]))  # the server's bits, payload and all
    assert math.isnan(arrays["x"][5]) and arrays["x"][1] is None  # NaN stays NaN, NULL stays null
    assert np.float64(arrays["x"][2]).tobytes() == np.float64(-0.0).tobytes()


def test_arrays_read_what_the_csv_path_reads(pg_engine: Engine) -> None:
    _probe(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM probe WHERE x = 'Infinity'"
        )  # infinity's CSV text Polars reads as inf
        queries = [f"SELECT k, big, x, d FROM probe WHERE k % 3 = {r} ORDER BY k" for r in range(3)]
        arrays = list(read_frames(conn, queries, SCHEMA))
        text = [read_frame(conn, q, SCHEMA) for q in queries]
    assert len(arrays) == 3
    for a, b in zip(arrays, text, strict=True):
        _same(a, b)


def test_queries_come_back_in_order_and_the_connection_stays_usable(pg_engine: Engine) -> None:
    _probe(pg_engine)
    with pg_engine.connect() as conn:
        queries = [
            "SELECT k, big, x, d FROM probe WHERE k < 0",  # empty
            "SELECT k, big, x, d FROM probe WHERE k >= 5 ORDER BY k DESC",
            "SELECT k, k, 1.5::float8, DATE '2020-02-01' FROM probe WHERE k = 3",
        ]
        seen = []
        for frame in read_frames(conn, queries, SCHEMA):
            # A statement of the caller's between two frames waits for the read ahead, on the same connection.
            assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar_one() == len(VALUES)
            seen.append(frame)
    assert seen[0].is_empty() and dict(seen[0].schema) == SCHEMA
    assert seen[1]["k"].to_list() == [9, 8, 7, 6, 5]
    assert seen[2].rows() == [(3, 3, 1.5, dt.date(2020, 2, 1))]


def test_an_infinite_date_is_refused(pg_engine: Engine) -> None:
    _probe(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE probe SET d = 'infinity' WHERE k = 1")
        with pytest.raises(ValueError, match="infinite date"):
            list(read_frames(conn, ["SELECT k, big, x, d FROM probe"], SCHEMA))
