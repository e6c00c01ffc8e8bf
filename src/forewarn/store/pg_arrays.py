"""PostgreSQL's bulk reads of numbers and dates as one binary array a column, parsed by NumPy without text.

``COPY (...) TO STDOUT`` sends a message a row, and psycopg hands each to Python: about 1 microsecond of the
client's CPU a row whatever the format, on top of the server's formatting (CSV: floats in their shortest exact
text). Here the query is wrapped as ``SELECT count(*), array_agg(c1), array_agg(c2), ... FROM (<query>) AS q``:
one row back, each column one binary array (``int8[]``, ``float8[]``, ``date[]``), read by NumPy straight from
the result's buffer as psycopg loads it (no per-value Python object, no copy of the bytes). All the aggregates
of one query see the rows of one scan in the same order, so the columns line up row for row.

PostgreSQL's binary array: ``ndim``, a has-nulls flag, the element type's oid, then per dimension its size and lower
bound (int32, big-endian), then per element its length (int32; -1 for NULL, with no bytes) and its bytes. Without
NULL every element has the same size and one structured ``np.frombuffer`` reads them. With NULLs the elements'
offsets are found by pointer doubling over the array's 4-byte words (every element's size is a multiple of 4): a
vectorised parse, each offset checked to be a length word (-1 or the type's size) and the last element to end
the buffer exactly. Values are the server's bits (floats exact, NaN apart from NULL); dates are days from
2000-01-01, turned to days from 1970-01-01 (``infinity`` is refused, as the CSV path refused it).

Only for results of one partition's size (the caller bounds them: one indicator, a batch of indicators): the
server builds each array in memory. Results with text or booleans, and whole-table reads, stay on CSV
(:mod:`forewarn.store.columnar`). Figures: ``docs/performance.md``, "PostgreSQL's reads, binary (wt/pgscan)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from psycopg import Connection as PgConnection
from psycopg import pq
from psycopg.adapt import Loader

# Element oids of the arrays read raw: int8[], float8[], date[].
_INT8_ARRAY, _FLOAT8_ARRAY, _DATE_ARRAY = 1016, 1022, 1182
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days from 1970-01-01
_DATE_INFINITY = 2**31 - 1


class _ParsedArray(Loader):
    """A binary array parsed straight from the result's buffer (no copy of its bytes): its values and NULL mask
    (:func:`parse_array`), or None for an array that is not one-dimensional (refused by the caller)."""

    format = pq.Format.BINARY

    def load(self, data: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
        head = np.frombuffer(data, dtype=">i4", count=5) if len(data) >= 20 else None
        if head is None or head[0] != 1:
            return None
        size = 4 if self.oid == _DATE_ARRAY else 8
        return parse_array(data, int(head[3]), size, self.oid)


def supports(schema: Mapping[str, pl.DataType | type[pl.DataType]]) -> bool:
    """Whether every column of ``schema`` is read as a fixed-size binary value (integers, floats, dates)."""
    return bool(schema) and all(t == pl.Date or t.is_integer() or t.is_float() for t in schema.values())


def _sql_type(dtype: pl.DataType | type[pl.DataType]) -> tuple[str, int, int]:
    """The server's type a column is sent as, its element's bytes and its array's oid."""
    if dtype == pl.Date:
        return "date", 4, _DATE_ARRAY
    if dtype.is_float():
        return "float8", 8, _FLOAT8_ARRAY
    return "int8", 8, _INT8_ARRAY


def array_query(sql: str, schema: Mapping[str, pl.DataType | type[pl.DataType]]) -> str:
    """``sql`` wrapped so that its result comes back as one row: the count, then one array a column (by
    position, whatever ``sql`` names them)."""
    names = [f"c{i}" for i in range(len(schema))]
    arrays = ", ".join(
        f"array_agg(q.{n}::{_sql_type(t)[0]})" for n, t in zip(names, schema.values(), strict=True)
    )
    return f"SELECT count(*), {arrays} FROM ({sql}) AS q({', '.join(names)})"


