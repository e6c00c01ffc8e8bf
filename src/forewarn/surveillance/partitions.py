"""The scan's per-indicator work as a pure function over partitions: observations in, status and signals out.

A :class:`Partition` holds one or more indicators' observations, attributes and SPC rebases as Polars (Arrow)
frames; :func:`scan_partition` lays them out as a panel and runs every method but the store-wide false-discovery
rate (:func:`forewarn.surveillance.compute.compute_partition`), and returns frames keyed by organisation,
indicator and date, with no index into a panel. Each indicator's results depend on its own data alone, so the
partitions may be cut anywhere between indicators and run anywhere: in this process one after another, or on a
Dask cluster (:func:`run_partitions`, when ``FOREWARN_SCHEDULER`` names a scheduler), where the partitions travel
as Arrow data and no worker needs the database.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import polars as pl
from sqlalchemy import Connection

from forewarn.store.columnar import read_frame, read_frames
from forewarn.surveillance.compute import SurveillanceResult, compute_partition
from forewarn.surveillance.heap import kept_heap
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, Panel, build_panel
from forewarn.surveillance.spawn import spool_folder, spool_frames, unspool_frames, worker_pool
from forewarn.surveillance.storewide import IndicatorPart, ordered_signals

# Observations per partition when the scan runs in one process: indicators are batched up to this size, so many
# small indicators make one panel (few calls into NumPy) and a store of large ones is scanned an indicator at a
# time (the panel of one at a time in memory; one kind of indicator, so change detection works on the panel
# itself rather than on copies of its rows of each kind). Results do not depend on it. 1M: an indicator of
# 50,000 organisations x 36 months (1.8M observations) is a partition of its own, its maths' working set about
# 340 MB (docs/performance.md, "One partition at a time").
PARTITION_ROWS = 1_000_000
KEYS = ("organisation_id", "indicator_id")
STATUS_SCHEMA: dict[str, type[pl.DataType]] = {
    "organisation_id": pl.Int64,
    "indicator_id": pl.Int64,
    "fingerprint": pl.Int64,
    "n_points": pl.Int64,
    "last_period": pl.Date,
    "last_value": pl.Float64,
    "spc_variation": pl.String,
    "spc_assurance": pl.String,
    "spc_mean": pl.Float64,
    "spc_lpl": pl.Float64,
    "spc_upl": pl.Float64,
    "spc_points": pl.String,
    "spc_segments": pl.String,
    "funnel_period": pl.Date,
    "funnel_z": pl.Float64,
    "funnel_p": pl.Float64,
    "funnel_q": pl.Float64,
    "funnel_outlier": pl.Int64,
    "funnel_data_type": pl.String,
    "funnel_ratio": pl.Float64,
    "funnel_denominator": pl.Float64,
    "funnel_lower": pl.Float64,
    "funnel_upper": pl.Float64,
    "funnel_target": pl.Float64,
    "funnel_phi": pl.Float64,
    "funnel_tau2": pl.Float64,
    "cusum_value": pl.Float64,
    "cusum_alarms": pl.Int64,
    "cusum_last_alarm": pl.Date,
    "cusum_current": pl.Int64,
    "trend_slope": pl.Float64,
    "trend_se": pl.Float64,
    "trend_p": pl.Float64,
    "rank": pl.Float64,
    "rank_lower": pl.Float64,
    "rank_upper": pl.Float64,
    "rank_of": pl.Int64,
    "rank_distinguishable": pl.Int64,
}
STATUS_COLUMNS = tuple(c for c in STATUS_SCHEMA if c not in KEYS)
BASELINE_SCHEMA = {"organisation_id": pl.Int64, "indicator_id": pl.Int64, "rebase_from": pl.Date}


@dataclass(frozen=True)
class Partition:
    """One or more indicators' observations (``OBSERVATION_SCHEMA``), attributes (``INDICATOR_SCHEMA``) and
    rebases: everything their scan results depend on but the options."""

    observations: pl.DataFrame
    indicators: pl.DataFrame
    baselines: pl.DataFrame


@dataclass(frozen=True)
class PartitionResult:
    """A partition's status rows (``STATUS_SCHEMA``; ``funnel_q`` and ``funnel_outlier`` still empty), its SPC
    and CUSUM signals keyed by organisation, indicator and ``period_start``, and its indicators' summary parts."""

    status: pl.DataFrame
    signals: pl.DataFrame
    parts: dict[str, IndicatorPart]


