"""Columnar reads and writes between the store and Polars, without a SQLAlchemy row per record.

Reads: PostgreSQL sends a query's result as CSV through ``COPY (...) TO STDOUT`` and Polars parses it in Rust;
SQLite's result comes as Arrow straight from C through ADBC (``adbc-driver-sqlite``) on a connection of its own to
the same file, which sees what is committed; while the caller's transaction holds writes of its own (or the store
is in memory), from the plain DB-API cursor in chunks instead. Dates arrive as ISO text and are parsed by Polars.
Writes: PostgreSQL takes CSV through ``COPY ... FROM STDIN``; SQLite takes a frame of ``ADBC_WRITE_ROWS`` rows or
more through a file ADBC writes and one ``INSERT ... SELECT`` (:mod:`forewarn.store.adbc_write`; the caller's
transaction then comes from ``adbc_write.transaction``, which detaches the file after it), a smaller one through
``executemany`` over tuples; both with columns that are null or one value throughout written as SQL literals
instead of being bound once per row. Everything runs inside the caller's connection and transaction.

The values stored are the ones SQLAlchemy would store: dates as ``YYYY-MM-DD`` on SQLite, floats exact (Polars
writes the shortest text that reads back to the same double, and PostgreSQL parses it exactly), JSON as the text
the caller gives. Measurements and the choices against ADBC and a per-row ORM path: ``docs/performance.md``.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import polars as pl
from sqlalchemy import Connection

from forewarn.store import adbc_write, pg_arrays, pg_keys
from forewarn.store.database import SQLITE_CHANGES_AT_BEGIN

SQLITE_FETCH_ROWS = 200_000
# ADBC's SQLite driver reads its first batch to decide each column's Arrow type, and a column null throughout that
# batch becomes INT64 (a later REAL then fails: "expected INT64 but got DOUBLE"). Every ADBC read therefore starts
# with one typing row of the right kinds (dropped after), whatever the data's first rows hold.
ADBC_TYPED = "forewarn_typed__"
ADBC_BATCH_ROWS = 65_536
WRITE_CHUNK_ROWS = 200_000
ADBC_WRITE_ROWS = 5_000
"""On SQLite, frames of at least this many rows are written through ADBC (:mod:`forewarn.store.adbc_write`)."""


def read_frame(
    conn: Connection,
    sql: str,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
    *,
    bulk: bool = False,
) -> pl.DataFrame:
    """The result of ``sql`` (its columns in the order of ``schema``) as a frame of that schema.

    ``bulk`` (a read of a whole large table, such as every observation): on SQLite, read through ADBC in a child
    process (about 0.3 s CPU to start, then about a third of the cursor's CPU a row), unless ``conn``'s open
    transaction has written or the store is in memory. Without it, and on PostgreSQL, the reads are as before.
    """
    names = list(schema)
    if conn.dialect.name == "postgresql":
        return _read_postgresql(conn, sql, schema)
    dates = [n for n, t in schema.items() if t == pl.Date]
    text_schema = {n: (pl.String if n in dates else t) for n, t in schema.items()}
    path = committed_file(conn) if bulk else None
    if path is not None:
        (frame,) = _read_sqlite_adbc(conn, path, [sql], schema)
        return frame
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


def committed_file(conn: Connection) -> Path | None:
    """The store's file when a reader of its own sees what ``conn`` sees but its own snapshot: a file (not memory)
    and no change made in ``conn``'s open transaction. None otherwise (read on ``conn`` itself)."""
    url = conn.engine.url
    raw = conn.connection.driver_connection
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        return None
    if not isinstance(raw, sqlite3.Connection):
        return None
    if raw.in_transaction and conn.info.get(SQLITE_CHANGES_AT_BEGIN) != raw.total_changes:
        return None  # this transaction wrote (or began outside the engine's BEGIN): only it sees its writes
    return Path(url.database).resolve()


# The ADBC reader runs in a child process: ADBC's driver carries its own copy of SQLite, and two copies of SQLite
# in one process break each other's POSIX locks (closing one's file descriptor drops the other's locks, and the
# process's locks never conflict with each other: "How To Corrupt An SQLite Database File", section 2.2.1, at
# https://www.sqlite.org/howtocorrupt.html). Measured: in-process, ADBC's closing connection took itself for the
# last one, checkpointed the WAL under the open sqlite3 connection, which then failed with "disk I/O error".
# The child imports the driver manager and pyarrow only (0.3 s CPU) and streams Arrow IPC back.
# The child runs each query given (a JSON list) in turn and writes each result as one Arrow IPC stream behind its
# length (8 bytes, little-endian), so the parent takes one result at a time while the child reads the next.
_ADBC_CHILD = """
import json
import sys
import adbc_driver_manager
import adbc_driver_sqlite
import pyarrow as pa
import pyarrow.ipc


def main(uri, timeout, batch, queries, dates):
    dates = set(filter(None, dates.split(",")))
    out = sys.stdout.buffer
    with adbc_driver_sqlite.connect(uri) as db, adbc_driver_manager.AdbcConnection(db) as conn:
        with adbc_driver_manager.AdbcStatement(conn) as statement:
            statement.set_sql_query(f"PRAGMA busy_timeout = {int(timeout)}")
            handle, _ = statement.execute_query()
            pa.RecordBatchReader._import_from_c(handle.address).read_all()
        for sql in json.loads(queries):
            with adbc_driver_manager.AdbcStatement(conn) as statement:
                statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: batch})
                statement.set_sql_query(sql)
                handle, _ = statement.execute_query()
                reader = pa.RecordBatchReader._import_from_c(handle.address)
                schema = pa.schema(
                    [pa.field(f.name, pa.date32()) if f.name in dates else f for f in reader.schema]
                )
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, schema) as writer:
                    for part in reader:
                        # ISO text to days (an error on anything else), so the parent gets no text to parse
                        writer.write_batch(part.cast(schema) if dates else part)
                del reader
            result = sink.getvalue()
            out.write(result.size.to_bytes(8, "little"))
            out.write(memoryview(result))
            out.flush()
            del result, sink


try:
    main(*sys.argv[1:6])
except Exception as error:
    sys.stderr.write(str(error).splitlines()[0] if str(error) else type(error).__name__)
    sys.exit(1)
"""


def read_frames(
    conn: Connection,
    queries: Sequence[str],
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> Iterator[pl.DataFrame]:
    """The result of each of ``queries`` (bulk reads, each of ``schema``), one at a time, in order.

    On a SQLite file that ``conn``'s open transaction has not written to, one ADBC child process runs every query
    in turn (one start, about 0.3 s CPU, for all of them) and reads the next result while the caller works on
    this one, so a caller that drops each frame before asking for the next holds one result at a time (and the
    child one more). On PostgreSQL, a schema of numbers and dates only is read as binary arrays, one query ahead
    (:func:`_read_postgresql_arrays`); each query must be of a partition's size (the server builds its arrays in
    memory). Elsewhere each query is a bulk :func:`read_frame` of its own."""
    if conn.dialect.name == "postgresql" and pg_arrays.supports(schema):
        yield from _read_postgresql_arrays(conn, queries, schema)
        return
    path = committed_file(conn) if conn.dialect.name == "sqlite" and queries else None
    if path is None:
        for sql in queries:
            yield read_frame(conn, sql, schema, bulk=True)
        return
    yield from _read_sqlite_adbc(conn, path, queries, schema)


def _read_postgresql_arrays(
    conn: Connection,
    queries: Sequence[str],
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> Iterator[pl.DataFrame]:
    """Each query read as binary arrays (:mod:`forewarn.store.pg_arrays`), the next one by a thread of this
    process on the same connection (psycopg's connection is thread-safe: a statement the caller runs meanwhile
    waits for it) while the caller works on this one, so the server works on the next query on the other
    core. Same connection and transaction as one read after another: each query sees what it saw before."""
    raw = conn.connection.driver_connection
    if not queries:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forewarn-pg-read") as reader:
        pending = reader.submit(pg_arrays.read_arrays, raw, queries[0], schema)  # type: ignore[arg-type]
        for sql in queries[1:]:
            frame = pending.result()
            pending = reader.submit(pg_arrays.read_arrays, raw, sql, schema)  # type: ignore[arg-type]
            yield frame
            del frame
        yield pending.result()


def _read_sqlite_adbc(
    conn: Connection,
    path: Path,
    queries: Sequence[str],
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> Iterator[pl.DataFrame]:
    """Each of ``queries`` read as Arrow by ADBC's SQLite driver, in one child process on a connection of its own
    to ``path`` (WAL: it reads the last commit without blocking or being blocked by a writer), with the caller's
    busy timeout. Each query's typing row goes first (UNION ALL keeps the order of its parts) and is checked,
    then sliced off."""
    import json

    import pyarrow as pa
    import pyarrow.compute  # loaded by the first bulk SQLite read only
    import pyarrow.ipc

    timeout = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    typing_row = ", ".join(f"{_typing_literal(t)} AS {n}" for n, t in schema.items())
    typed = [f"SELECT 1 AS {ADBC_TYPED}, {typing_row} UNION ALL SELECT 0, * FROM ({sql})" for sql in queries]
    uri = f"file:{quote(str(path))}"
    dates = ",".join(n for n, t in schema.items() if t == pl.Date)
    batch = str(ADBC_BATCH_ROWS)
    command = [sys.executable, "-I", "-c", _ADBC_CHILD, uri, str(timeout), batch, json.dumps(typed), dates]
    names = list(schema)
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        stream = child.stdout
        assert stream is not None
        done = False
        try:
            for _ in typed:
                head = stream.read(8)
                size = int.from_bytes(head, "little") if len(head) == 8 else -1
                # Bytes straight from the pipe; the Arrow columns below are views of them (no copy).
                payload = stream.read(size) if size >= 0 else b""
                table = None
                if size >= 0 and len(payload) == size:
                    try:
                        table = pyarrow.ipc.open_stream(pa.py_buffer(payload)).read_all()
                    except Exception:
                        table = None
                del payload
                if table is None:
                    stream.close()
                    code = child.wait()
                    done = True
                    errors.seek(0)
                    message = errors.read().decode(errors="replace").strip() or f"exit status {code}"
                    raise RuntimeError(f"read_frame: the SQLite read failed: {message}")
                marks = table.column(ADBC_TYPED)
                if table.num_rows == 0 or marks[0].as_py() != 1 or pyarrow.compute.sum(marks).as_py() != 1:
                    raise RuntimeError("read_frame: the SQLite read lost its typing row")
                frame = pl.from_arrow(table.slice(1).drop_columns([ADBC_TYPED]), rechunk=False)
                del table
                assert isinstance(frame, pl.DataFrame)
                # Only the caller holds the result while it works on it (not this generator's frame too, whose
                # columns the cast may have copied): a caller that drops it frees it.
                held = [frame.cast(dict(schema)).select(names)]  # type: ignore[arg-type]
                del frame
                yield held.pop()
            stream.close()
            code = child.wait()
            done = True
            if code != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip() or f"exit status {code}"
                raise RuntimeError(f"read_frame: the SQLite read failed: {message}")
        finally:
            if not done:  # the caller stopped early, or a check failed: the child's remaining reads go
                child.kill()
                stream.close()
                child.wait()


def _typing_literal(dtype: pl.DataType | type[pl.DataType]) -> str:
    """A value of the SQLite storage class ``dtype`` reads from: REAL for floats, INTEGER, or TEXT."""
    if dtype.is_float():
        return "0.5"
    if dtype.is_integer() or dtype == pl.Boolean:
        return "0"
    if dtype in (pl.String, pl.Date):
        return "'1970-01-01'"
    raise ValueError(f"read_frame: no SQLite storage class for a column of type {dtype}")


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
        # Foreign keys checked once a distinct parent, not by a trigger a row, where that is safe (store/pg_keys.py)
        with pg_keys.keys_checked_once(conn, table, frame), raw.cursor() as cursor:  # type: ignore[union-attr]
            for start in range(0, frame.height, chunk_rows):
                payload = frame.slice(start, chunk_rows).write_csv(
                    include_header=False, quote_style="non_numeric", date_format="%Y-%m-%d"
                )
                with cursor.copy(statement) as copy:
                    copy.write(payload)
        return frame.height
    literals = _literals(frame)
    literals.pop(columns[0], None)  # sqlite3's executemany runs nothing for rows without parameters
    if frame.height >= ADBC_WRITE_ROWS:
        adbc_write.append(conn, table, frame, literals, chunk_rows)
        return frame.height
    text = frame.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))
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
