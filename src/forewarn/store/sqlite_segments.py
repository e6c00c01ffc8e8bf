"""Parts of an import copied into a SQLite table while the next ones are written: the load file in segments.

:func:`forewarn.store.sqlite_ingest.attach_frame` writes every row into one load file (ADBC, in C) before the
first is copied into the table (SQLite, in C): two passes of about the same CPU, one after the other, on one core
of two. Here the parts go into several load files (segments), written by a thread of their own while the caller's
connection copies the segment before: ADBC's writer and ``sqlite3`` both release the GIL, so the second core
writes while the first copies. Segments grow geometrically (the first holds the first part alone, so the copy
starts early; each next one as many rows as all before it), because the number of parts is not known ahead, and
a transaction may attach at most :data:`SEGMENTS` of them (SQLite attaches ten databases at most; the files stay
attached until the transaction is over, as :mod:`forewarn.store.sqlite_ingest` explains). Rows reach the table in
the order of the parts, as from one file.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path

import polars as pl
from sqlalchemy import Connection

from forewarn.store.adbc_write import write_file
from forewarn.store.sqlite_ingest import SCHEMA, detach, load_folder
from forewarn.store.threads import ahead

PREFIX = f"{SCHEMA}_segment_"
"""Segments are attached as ``forewarn_load_segment_<n>``: :func:`forewarn.store.sqlite_ingest.detach` detaches
them with the load file, after the import's transaction."""
SEGMENTS = 6
"""Segments one transaction may attach."""

__all__ = ["PREFIX", "SEGMENTS", "copy_segments"]


def _write_segments(parts: Iterable[pl.DataFrame], folder: Path, segments: int) -> Iterator[tuple[Path, int]]:
    """Write ``parts`` into at most ``segments`` files in ``folder``, each holding (from the second) about as many
    rows as all the files before it, the last all that remain; yields each file and its rows once written."""
    source = iter(parts)
    try:
        pending = next(source, None)
        written = 0
        n = 0
        while pending is not None:
            target = max(written, 1) if n < segments - 1 else math.inf
            taken = 0

            def segment(target: float) -> Iterator[pl.DataFrame]:
                nonlocal pending, taken
                while pending is not None and (taken == 0 or taken < target):
                    part, pending = pending, None
                    taken += part.height
                    yield part
                    pending = next(source, None)

            path = folder / f"segment-{n}.db"
            write_file(path, segment(target))
            written += taken
            yield path, taken
            n += 1
    finally:
        if isinstance(source, Generator):
            source.close()  # a thread that makes the parts (``ahead``) stops with the writer, even on error


def copy_segments(conn: Connection, parts: Iterable[pl.DataFrame], copy: Callable[[str, int], None]) -> int:
    """Write ``parts`` (frames of one schema, columns as SQLite stores them) into segments, in a thread, and for
    each, once written and attached to ``conn``, call ``copy(table, rows)``: the caller copies its rows (rowids
    1..rows, in the order of the parts) inside its transaction. Returns the rows."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    detach(raw)  # a load file or segments left by an earlier transaction on this pooled connection
    try:
        folder = Path(tempfile.mkdtemp(prefix="forewarn-segments-", dir=load_folder(raw)))
    except OSError:  # the store's folder is read-only to us: the temporary folder
        folder = Path(tempfile.mkdtemp(prefix="forewarn-segments-"))
    rows = 0
    files = ahead(_write_segments(parts, folder, SEGMENTS))
    try:
        for n, (path, height) in enumerate(files):
            name = f"{PREFIX}{n}"
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (str(path),))
            path.unlink()  # read through the open descriptor from now on; the space comes back at the detach
            copy(f"{name}.rows", height)
            rows += height
    finally:
        files.close()  # the writer's thread stopped (after the segment it is writing) before its folder goes
        shutil.rmtree(folder, ignore_errors=True)
    return rows