def phase_panel(panel: Panel, baselines: pl.DataFrame) -> np.ndarray | None:
    """Rebase segment of every point: how many of its series' rebase dates fall on or before it."""
    if baselines.is_empty():
        return None
    keys = pl.DataFrame(
        {"organisation_id": panel.organisation_id, "indicator_id": panel.indicator_id}
    ).with_row_index("s")
    hits = keys.join(baselines, on=["organisation_id", "indicator_id"])
    phase = np.zeros(panel.value.shape, dtype=np.int64)
    for s, date in zip(
        hits["s"].to_numpy(), hits["rebase_from"].to_numpy().astype("datetime64[D]"), strict=True
    ):
        phase[s] += (panel.period[s] >= date) & ~np.isnat(panel.period[s])
    return np.maximum.accumulate(phase, axis=1)


def period_dates(panel: Panel, series: np.ndarray, t: np.ndarray) -> pl.Series:
    """The period start of each (series, t), null where t < 0 (no such point)."""
    out = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[D]")
    valid = t >= 0
    out[valid] = panel.period[series[valid], t[valid]].astype("datetime64[D]")
    return pl.Series(out, dtype=pl.Date)


def status_rows(panel: Panel, result: SurveillanceResult) -> pl.DataFrame:
    """The rows of ``series_status`` for every series of ``result``: keyed by ids, points in time as dates."""
    status = result.status
    series = status["series"].to_numpy()
    return status.with_columns(
        period_dates(panel, series, status["last_t"].to_numpy()).alias("last_period"),
        period_dates(panel, series, status["funnel_period_t"].to_numpy()).alias("funnel_period"),
        period_dates(panel, series, status["cusum_last_alarm_t"].to_numpy()).alias("cusum_last_alarm"),
    ).select(*KEYS, *STATUS_COLUMNS)


def scan_partition(partition: Partition, options: ScanOptions, *, consume: bool = False) -> PartitionResult:
    """Everything a scan computes for the indicators of ``partition`` before the store-wide steps (a pure
    function: frames in, frames out). With ``consume`` the partition's observation columns are dropped as the
    panel is laid out (the caller holds it for nothing else), so the long frame and the grids are not both kept
    through the maths."""
    panel = build_panel(partition.observations, partition.indicators, consume=consume)
    result = compute_partition(panel, options, phase_panel(panel, partition.baselines))
    status = status_rows(panel, result).cast(STATUS_SCHEMA)  # type: ignore[arg-type]
    series = result.signals["series"].to_numpy()
    signals = ordered_signals(
        result.signals.with_columns(
            pl.Series("organisation_id", panel.organisation_id[series]),
            pl.Series("indicator_id", panel.indicator_id[series]),
            period_dates(panel, series, result.signals["t"].to_numpy()).alias("period_start"),
        ).drop("series", "t")
    )
    parts: dict[str, IndicatorPart] = result.summary["indicators"]  # type: ignore[assignment]
    return PartitionResult(status=status, signals=signals, parts=parts)


def _in_list(column: str, ids: Collection[int] | None) -> str:
    if ids is None:
        return ""
    return f" WHERE {column} IN ({', '.join(str(int(i)) for i in sorted(ids)) or 'NULL'})"


@overload
def load_partitions(
    conn: Connection,
    indicator_ids: Collection[int] | None = None,
    *,
    max_rows: int = PARTITION_ROWS,
    lazy: Literal[False] = False,
) -> list[Partition]: ...


@overload
def load_partitions(
    conn: Connection,
    indicator_ids: Collection[int] | None = None,
    *,
    max_rows: int = PARTITION_ROWS,
    lazy: Literal[True],
) -> Iterator[Partition]: ...


