"""A Polars frame into a PostgreSQL table by ``COPY ... (FORMAT binary)``, encoded with NumPy, no Python per row.

The import's writes on PostgreSQL went through ``COPY`` as CSV text (Polars writes it in C, psycopg sends it): the
server then parses every number and date back from text, which was most of the ``COPY``. In PostgreSQL's binary
``COPY`` format a value is its length and its bytes in network order, so the server only copies them: 2.4M staged
observations (9 columns) took 4.0 s of server CPU and 1.1 s of client CPU as CSV, 1.8 s and 0.4 s in binary
(``docs/performance.md``, "Imports, continued"). Values are exactly those of the frame (a float is sent as its 8
bytes, not as decimal text).

The format (PostgreSQL's documentation, "COPY", "Binary Format"): a header (signature, flags, extension length),
then per row a 16-bit count of fields and per field a 32-bit length (-1 for NULL) followed by that many bytes, and
a 16-bit -1 at the end. The bytes of a field are those of the column's type's binary receive function, so each
column is encoded for the type the *target* column has (read from the catalogue): ``bigint`` as 8 bytes, a
``date`` as the days since 2000-01-01 in 4, and so on. Rows with the same columns null have the same layout: each
such group is laid out as one NumPy structured array, and the groups are interleaved back into the frame's order
(the order is the order of the ids the table gives the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from sqlalchemy import Connection

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
POSTGRES_EPOCH_DAYS = 10_957
"""Days from 1970-01-01 (Polars' dates) to 2000-01-01 (PostgreSQL's)."""

WIRE_TYPES: dict[str, str] = {
    "bigint": ">i8",
    "integer": ">i4",
    "smallint": ">i2",
    "double precision": ">f8",
    "real": ">f4",
    "date": ">i4",
    "boolean": "?",
}
"""The column types this encoder writes, and the NumPy type of their binary form."""


def column_types(conn: Connection, table: str) -> dict[str, str]:
    """Each column of ``table`` (a temporary table too) and its type as ``format_type`` names it."""
    rows = conn.exec_driver_sql(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %(table)s::regclass AND attnum > 0 AND NOT attisdropped",
        {"table": table},
    )
    return {str(name): str(kind) for name, kind in rows}


def _values(series: pl.Series, kind: str) -> np.ndarray:
    """The series' values (nulls as zero: they are not written) as NumPy, in the order of its rows."""
    if kind == "date":
        if series.dtype != pl.Date:
            raise TypeError(f"column {series.name!r} goes into a date column but is {series.dtype}")
        return series.cast(pl.Int32).fill_null(0).to_numpy() - POSTGRES_EPOCH_DAYS
    if kind == "boolean":
        return series.cast(pl.Boolean).fill_null(False).to_numpy()
    integer = kind in ("bigint", "integer", "smallint")
    if not series.dtype.is_numeric() or (integer and not series.dtype.is_integer()):
        raise TypeError(f"column {series.name!r} ({series.dtype}) cannot go into a {kind} column")
    return series.fill_null(0).to_numpy()


def encode(frame: pl.DataFrame, types: Sequence[str]) -> bytes:
    """The rows of ``frame`` in the binary ``COPY`` format, without the header and the trailer; ``types`` names the
    target column type of each of the frame's columns (keys of :data:`WIRE_TYPES`)."""
    unknown = sorted({kind for kind in types if kind not in WIRE_TYPES})
    if unknown:
        raise TypeError(f"binary COPY of column types {unknown} is not supported")
    if frame.height == 0:
        return b""
    wire = [np.dtype(WIRE_TYPES[kind]) for kind in types]
    values = [_values(frame[name], kind) for name, kind in zip(frame.columns, types, strict=True)]
    nulls = [frame[name].is_null().to_numpy() for name in frame.columns]
    # One bit per column that is null in the row: rows with the same bits have the same layout.
    pattern = np.zeros(frame.height, dtype=np.int64)
    for bit, null in enumerate(nulls):
        pattern |= null.astype(np.int64) << bit
    layouts, group = np.unique(pattern, return_inverse=True)

    def laid_out(bits: int, rows: np.ndarray | None) -> np.ndarray:
        fields: list[tuple[str, np.dtype | str]] = [("count", ">i2")]
        for i, kind in enumerate(wire):
            fields.append((f"l{i}", ">i4"))
            if not (bits >> i) & 1:
                fields.append((f"v{i}", kind))
        out = np.empty(frame.height if rows is None else len(rows), dtype=np.dtype(fields))
        out["count"] = len(wire)
        for i, kind in enumerate(wire):
            if (bits >> i) & 1:
                out[f"l{i}"] = -1
            else:
                out[f"l{i}"] = kind.itemsize
                out[f"v{i}"] = values[i] if rows is None else values[i][rows]
        return out

    if len(layouts) == 1:
        return laid_out(int(layouts[0]), None).tobytes()
    # Several layouts: each group's rows as one block, scattered back to the rows' places in the frame's order.
    sizes = np.array([laid_out(int(bits), np.empty(0, dtype=np.int64)).dtype.itemsize for bits in layouts])
    row_sizes = sizes[group]
    starts = np.concatenate(([0], np.cumsum(row_sizes)[:-1]))
    buffer = np.empty(int(row_sizes.sum()), dtype=np.uint8)
    for k, bits in enumerate(layouts):
        rows = np.flatnonzero(group == k)
        block = laid_out(int(bits), rows).view(np.uint8).reshape(len(rows), int(sizes[k]))
        buffer[starts[rows][:, None] + np.arange(int(sizes[k]))] = block
    return buffer.tobytes()


def copy_frame(
    conn: Connection,
    table: str,
    frame: pl.DataFrame,
    chunk_rows: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Append the rows of ``frame`` to ``table`` (its columns named as the frame's) in the frame's order: one binary
    ``COPY``, encoded and sent ``chunk_rows`` at a time, inside the caller's transaction."""
    types = column_types(conn, table)
    missing = [c for c in frame.columns if c not in types]
    if missing:
        raise KeyError(f"{table} has no column {missing}")
    kinds = [types[c] for c in frame.columns]
    raw = conn.connection.driver_connection
    statement = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT binary)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(HEADER)
        for start in range(0, frame.height, chunk_rows):
            chunk = frame.slice(start, chunk_rows)
            copy.write(encode(chunk, kinds))
            if progress:
                progress(chunk.height)
        copy.write(TRAILER)
