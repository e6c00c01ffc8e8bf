"""A local pool of worker processes that read their own partitions from the store (``FOREWARN_SCHEDULER=pool:N``).

The scanning process sends each worker the ids of one indicator to compute, with its attributes and rebases
(a few rows); the worker reads that indicator's observations from the store itself and sends back the
partition's results (:func:`forewarn.surveillance.partitions.scan_partition`). No partition's observations
are pickled between processes (about 0.35 s of CPU per 1.8M observations, both ends, when the scanning process
read them and sent them on), and the reads of two indicators run beside each other as well as their maths.

Reads: PostgreSQL as binary arrays on a connection of the worker's own (:func:`forewarn.store.columnar.read_frames`);
SQLite through ADBC's driver in the worker itself, a connection of its own to the committed file, as the
scanning process's ADBC reader child does (the worker opens no other SQLite connection, so the two copies of
SQLite that must not share a process never do). Each indicator is read as its own statement, so, as with the
lazy reads of one process, an import that commits during a scan can land between two indicators' reads; the
digests were read before any of them, so the next rescan recomputes what moved.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.parse import quote

import polars as pl
from sqlalchemy import Connection, Engine

from forewarn.store.columnar import ADBC_BATCH_ROWS, ADBC_TYPED, committed_file, read_frame, read_frames
from forewarn.store.database import make_engine
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA
from forewarn.surveillance.partitions import (
    BASELINE_SCHEMA,
    PARTITION_ROWS,
    Partition,
    PartitionResult,
    SpooledResult,
    load_partitions,
    scan_in_pool,
    scan_partition,
    spool_result,
    unspool_result,
)
from forewarn.surveillance.spawn import spool_folder, worker_pool


@dataclass(frozen=True)
class StoreSource:
    """Where a worker reads observations: a committed SQLite file (``sqlite_path``, with the scanning
    connection's busy timeout), or a database URL (PostgreSQL)."""

    url: str
    sqlite_path: str | None = None
    busy_timeout_ms: int = 30_000


@dataclass(frozen=True)
class PartitionTask:
    """One partition for a worker: the indicators whose observations it reads, their attributes and rebases."""

    indicator_ids: tuple[int, ...]
    indicators: pl.DataFrame
    baselines: pl.DataFrame


_ENGINE: Engine | None = None  # a worker's engine for a database URL, made by its first task


def observations_sql(indicator_ids: Collection[int]) -> str:
    """The query of the observations of ``indicator_ids`` (the partition's columns, as ``OBSERVATION_SCHEMA``)."""
    ids = ", ".join(str(int(i)) for i in sorted(indicator_ids)) or "NULL"
    return f"SELECT {', '.join(OBSERVATION_SCHEMA)} FROM observations WHERE indicator_id IN ({ids})"


def _read_sqlite(source: StoreSource, sql: str) -> pl.DataFrame:
    """``sql``'s result (``OBSERVATION_SCHEMA``) read by ADBC's SQLite driver in this process, with the typing
    row that fixes each column's Arrow type (:data:`forewarn.store.columnar.ADBC_TYPED`) first, then dropped."""
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa
    import pyarrow.compute

    literal = {pl.Float64: "0.5", pl.Int64: "0", pl.Date: "'1970-01-01'"}
    typing_row = ", ".join(f"{literal[t]} AS {n}" for n, t in OBSERVATION_SCHEMA.items())
    typed = f"SELECT 1 AS {ADBC_TYPED}, {typing_row} UNION ALL SELECT 0, * FROM ({sql})"
    uri = f"file:{quote(source.sqlite_path or '')}"
    with adbc_driver_sqlite.connect(uri) as db, adbc_driver_manager.AdbcConnection(db) as conn:
        with adbc_driver_manager.AdbcStatement(conn) as statement:
            statement.set_sql_query(f"PRAGMA busy_timeout = {int(source.busy_timeout_ms)}")
            handle, _ = statement.execute_query()
            pa.RecordBatchReader._import_from_c(handle.address).read_all()
        with adbc_driver_manager.AdbcStatement(conn) as statement:
            statement.set_options(
                **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(ADBC_BATCH_ROWS)}
            )
            statement.set_sql_query(typed)
            handle, _ = statement.execute_query()
            table = pa.RecordBatchReader._import_from_c(handle.address).read_all()
    marks = table.column(ADBC_TYPED)
    if table.num_rows == 0 or marks[0].as_py() != 1 or pyarrow.compute.sum(marks).as_py() != 1:
        raise RuntimeError("scan pool: the SQLite read lost its typing row")
    dates = [n for n, t in OBSERVATION_SCHEMA.items() if t == pl.Date]
    table = table.slice(1).drop_columns([ADBC_TYPED])
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    # ISO text to dates (an error on anything else), as the reader child does.
    frame = frame.with_columns(pl.col(n).cast(pl.String).str.to_date("%Y-%m-%d") for n in dates)
    return frame.cast(OBSERVATION_SCHEMA).select(list(OBSERVATION_SCHEMA))  # type: ignore[arg-type]


