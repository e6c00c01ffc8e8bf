"""Observations that collide with nothing stored, inserted part by part, never all in memory at once.

:func:`forewarn.store.bulk.write_observations` takes a file's observations as one frame and sorts it. An import read
in chunks (:mod:`forewarn.ingest.chunked`) hands them over one indicator at a time instead, in the order of the
indicators' ids, each part sorted by organisation and period: the order of the unique key, so the rows reach the
table, and get their ids, in the order :func:`~forewarn.store.bulk.write_observations` gives them. This is its path
for a file of indicators the store holds no observations of (the first import of a file): straight into the table,
and into an empty table with the secondary indexes (and, on PostgreSQL, the foreign keys) built once after the
load. On SQLite the parts are written into load files that grow (:mod:`forewarn.store.sqlite_segments`) by a
thread while the one before is copied in; on PostgreSQL each is copied in by ``COPY``. Either way the next part is
made (ids, sort, dates as text) in a thread of its own (:func:`forewarn.store.threads.ahead`) while this one is
written: the second core. All in the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager

import polars as pl
from sqlalchemy import Connection, select

from forewarn.store import sqlite_segments
from forewarn.store.bulk import (
    VALUE_COLUMNS,
    Progress,
    _bulk_load,
    _drop_foreign_keys,
    _drop_secondary_indexes,
    _store_is_empty,
    bump_data_versions,
)
from forewarn.store.models import Observation
from forewarn.store.threads import ahead

COLUMNS = ["organisation_id", "indicator_id", "period_start", "period_end", *VALUE_COLUMNS]


def holds_observations(conn: Connection, indicator_ids: Sequence[int]) -> bool:
    """True when the store holds an observation of any of ``indicator_ids``."""
    found = conn.execute(
        select(Observation.id).where(Observation.indicator_id.in_([int(i) for i in indicator_ids])).limit(1)
    ).first()
    return found is not None


def insert_parts(
    conn: Connection,
    parts: Iterable[pl.DataFrame],
    batch_id: int,
    *,
    chunk_rows: int = 100_000,
    progress: Progress | None = None,
) -> int:
    """Insert every row of ``parts`` into ``observations`` as revision 1 of ``batch_id``; returns the rows.

    The caller guarantees that no stored observation shares an indicator with them (:func:`holds_observations`)
    and that the parts come in the order of the unique key (indicator, organisation, period start): one
    indicator each, in the order of their ids, each sorted by organisation and period start."""
    rebuild = [*_drop_secondary_indexes(conn), *_drop_foreign_keys(conn)] if _store_is_empty(conn) else []
    rows = 0
    indicators: set[int] = set()

    def typed() -> Iterator[pl.DataFrame]:
        nonlocal rows
        for part in parts:
            rows += part.height
            indicators.update(int(i) for i in part["indicator_id"].unique())
            yield part.select(COLUMNS).with_columns(
                pl.col("organisation_id", "indicator_id").cast(pl.Int64),
                pl.col(*VALUE_COLUMNS).cast(pl.Float64),
            )

    sqlite = conn.dialect.name == "sqlite"

    def stored() -> Iterator[pl.DataFrame]:
        # On SQLite the dates go to the load file as ISO text (as SQLAlchemy stores them): done here, in the
        # thread that makes the parts, rather than in the writer's.
        for part in typed():
            yield part.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d")) if sqlite else part

    if not sqlite:
        with closing(ahead(stored())) as made:  # its thread stopped at once if a COPY fails
            for part in made:
                frame = part.with_columns(
                    pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"), pl.lit(1).alias("revision")
                )
                _bulk_load(
                    conn, "observations", frame, [*COLUMNS, "batch_id", "revision"], chunk_rows, progress
                )
    else:
        source = ", ".join(f'"{c}"' for c in COLUMNS)

        def copy(staged: str, height: int) -> None:
            for start in range(0, height, chunk_rows):
                # A new table's rowids are 1..n in the order written, so a rowid range is a chunk of the parts.
                conn.exec_driver_sql(
                    f"INSERT INTO observations ({', '.join(COLUMNS)}, batch_id, revision) "
                    f"SELECT {source}, {int(batch_id)}, 1 FROM {staged} "
                    f"WHERE rowid > {start} AND rowid <= {start + chunk_rows}"
                )
                if progress:
                    progress(min(chunk_rows, height - start))

        sqlite_segments.copy_segments(conn, ahead(stored()), copy)
    with sorter_threads(conn, REBUILD_THREADS if sqlite else 0):
        for statement in rebuild:
            conn.exec_driver_sql(statement)
    bump_data_versions(conn, sorted(indicators))
    return rows


REBUILD_THREADS = 1
"""Helper threads SQLite's sorter may use for the rebuild of an index (``PRAGMA threads``): the second core."""


@contextmanager
def sorter_threads(conn: Connection, threads: int) -> Iterator[None]:
    """``PRAGMA threads`` set to ``threads`` on a SQLite connection for the block, then back to what it was (a
    no-op elsewhere, or for 0). Allowed inside a transaction, unlike ``temp_store``."""
    raw = conn.connection.driver_connection if threads else None
    if not isinstance(raw, sqlite3.Connection):
        yield
        return
    before = int(raw.execute("PRAGMA threads").fetchone()[0])
    raw.execute(f"PRAGMA threads = {int(threads)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA threads = {before}")