def read_arrays(
    raw: PgConnection[Any], sql: str, schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    """The result of ``sql`` (its columns in the order of ``schema``, all of them :func:`supports`) as a frame of
    that schema, read on ``raw`` in its open transaction."""
    with raw.cursor(binary=True) as cursor:
        for oid in (_INT8_ARRAY, _FLOAT8_ARRAY, _DATE_ARRAY):
            cursor.adapters.register_loader(oid, _ParsedArray)
        cursor.execute(array_query(sql, schema))
        row = cursor.fetchone()
    assert row is not None
    n = int(row[0])
    if n == 0:
        return pl.DataFrame(schema=dict(schema))
    columns = {}
    for (name, dtype), parsed in zip(schema.items(), row[1:], strict=True):
        if parsed is None or len(parsed[0]) != n:
            raise ValueError("read_frame: an array read from PostgreSQL is not what was asked for")
        values, nulls = parsed
        if dtype == pl.Date:
            if nulls is None:
                bad = values == _DATE_INFINITY
                bad |= values == -_DATE_INFINITY - 1
            else:
                bad = ~nulls & ((values == _DATE_INFINITY) | (values == -_DATE_INFINITY - 1))
            if bad.any():
                raise ValueError(f"read_frame: column {name} holds an infinite date")
            array = pa.array(values + np.int32(_PG_EPOCH_DAYS), mask=nulls).cast(pa.date32())
        else:
            array = pa.array(values, mask=nulls)
        columns[name] = array
    frame = pl.from_arrow(pa.table(columns), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast(dict(schema))  # type: ignore[arg-type]


def parse_array(payload: bytes, n: int, size: int, oid: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``n`` elements of a one-dimensional binary array of ``size``-byte big-endian elements (``int8``,
    ``float8``: 8; ``date``: 4) of element type ``oid``, in native order, and a mask of the NULLs (None when
    there are none). Raises ValueError on anything else."""
    kind = ">f8" if oid == _FLOAT8_ARRAY else (">i8" if size == 8 else ">i4")
    header = np.frombuffer(payload, dtype=">i4", count=5) if len(payload) >= 20 else None
    if header is None or header[0] != 1 or header[2] != _element_oid(oid) or header[3] != n:
        raise ValueError("read_frame: an array read from PostgreSQL is not what was asked for")
    body = len(payload) - 20
    if header[1] == 0:  # no NULL: one record shape
        if body != n * (4 + size):
            raise ValueError("read_frame: an array read from PostgreSQL has the wrong length")
        records = np.frombuffer(payload, dtype=[("length", ">i4"), ("value", kind)], offset=20, count=n)
        if not (records["length"] == size).all():
            raise ValueError("read_frame: an array read from PostgreSQL has elements of another size")
        return records["value"].astype(kind[1:]), None
    words = np.frombuffer(payload, dtype=">i4", offset=20)
    if body % 4 or body == 4 * n:  # every element NULL: one length word each
        if body == 4 * n and (words == -1).all():
            return np.zeros(n, dtype=kind[1:]), np.ones(n, dtype=bool)
        raise ValueError("read_frame: an array read from PostgreSQL has the wrong length")
    starts = element_starts(words, n, 1 + size // 4)
    nulls = words[starts] == -1
    # A value's bytes follow its length word: gather them by 4-byte word, then view them as the element's type.
    take = starts[~nulls, None] + 1 + np.arange(size // 4)
    present = np.ascontiguousarray(words[take]).view(kind).reshape(-1)
    values = np.zeros(n, dtype=kind[1:])
    values[~nulls] = present
    return values, nulls


def _element_oid(array_oid: int) -> int:
    return {_INT8_ARRAY: 20, _FLOAT8_ARRAY: 701, _DATE_ARRAY: 1082}[array_oid]


def element_starts(words: np.ndarray, n: int, step: int) -> np.ndarray:
    """The word offsets of the ``n`` elements of an array body of 4-byte ``words`` where an element is either
    NULL (the word -1) or a length word followed by ``step - 1`` words, by pointer doubling: ``jump`` maps each
    word to the start after 2**k elements from it, and the starts found so far (the first 2**k) extended by
    ``jump`` of each give the first 2**(k + 1), in order; about log2(n) passes over the words. Every offset is
    checked to hold a length (-1, or the element's size) and the last element to end the body."""
    count = len(words)
    length_word = 4 * (step - 1)
    steps = np.where(words == -1, 1, step)
    jump = np.append(np.minimum(np.arange(count) + steps, count), count)  # `count`: past the end, stays there
    starts = np.zeros(1, dtype=np.int64)
    while len(starts) < n:
        starts = np.concatenate([starts, jump[starts]])
        if len(starts) < n:
            jump = jump[jump]
    starts = starts[:n]
    if starts[-1] >= count:
        raise ValueError("read_frame: an array read from PostgreSQL has too few elements")
    heads = words[starts]
    if not ((heads == -1) | (heads == length_word)).all() or starts[-1] + steps[starts[-1]] != count:
        raise ValueError("read_frame: an array read from PostgreSQL could not be parsed")
    return starts


__all__ = ["array_query", "element_starts", "parse_array", "read_arrays", "supports"]
