"""Appending a Polars frame to a SQLite table inside the caller's open transaction, written from Arrow buffers.

The scan's writes (status rows, packed signals, the keys of rows to delete) went through ``sqlite3``'s
``executemany`` over Python tuples: a Python object made and bound per value, about 7 microseconds of CPU a status
row (30 columns). Here ADBC's SQLite driver (``adbc-driver-sqlite``) writes the frame, in C from its Arrow buffers,
into a new database file of its own, which is attached to the caller's connection, and one ``INSERT ... SELECT``
copies its rows into the table, inside the caller's transaction: nothing reaches the store before the caller
commits, and a rollback leaves nothing. The import does the same (:mod:`forewarn.store.sqlite_ingest`); this module
differs in that a transaction may append several frames (each file is attached under a name of its own) and that
the files are detached after the transaction by :func:`detach_all` (SQLite refuses to detach, inside a
transaction, a database the transaction has read), or, for a caller that does not use :func:`transaction`, by the
next append on the same connection.

Each file is unlinked as soon as it is attached: SQLite reads it through its open descriptor, and the space comes
back when it is detached or the connection closes, even if the process is killed (POSIX). ADBC's driver carries
its own copy of SQLite: it only ever opens the new file, never the store, so the two copies never hold locks on
the same file (see :mod:`forewarn.store.columnar` on why that matters). Figures: ``docs/performance.md``, "The
scan's writes at size".
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

PREFIX = "forewarn_write_"
"""Attached files are named ``forewarn_write_<n>``."""
TABLE = "rows"
MAX_FILES = 6
"""Files one transaction may hold attached (SQLite attaches at most 10 databases by default)."""


def _attached(raw: sqlite3.Connection) -> list[str]:
    return [str(row[1]) for row in raw.execute("PRAGMA database_list") if str(row[1]).startswith(PREFIX)]


def detach_all(raw: sqlite3.Connection) -> None:
    """Detach every file :func:`append` attached to ``raw`` (call it once the transaction is over)."""
    for name in _attached(raw):
        raw.execute(f"DETACH DATABASE {name}")


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()``, and on SQLite the files :func:`append` attached in it detached once it is over (committed
    or rolled back), so the pooled connection goes back as it came."""
    with engine.connect() as conn:
        try:
            with conn.begin():
                yield conn
        finally:
            raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
            if isinstance(raw, sqlite3.Connection):
                detach_all(raw)


def write_file(path: Path, frame: pl.DataFrame | Iterable[pl.DataFrame], chunk_rows: int = 200_000) -> None:
    """``frame`` into table ``rows`` of a new file at ``path``, ``chunk_rows`` at a time (dates as ISO text, as
    SQLAlchemy stores them), so that the text and ADBC's buffers are a chunk's, not the frame's. The scan's
    writes here and the import's load file (:mod:`forewarn.store.sqlite_ingest`) are both written by it.

    ``frame`` may also be frames of one schema, written one after the other as they come (an import read in
    chunks: never all in memory); the first makes the table, even when empty."""
    import adbc_driver_manager
    import adbc_driver_sqlite

    with (
        adbc_driver_sqlite.connect(str(path)) as database,
        adbc_driver_manager.AdbcConnection(database) as connection,
    ):
        with adbc_driver_manager.AdbcStatement(connection) as statement:
            # A throwaway file: no rollback journal and no fsync (a crash loses only the file, never the store).
            for pragma in ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF"):
                statement.set_sql_query(pragma)
                statement.execute_update()
        frames = [frame] if isinstance(frame, pl.DataFrame) else frame
        chunks = (
            (part, start)
            for n, part in enumerate(frames)
            for start in range(0, max(part.height, 1) if n == 0 else part.height, chunk_rows)
        )
        for n, (part, start) in enumerate(chunks):
            mode = (
                adbc_driver_manager.INGEST_OPTION_MODE_CREATE
                if n == 0
                else adbc_driver_manager.INGEST_OPTION_MODE_APPEND
            )
            chunk = part.slice(start, chunk_rows).with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))
            with adbc_driver_manager.AdbcStatement(connection) as statement:
                statement.set_options(
                    **{
                        adbc_driver_manager.StatementOptions.INGEST_TARGET_TABLE.value: TABLE,
                        adbc_driver_manager.StatementOptions.INGEST_MODE.value: mode,
                    }
                )
                # Polars hands its buffers over the Arrow C stream interface: no Python object per value.
                statement.bind_stream(chunk)
                statement.execute_update()
            del chunk


def append(
    conn: Connection, table: str, frame: pl.DataFrame, literals: dict[str, str], chunk_rows: int = 200_000
) -> None:
    """Append every row of ``frame`` to ``table``, in the frame's order: each of the frame's columns from its
    values, except those ``literals`` gives an SQL literal for (a column null or one value throughout); at least
    one column is not a literal. Dates are stored as ISO text; the file is written ``chunk_rows`` at a time."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    for name in _attached(raw):  # files left by an earlier transaction on this pooled connection go; those
        with suppress(
            sqlite3.OperationalError
        ):  # read by the open transaction ("locked") stay until after it
            raw.execute(f"DETACH DATABASE {name}")
    held = _attached(raw)
    if len(held) >= MAX_FILES:
        raise RuntimeError(f"adbc_write: {len(held)} files already attached in this transaction")
    taken = set(held)
    name = next(f"{PREFIX}{n}" for n in range(len(taken) + 1) if f"{PREFIX}{n}" not in taken)
    columns = frame.columns
    bound = [c for c in columns if c not in literals]
    folder = Path(tempfile.mkdtemp(prefix="forewarn-write-"))
    try:
        path = folder / "rows.db"
        write_file(path, frame.select(bound), chunk_rows)
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (str(path),))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    source = ", ".join(literals.get(c, f'"{c}"') for c in columns)
    # A new table's rowids are 1..n in the order written: ORDER BY rowid keeps the frame's order.
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {source} FROM {name}.{TABLE} ORDER BY rowid"
    )
