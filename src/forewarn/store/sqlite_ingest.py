"""A Polars frame into a SQLite table inside the caller's transaction, without a Python object per cell.

Python's ``sqlite3`` binds every value of an ``executemany`` from a Python object: for an import that was most of
the write (900,000 observations: 0.4 s of CPU to make the tuples and 1.6 s to bind them). Here ADBC's SQLite
driver (``adbc-driver-sqlite``, already used to read observations as Arrow) writes the frame from its Arrow
buffers, in C, into a new database file of its own, and one ``INSERT ... SELECT`` per chunk copies the rows from
that file, attached to the caller's connection, into the table: the same import took 0.4 s for the file and 0.7 s
for the copy (``bench/import_bench.py`` for the figures as the user runs them).

The copy runs inside the caller's transaction, so the import stays all or nothing: the file written first is not
the store, and nothing reaches the store before the caller commits. SQLite refuses to detach a database that the
open transaction has read, so the file stays attached until :func:`detach` is called after the transaction
(``bulk.import_transaction`` does), or until the next load on the same pooled connection. The file is unlinked as
soon as it is attached: SQLite reads it through its open descriptor, and the space comes back when it is detached
or the connection closes, even if the process is killed (on POSIX systems; elsewhere the unlink fails and the file
is left behind). The file is written beside the store's database file (:func:`load_folder`), not in the temporary
folder, which may be too small for it.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl
from sqlalchemy import Connection

from forewarn.store.adbc_write import write_file

SCHEMA = "forewarn_load"
"""The name the load file is attached under."""
TABLE = "rows"


def detach(raw: sqlite3.Connection) -> None:
    """Detach the load file from ``raw`` if it is attached (outside a transaction that read it), and the segments
    of :mod:`forewarn.store.sqlite_segments` (named ``forewarn_load_segment_<n>``)."""
    for name in [str(row[1]) for row in raw.execute("PRAGMA database_list")]:
        if name == SCHEMA or name.startswith(f"{SCHEMA}_segment_"):
            raw.execute(f"DETACH DATABASE {name}")


def load_folder(raw: sqlite3.Connection) -> Path:
    """Where the load file goes: beside the store's database file (the same disk, which has room for the store
    the file is copied into; an import of 36M observations writes a file of a few GB, more than a small temporary
    folder may hold), or the temporary folder for a store in memory."""
    for row in raw.execute("PRAGMA database_list"):
        if row[1] == "main" and row[2]:
            return Path(str(row[2])).parent
    return Path(tempfile.gettempdir())


def attach_frame(conn: Connection, frame: pl.DataFrame | Iterable[pl.DataFrame]) -> str:
    """Write ``frame`` (its columns as SQLite stores them, dates as ISO text) into a new load file, attach it to
    the caller's connection and return the name of its table (``forewarn_load.rows``, rowids 1..n in the frame's
    order). It stays attached until :func:`detach` (after the caller's transaction). ``frame`` may be frames of
    one schema, written one after the other as they come (:func:`forewarn.store.adbc_write.write_file`)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    detach(raw)  # a load file left attached by an earlier transaction on this pooled connection
    try:
        folder = Path(tempfile.mkdtemp(prefix="forewarn-load-", dir=load_folder(raw)))
    except OSError:  # the store's folder is read-only to us: the temporary folder
        folder = Path(tempfile.mkdtemp(prefix="forewarn-load-"))
    try:
        path = folder / "load.db"
        write_file(path, frame)  # the same writer as the scan's (forewarn.store.adbc_write)
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return f"{SCHEMA}.{TABLE}"


def insert_frame(
    conn: Connection,
    table: str,
    frame: pl.DataFrame,
    columns: list[str],
    literals: dict[str, str],
    chunk_rows: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Append ``frame`` to ``table``: each of ``columns`` from the frame's column of that name, or from the SQL
    literal ``literals`` gives for it (a column null or constant throughout, not written to the file).

    ``frame`` holds the columns as SQLite stores them (dates as ISO text). Rows are copied ``chunk_rows`` at a
    time, calling ``progress(rows)`` after each chunk when given."""
    bound = [c for c in columns if c not in literals]
    rows = attach_frame(conn, frame.select(bound))
    source = ", ".join(literals.get(c, f'"{c}"') for c in columns)
    for start in range(0, frame.height, chunk_rows):
        # A new table's rowids are 1..n in the order written, so a rowid range is a chunk of the frame.
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {source} FROM {rows} "
            f"WHERE rowid > {start} AND rowid <= {start + chunk_rows}"
        )
        if progress:
            progress(min(chunk_rows, frame.height - start))