def read_observations(source: StoreSource, indicator_ids: Collection[int]) -> pl.DataFrame:
    """The observations of ``indicator_ids`` as a worker reads them (see the module's notes)."""
    sql = observations_sql(indicator_ids)
    if source.sqlite_path is not None:
        return _read_sqlite(source, sql)
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = make_engine(source.url)
    with _ENGINE.connect() as conn:
        (frame,) = read_frames(conn, [sql], OBSERVATION_SCHEMA)  # one indicator: binary arrays
        return frame


def _scan_task(
    source: StoreSource, task: PartitionTask, options: ScanOptions, folder: str
) -> SpooledResult | None:
    """A worker's job: read the partition's observations, then :func:`scan_partition` (consuming them), its
    result's frames written to ``folder``; None for indicators without observations (no partition, as in one
    process)."""
    observations = read_observations(source, task.indicator_ids)
    if observations.is_empty():
        return None
    result = scan_partition(Partition(observations, task.indicators, task.baselines), options, consume=True)
    return spool_result(result, folder)


def store_source(conn: Connection) -> StoreSource | None:
    """Where workers read what ``conn`` reads: its committed SQLite file, or its database URL; None where
    only ``conn`` sees it (an in-memory SQLite store, or a transaction that has written)."""
    url = conn.engine.url.render_as_string(hide_password=False)
    if conn.dialect.name != "sqlite":
        return StoreSource(url=url)
    path = committed_file(conn)
    if path is None:
        return None
    timeout = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    return StoreSource(url=url, sqlite_path=str(path), busy_timeout_ms=timeout)


def scan_store_in_pool(
    conn: Connection,
    indicator_ids: Collection[int] | None,
    options: ScanOptions,
    workers: int,
    max_rows: int = PARTITION_ROWS,
) -> list[PartitionResult]:
    """:func:`scan_partition` over every indicator of ``indicator_ids`` (every indicator when None), one
    indicator a task, in ``workers`` spawned processes that read their own observations; results in indicator
    order. The tasks carry the indicators' attributes and rebases, read here once. Where the workers cannot
    see the store (:func:`store_source` is None), this process reads the partitions (``max_rows`` each) and
    sends them (:func:`forewarn.surveillance.partitions.scan_in_pool`)."""
    source = store_source(conn)
    if source is None:
        return scan_in_pool(
            load_partitions(conn, indicator_ids, max_rows=max_rows, lazy=True), options, workers
        )
    where = (
        ""
        if indicator_ids is None
        else f" WHERE id IN ({', '.join(str(int(i)) for i in sorted(indicator_ids)) or 'NULL'})"
    )
    indicators = read_frame(
        conn, f"SELECT id, code, kind, polarity, target FROM indicators{where}", INDICATOR_SCHEMA
    )
    where = "" if indicator_ids is None else where.replace(" id IN", " indicator_id IN")
    baselines = read_frame(
        conn, f"SELECT organisation_id, indicator_id, rebase_from FROM spc_baselines{where}", BASELINE_SCHEMA
    )
    ids = sorted(int(i) for i in indicators["indicator_id"])
    with spool_folder() as folder, worker_pool(workers) as pool:
        futures: list[Future[SpooledResult | None]] = [
            pool.submit(
                _scan_task,
                source,
                PartitionTask(
                    (i,),
                    indicators.filter(pl.col("indicator_id") == i),
                    baselines.filter(pl.col("indicator_id") == i),
                ),
                options,
                folder,
            )
            for i in ids
        ]
        # Read back in order as they come (the files do not pile up while the rest compute).
        return [unspool_result(s) for future in futures if (s := future.result()) is not None]


__all__ = [
    "PartitionTask",
    "StoreSource",
    "read_observations",
    "scan_store_in_pool",
    "store_source",
    "worker_pool",
]
