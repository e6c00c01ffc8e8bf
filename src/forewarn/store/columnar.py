"""Columnar reads and writes between the store and Polars, without a SQLAlchemy row per record.

Reads: PostgreSQL sends a query's result as CSV through ``COPY (...) TO STDOUT`` and Polars parses it in Rust;
SQLite's rows come from the plain DB-API cursor in chunks, each chunk built into a frame at once (dates arrive as
ISO text and are parsed by Polars). Writes: PostgreSQL takes CSV through ``COPY ... FROM STDIN``; SQLite takes
``executemany`` over tuples, with columns that are null or one value throughout written as SQL literals instead of
being bound once per row. Everything runs inside the caller's connection and transaction.

The values stored are the ones SQLAlchemy would store: dates as ``YYYY-MM-DD`` on SQLite, floats exact (Polars
writes the shortest text that reads back to the same double, and PostgreSQL parses it exactly), JSON as the text
the caller gives. Measurements and the choices against ADBC and a per-row ORM path: ``docs/performance.md``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import polars as pl
from sqlalchemy import Connection

SQLITE_FETCH_ROWS = 200_000
WRITE_CHUNK_ROWS = 200_000


def read_frame(
    conn: Connection, sql: str, schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    """The result of ``sql`` (its columns in the order of ``schema``) as a frame of that schema."""
    names = list(schema)
    if conn.dialect.name == "postgresql":
        return _read_postgresql(conn, sql, schema)
    dates = [n for n, t in schema.items() if t == pl.Date]
    text_schema = {n: (pl.String if n in dates else t) for n, t in schema.items()}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        frames = []
        while rows := cursor.fetchmany(SQLITE_FETCH_ROWS):
            frames.append(pl.DataFrame(rows, schema=text_schema, orient="row"))
    finally:
        cursor.close()
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=text_schema)
    return frame.with_columns(pl.col(n).str.to_date("%Y-%m-%d") for n in dates).select(names)


def _read_postgresql(
    conn: Connection, sql: str, schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    buffer = io.BytesIO()
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        # Exact floats (the shortest text that reads back to the same double) and ISO dates, whatever the
        # server's defaults say.
        cursor.execute("SET extra_float_digits = 3")
        cursor.execute("SET DateStyle = ISO")
        # Null is an unquoted empty field; with text columns every value is quoted, so "" reads as a string.
        quote = " WITH (FORMAT csv, FORCE_QUOTE *)" if pl.String in schema.values() else " WITH (FORMAT csv)"
        with cursor.copy(f"COPY ({sql}) TO STDOUT{quote}") as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=dict(schema))
    buffer.seek(0)
    # PostgreSQL writes booleans as t and f: read them as text, then turn them over.
    booleans = [n for n, t in schema.items() if t == pl.Boolean]
    frame = pl.read_csv(
        buffer,
        has_header=False,
        new_columns=list(schema),
        schema={n: (pl.String if n in booleans else t) for n, t in schema.items()},
    )
    return frame.with_columns(
        pl.col(n).replace_strict({"t": True, "f": False}, default=None) for n in booleans
    )


def write_frame(
    conn: Connection, table: str, frame: pl.DataFrame, *, chunk_rows: int = WRITE_CHUNK_ROWS
) -> int:
    """Append every row of ``frame`` to ``table`` (columns by name); returns the rows written."""
    if frame.is_empty():
        return 0
    columns = frame.columns
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        # Null is an unquoted empty field; every string and date is quoted, so "" and "\\N" stay strings.
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            for start in range(0, frame.height, chunk_rows):
                payload = frame.slice(start, chunk_rows).write_csv(
                    include_header=False, quote_style="non_numeric", date_format="%Y-%m-%d"
                )
                with cursor.copy(statement) as copy:
                    copy.write(payload)
        return frame.height
    text = frame.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))
    literals = _literals(text)
    literals.pop(columns[0], None)  # sqlite3's executemany runs nothing for rows without parameters
    bound = [c for c in columns if c not in literals]
    values = ", ".join(literals.get(c, "?") for c in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, text.height, chunk_rows):
            cursor.executemany(statement, text.slice(start, chunk_rows).select(bound).iter_rows())
    finally:
        cursor.close()
    return frame.height


def _literals(frame: pl.DataFrame) -> dict[str, str]:
    """Columns that are null throughout, or one integer throughout, as SQL literals (SQLite binds the rest)."""
    out: dict[str, str] = {}
    for name in frame.columns:
        series = frame[name]
        if series.null_count() == series.len():
            out[name] = "NULL"
        elif series.dtype.is_integer() and series.null_count() == 0 and series.n_unique() == 1:
            out[name] = str(int(series[0]))
    return out


def delete_keys(conn: Connection, tables: Sequence[str], keys: pl.DataFrame) -> None:
    """Delete the rows of each of ``tables`` whose key columns (``keys``' columns) match a row of ``keys``."""
    if keys.is_empty():
        return
    staging = "forewarn_staging_keys"
    columns = keys.columns
    id_type = "BIGINT" if conn.dialect.name == "postgresql" else "INTEGER"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {staging}")
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ({', '.join(f'{c} {id_type} NOT NULL' for c in columns)})"
    )
    write_frame(conn, staging, keys)
    for table in tables:
        if conn.dialect.name == "postgresql":
            match = " AND ".join(f"t.{c} = k.{c}" for c in columns)
            conn.exec_driver_sql(f"DELETE FROM {table} t USING {staging} k WHERE {match}")
        else:
            listed = ", ".join(columns)
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE ({listed}) IN (SELECT {listed} FROM {staging})")
    conn.exec_driver_sql(f"DROP TABLE {staging}")