def load_partitions(
    conn: Connection,
    indicator_ids: Collection[int] | None = None,
    *,
    max_rows: int = PARTITION_ROWS,
    lazy: bool = False,
) -> list[Partition] | Iterator[Partition]:
    """The observations, attributes and rebases of ``indicator_ids`` (every indicator when None), read column by
    column, cut into partitions of whole indicators of up to ``max_rows`` observations (an indicator larger
    than that is a partition of its own; ``max_rows=1``: one indicator each). ``lazy``: the same partitions
    read one at a time as they are iterated (:func:`iter_partitions`), so only one is in memory."""
    if lazy:
        return iter_partitions(conn, indicator_ids, max_rows=max_rows)
    observations = read_frame(
        conn,
        f"SELECT {', '.join(OBSERVATION_SCHEMA)} FROM observations{_in_list('indicator_id', indicator_ids)}",
        OBSERVATION_SCHEMA,
        bulk=True,  # SQLite: through ADBC in a child process (docs/performance.md, "Reading observations")
    )
    indicators = read_frame(
        conn,
        f"SELECT id, code, kind, polarity, target FROM indicators{_in_list('id', indicator_ids)}",
        INDICATOR_SCHEMA,
    )
    baselines = read_frame(
        conn,
        f"SELECT organisation_id, indicator_id, rebase_from FROM spc_baselines{_in_list('indicator_id', indicator_ids)}",
        BASELINE_SCHEMA,
    )
    return cut_partitions(observations, indicators, baselines, max_rows)


def iter_partitions(
    conn: Connection, indicator_ids: Collection[int] | None = None, *, max_rows: int = PARTITION_ROWS
) -> Iterator[Partition]:
    """The partitions of :func:`load_partitions` (the same cut), read and yielded one at a time: an indicator's
    observations are one query (:func:`forewarn.store.columnar.read_frames`: on SQLite, one child reads them
    all in turn, the next while the caller computes this one), and indicators are batched in id order until
    the next would take the partition past ``max_rows``. Peak memory is a partition's, not the store's."""
    indicators = read_frame(
        conn,
        f"SELECT id, code, kind, polarity, target FROM indicators{_in_list('id', indicator_ids)}",
        INDICATOR_SCHEMA,
    )
    baselines = read_frame(
        conn,
        f"SELECT organisation_id, indicator_id, rebase_from FROM spc_baselines{_in_list('indicator_id', indicator_ids)}",
        BASELINE_SCHEMA,
    )
    ids = sorted(int(i) for i in indicators["indicator_id"])
    queries = [
        f"SELECT {', '.join(OBSERVATION_SCHEMA)} FROM observations WHERE indicator_id = {i}" for i in ids
    ]
    group: list[pl.DataFrame] = []
    rows = 0

    def partition() -> Partition:
        observations = pl.concat(group) if len(group) > 1 else group[0]
        present = observations["indicator_id"].unique()
        return Partition(
            observations,
            indicators.filter(pl.col("indicator_id").is_in(present)),
            baselines.filter(pl.col("indicator_id").is_in(present)),
        )

    for frame in read_frames(conn, queries, OBSERVATION_SCHEMA):  # indicators: tens, not series
        if frame.is_empty():
            continue
        if group and rows + frame.height > max_rows:
            batch = partition()
            group, rows = [], 0
            yield batch
            del batch
        group.append(frame)
        rows += frame.height
        del frame
    if group:
        batch = partition()
        group.clear()
        yield batch


def cut_partitions(
    observations: pl.DataFrame, indicators: pl.DataFrame, baselines: pl.DataFrame, max_rows: int
) -> list[Partition]:
    """Whole indicators, in id order, batched into partitions of up to ``max_rows`` observations."""
    sizes = observations.group_by("indicator_id").len().sort("indicator_id")
    groups: list[list[int]] = []
    rows = 0
    for indicator_id, count in sizes.iter_rows():  # indicators: tens, not series
        if not groups or rows + count > max_rows:
            groups.append([])
            rows = 0
        groups[-1].append(int(indicator_id))
        rows += int(count)
    if len(groups) == 1:
        return [
            Partition(observations, indicators.filter(pl.col("indicator_id").is_in(groups[0])), baselines)
        ]
    by_indicator = observations.partition_by("indicator_id", as_dict=True)
    return [
        Partition(
            pl.concat([by_indicator[(i,)] for i in group]),
            indicators.filter(pl.col("indicator_id").is_in(group)),
            baselines.filter(pl.col("indicator_id").is_in(group)),
        )
        for group in groups
    ]


POOL_PREFIX = "pool:"


def pool_workers(scheduler: str | None) -> int | None:
    """The worker processes of ``pool:N`` (a local process pool fed one partition at a time), else None.

    >>> pool_workers("pool:2"), pool_workers("local:2"), pool_workers(None)
    (2, None, None)
    """
    if not scheduler or not scheduler.startswith(POOL_PREFIX):
        return None
    workers = int(scheduler.removeprefix(POOL_PREFIX))
    if workers < 1:
        raise ValueError(f"a pool needs at least one worker process; got {scheduler!r}")
    return workers


@dataclass(frozen=True)
class SpooledResult:
    """A :class:`PartitionResult` whose frames a pool worker wrote as files (:func:`spool_result`)."""

    paths: tuple[str, ...]
    parts: dict[str, IndicatorPart]


def spool_result(result: PartitionResult, folder: str) -> SpooledResult:
    """``result`` with its status and signals written as Arrow IPC files in ``folder``, to send back small."""
    return SpooledResult(spool_frames((result.status, result.signals), folder), result.parts)


def unspool_result(spooled: SpooledResult) -> PartitionResult:
    """The :class:`PartitionResult` :func:`spool_result` wrote (its files read and removed)."""
    status, signals = unspool_frames(spooled.paths)
    return PartitionResult(status=status, signals=signals, parts=spooled.parts)


def _scan_consumed(partition: Partition, options: ScanOptions, folder: str) -> SpooledResult:
    """:func:`scan_partition` in a pool worker, which holds its copy of the partition for nothing else; the
    result's frames written to ``folder``."""
    return spool_result(scan_partition(partition, options, consume=True), folder)


def scan_in_pool(
    partitions: Iterable[Partition], options: ScanOptions, workers: int
) -> list[PartitionResult]:
    """:func:`scan_partition` over ``partitions`` in ``workers`` local processes, in order, with at most
    ``workers`` partitions sent and not yet returned: the partitions are read (lazily, :func:`iter_partitions`)
    while others compute, so the maths of one indicator runs beside another's on a second core, and memory
    holds a few partitions, not the store. The workers are spawned (a fork would copy this process's Polars
    thread pool and database connections, which a child cannot use safely) as children of this process, so its
    CPU time as its parent sees it includes theirs."""
    results: list[PartitionResult] = []
    pending: deque[Future[SpooledResult]] = deque()
    with spool_folder() as folder, worker_pool(workers) as pool:
        for partition in partitions:  # partitions: tens, not series
            if len(pending) >= workers:
                results.append(unspool_result(pending.popleft().result()))
            pending.append(pool.submit(_scan_consumed, partition, options, folder))
            del partition
        results.extend(unspool_result(future.result()) for future in pending)
    return results


def scan_partitions(
    partitions: Iterable[Partition], options: ScanOptions, workers: int | None = None
) -> list[PartitionResult]:
    """:func:`scan_partition` over ``partitions`` (read lazily, each consumed as it is laid out): one after
    another in this process, with the memory the maths frees kept for the next partition's arrays
    (:func:`forewarn.surveillance.heap.kept_heap`), or in a pool of ``workers`` processes
    (:func:`scan_in_pool`)."""
    if workers:
        return scan_in_pool(partitions, options, workers)
    with kept_heap():
        return [scan_partition(partition, options, consume=True) for partition in partitions]


def run_partitions(
    partitions: Sequence[Partition], options: ScanOptions, scheduler: str | None = None
) -> list[PartitionResult]:
    """:func:`scan_partition` over every partition: in this process, or on the Dask cluster whose scheduler
    ``scheduler`` names (``tcp://host:8786``; ``local:N`` starts a cluster of N worker processes on this
    machine for the time of the scan; ``pool:N`` runs them in a local process pool, :func:`scan_in_pool`). Workers receive the partitions' frames and the options, never a
    database connection, and send back frames."""
    if not scheduler or not partitions:
        return [scan_partition(p, options) for p in partitions]
    workers = pool_workers(scheduler)
    if workers:
        return scan_in_pool(partitions, options, workers)
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler.startswith("local:"):
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=int(scheduler.removeprefix("local:")),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    client = Client(cluster if cluster is not None else scheduler)  # type: ignore[no-untyped-call]
    try:
        futures = client.map(scan_partition, list(partitions), options=options, pure=False)
        results: list[PartitionResult] = client.gather(futures)  # type: ignore[no-untyped-call]
        return results
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()


__all__ = [
    "PARTITION_ROWS",
    "STATUS_COLUMNS",
    "STATUS_SCHEMA",
    "Partition",
    "PartitionResult",
    "cut_partitions",
    "iter_partitions",
    "load_partitions",
    "period_dates",
    "phase_panel",
    "pool_workers",
    "run_partitions",
    "scan_in_pool",
    "scan_partition",
    "scan_partitions",
    "spool_result",
    "status_rows",
    "unspool_result",
]
