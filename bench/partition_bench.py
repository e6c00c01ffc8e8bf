"""Benchmark: the scan's maths alone on the partitions a scan of a large store computes (no database).

Each indicator of ``scan_bench.py``'s synthetic store (proportions, O/E ratios, rates and means with standard
errors, 2% of observations missing) is made in memory as the partition the scan reads (one indicator each, as
``PARTITION_ROWS`` cuts a store of 50,000 organisations), then :func:`forewarn.surveillance.partitions.scan_partition`
runs over them: one after another in this process (keeping freed memory for the next partition, as the scan
does: :func:`forewarn.surveillance.heap.kept_heap`; ``--default-heap`` without), and with ``--pool N`` also in a pool of N worker processes
(:func:`forewarn.surveillance.partitions.run_partitions` with ``pool:N``). Prints CPU seconds (this process
and its children), wall seconds and peak RSS, and whether the pool's results equal the in-process ones.
``--save F`` / ``--compare F`` write the results to a Parquet folder and report the largest difference of every
float column against an earlier run (another commit's code), to measure last-bit changes of the maths.

``--store URL`` times the scan's reads and maths over a real store's partitions instead (``run_scan``'s paths
without its writes): in this process, and with ``--pool N`` in a pool whose workers read their own partitions
(:mod:`forewarn.surveillance.pool`) and in one fed by this process, with their CPU (children included).

Run: .venv/bin/python bench/partition_bench.py [--orgs 50000] [--indicators 4] [--months 36] [--pool 2]
     .venv/bin/python bench/partition_bench.py --store sqlite:///F --pool 2
     .venv/bin/python bench/partition_bench.py --stream --indicators 20   (36M observations, one at a time)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scan_bench import KINDS, POLARITIES, indicator_frame
from sqlalchemy import Connection

from forewarn.store.database import make_engine
from forewarn.surveillance.heap import keep_heap, kept_heap
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA
from forewarn.surveillance.partitions import (
    BASELINE_SCHEMA,
    Partition,
    PartitionResult,
    SpooledResult,
    load_partitions,
    run_partitions,
    scan_in_pool,
    scan_partition,
    scan_partitions,
    spool_result,
    unspool_result,
)
from forewarn.surveillance.pool import scan_store_in_pool
from forewarn.surveillance.spawn import spool_folder, worker_pool


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children."""
    return sum(system_seconds(kind) for kind in ("user", "system"))


def system_seconds(kind: str) -> float:
    """User or system CPU of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if kind == "user":
        return own.ru_utime + children.ru_utime
    return own.ru_stime + children.ru_stime


def partitions(orgs: int, indicators: int, months: int, seed: int = 1) -> list[Partition]:
    return list(iter_partitions(orgs, indicators, months, seed))


def iter_partitions(orgs: int, indicators: int, months: int, seed: int = 1) -> Iterator[Partition]:
    """The bench's one-indicator partitions, made one at a time."""
    org_ids = np.arange(1, orgs + 1, dtype=np.int64)
    for i in range(indicators):
        kind = KINDS[i % len(KINDS)]
        frame = indicator_frame(org_ids, i + 1, kind, range(months), seed)
        attributes = pl.DataFrame(
            {
                "indicator_id": [i + 1],
                "code": [f"bench{i}"],
                "kind": [kind],
                "polarity": [POLARITIES[i % len(POLARITIES)]],
                "target": [0.8 if kind == "proportion" else None],
            },
            schema=INDICATOR_SCHEMA,
        )
        yield Partition(
            frame.select(list(OBSERVATION_SCHEMA)).cast(OBSERVATION_SCHEMA),  # type: ignore[arg-type]
            attributes,
            pl.DataFrame(schema=BASELINE_SCHEMA),
        )


def stream_runs(orgs: int, indicators: int, months: int) -> list[PartitionResult]:
    """The maths at the issue's size without holding every partition: each one-indicator partition is made,
    scanned (consumed, as the scan does, with the heap kept) and dropped; only its results are kept. CPU counts
    the scans alone."""
    options = ScanOptions()
    cpu = system = wall = 0.0
    n_obs = 0
    results = []
    with kept_heap():
        for partition in iter_partitions(orgs, indicators, months):
            n_obs += partition.observations.height
            c, s, w = cpu_seconds(), system_seconds("system"), time.perf_counter()
            results.append(scan_partition(partition, options, consume=True))
            cpu += cpu_seconds() - c
            system += system_seconds("system") - s
            wall += time.perf_counter() - w
            del partition
    print(
        f"{orgs} x {indicators} x {months}, one partition at a time: {n_obs:,} observations, {cpu:.2f} s CPU "
        f"({cpu / n_obs * 1e6:.3f} us an observation; system {system:.2f} s), {wall:.2f} s wall, peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
        f"{sum(r.status.height for r in results):,} series, {sum(r.signals.height for r in results):,} signals"
    )
    return results


def _scan_file(folder: str, index: int, spool: str) -> tuple[SpooledResult, float, float, float]:
    """A pool worker's task: read partition ``index`` from ``folder`` (as the scan's workers read their own
    partitions) and scan it, consumed; its result (written to ``spool``, as the scan's workers send theirs), the
    CPU of the read and the CPU and wall of the scan alone in this worker."""
    read = time.process_time()
    observations = pl.read_parquet(Path(folder) / f"{index}.parquet")
    indicators = pl.read_parquet(Path(folder) / f"{index}.indicators.parquet")
    partition = Partition(observations, indicators, pl.DataFrame(schema=BASELINE_SCHEMA))
    del observations
    cpu, wall = time.process_time(), time.perf_counter()
    read = cpu - read
    result = scan_partition(partition, ScanOptions(), consume=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return spool_result(result, spool), read, cpu, wall


_BARRIER: Any = None  # a pool worker's barrier, shared by every worker of the pool


def _worker_init(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier
    keep_heap()


def _started(_: int) -> tuple[int, float]:
    """Wait for every worker of the pool (each blocks here, so each takes one of these tasks); the worker's
    pid and its CPU so far (its start: spawn, imports)."""
    cpu = time.process_time()
    _BARRIER.wait()
    return os.getpid(), cpu


def _worker_cpu(_: int) -> tuple[int, float]:
    """The worker's pid and CPU so far (each blocks at the barrier, so each worker takes one of these)."""
    _BARRIER.wait()
    return os.getpid(), time.process_time()


def stream_pool_runs(
    orgs: int, indicators: int, months: int, workers: int, folder: Path
) -> list[PartitionResult]:
    """The same partitions scanned in a pool of ``workers`` spawned processes (heap kept, as the scan's pool
    workers do; :func:`forewarn.surveillance.pool.worker_pool`), each worker reading its partitions from Parquet
    files written here first (untimed; as the scan's pool workers read their own from the store). Prints the
    pool's start (spawn and imports, timed apart), then the wall of the maths over the partitions (reads of the
    Parquet files and results sent back included) and the CPU of this process and the workers, split into the
    workers' start, their Parquet reads, their scans, and the rest (results serialised and sent in the workers,
    received in this process)."""
    n_obs = 0
    for i, partition in enumerate(iter_partitions(orgs, indicators, months)):
        n_obs += partition.observations.height
        partition.observations.write_parquet(folder / f"{i}.parquet", compression="uncompressed")
        partition.indicators.write_parquet(folder / f"{i}.indicators.parquet")
    cpu, wall = cpu_seconds(), time.perf_counter()
    barrier = multiprocessing.get_context("spawn").Barrier(workers)
    with (
        spool_folder(folder) as spool,
        worker_pool(workers, initializer=_worker_init, initargs=(barrier,)) as pool,
    ):
        started = dict(pool.map(_started, range(workers)))  # every worker started
        start_wall = time.perf_counter() - wall
        maths_wall = time.perf_counter()
        own = time.process_time()
        done: list[tuple[PartitionResult, float, float, float]] = []
        for spooled, read, scan, scan_wall in pool.map(
            _scan_file, [str(folder)] * indicators, range(indicators), [spool] * indicators
        ):
            done.append((unspool_result(spooled), read, scan, scan_wall))
        maths_wall = time.perf_counter() - maths_wall
        own_maths = time.process_time() - own
        ended = dict(pool.map(_worker_cpu, range(workers)))
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    results = [r[0] for r in done]
    read_cpu = sum(r[1] for r in done)
    scan_cpu = sum(r[2] for r in done)
    start_cpu = sum(started.values())
    workers_cpu = sum(ended.values())
    rest = workers_cpu - start_cpu - read_cpu - scan_cpu
    print(
        f"pool of {workers} ({len(started)} started before the maths): start {start_wall:.2f} s wall; the maths "
        f"over {indicators} partitions {maths_wall:.2f} s wall ({n_obs:,} observations; Parquet reads and "
        f"results sent back included); {cpu:.2f} s CPU for the pool's whole life with the workers (start "
        f"included), {scan_cpu:.2f} s of it the scans alone ({scan_cpu / n_obs * 1e6:.3f} us an observation); "
        f"{wall:.2f} s wall in all\n"
        f"  CPU of the workers: start {start_cpu:.2f} s, Parquet reads {read_cpu:.2f} s, scans {scan_cpu:.2f} s, "
        f"results serialised and sent {rest:.2f} s; this process while the maths ran (results received) "
        f"{own_maths:.2f} s; per worker: "
        + ", ".join(f"{ended[p] - started[p]:.2f} s" for p in sorted(ended))
        + " from the maths' start to its end"
    )
    return results


def float_differences(before: pl.DataFrame, after: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Per float column: the largest absolute difference and the largest relative one (over |before|)."""
    out = {}
    for name, dtype in before.schema.items():
        if dtype != pl.Float64:
            if not before[name].equals(after[name]):
                out[name] = (float("inf"), float("inf"))
            continue
        a = before[name].to_numpy().astype(float)
        b = after[name].to_numpy().astype(float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            out[name] = (float("inf"), float("inf"))
            continue
        ok = ~np.isnan(a)
        diff = np.abs(a[ok] - b[ok])
        if diff.size and diff.max() > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = np.where(a[ok] != 0, diff / np.abs(a[ok]), diff)
            out[name] = (float(diff.max()), float(relative.max()))
    return out


def _report(label: str, cpu: float, wall: float, n_obs: int) -> None:
    print(
        f"{label}: {cpu:.2f} s CPU with children ({cpu / n_obs * 1e6:.3f} us an observation), {wall:.2f} s wall, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (this process)"
    )


def _rows(results: list[PartitionResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = ["indicator_id", "organisation_id"]
    status = pl.concat([r.status for r in results]).sort(keys)
    signals = pl.concat([r.signals for r in results], how="diagonal_relaxed")
    return status, signals.sort([*keys, "period_start", "method", "rule"], maintain_order=True)


def store_runs(url: str, workers: int, repeat: int) -> None:
    """The scan's reads and maths over a store's partitions (``run_scan``'s paths without its writes): in this
    process (lazy reads through one ADBC child, :func:`scan_partitions`), and with ``workers`` in a pool whose
    workers read their own partitions (:func:`scan_store_in_pool`) and in one fed by this process
    (:func:`scan_in_pool`, the path before). CPU includes the reaped children (reader child, workers)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        n_obs = int(conn.exec_driver_sql("SELECT COUNT(*) FROM observations").scalar_one())
    print(f"{url}: {n_obs:,} observations")
    options = ScanOptions()
    runs: dict[str, Callable[[Connection], list[PartitionResult]]] = {
        "in-process": lambda conn: scan_partitions(load_partitions(conn, lazy=True), options)
    }
    if workers:
        runs[f"pool:{workers}, workers read"] = lambda conn: scan_store_in_pool(conn, None, options, workers)
        runs[f"pool:{workers}, partitions sent"] = lambda conn: scan_in_pool(
            load_partitions(conn, lazy=True), options, workers
        )
    first: tuple[pl.DataFrame, pl.DataFrame] | None = None
    for _ in range(repeat):
        for label, run in runs.items():
            cpu, wall = cpu_seconds(), time.perf_counter()
            with engine.connect() as conn:
                results = run(conn)
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            _report(label, cpu, wall, n_obs)
            rows = _rows(results)
            del results
            if first is None:
                first = rows
            else:
                print(f"  identical to in-process: {rows[0].equals(first[0]) and rows[1].equals(first[1])}")


def _frames(results: list[PartitionResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    status = pl.concat([r.status for r in results])
    signals = pl.concat([r.signals for r in results], how="diagonal_relaxed")
    return status, signals


def save_compare(
    status: pl.DataFrame, signals: pl.DataFrame, save: Path | None, compare: Path | None
) -> None:
    """Write the results to ``save``; compare them with those saved in ``compare`` (every column; the largest
    difference of each float column that differs), and print a digest of each frame (equal digests, equal
    frames)."""
    for name, frame in (("status", status), ("signals", signals)):
        print(f"{name}: {frame.height:,} rows, digest {frame.hash_rows().sum()}")
    if save:
        save.mkdir(parents=True, exist_ok=True)
        status.write_parquet(save / "status.parquet")
        signals.write_parquet(save / "signals.parquet")
    if compare:
        for name, frame in (("status", status), ("signals", signals)):
            before = pl.read_parquet(compare / f"{name}.parquet")
            if before.shape != frame.shape:
                print(f"{name}: shape {before.shape} before, {frame.shape} now")
                continue
            differences = float_differences(before, frame)
            print(f"{name}: {'identical' if not differences else ''}")
            for column, (absolute, relative) in sorted(differences.items()):
                print(f"  {column}: largest difference {absolute:.3g} (relative {relative:.3g})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--indicators", type=int, default=4)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--pool", type=int, default=0, help="also run in a pool of N worker processes")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--mixed", action="store_true", help="every indicator in one partition (a panel of mixed kinds)"
    )
    parser.add_argument(
        "--default-heap",
        action="store_true",
        help="leave glibc's thresholds alone (the scan keeps freed memory for the next partition: heap.kept_heap)",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="make, scan and drop one partition at a time (the issue's size: --indicators 20)",
    )
    parser.add_argument(
        "--store",
        help="a store's URL: time the scan's reads and maths over its partitions instead (in this process, then "
        "with --pool N in a pool whose workers read their own partitions, and in one fed by this process)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="with --stream: also scan the partitions in a pool of N spawned processes (wall and CPU)",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        help="with --workers: where the partitions' Parquet files go (a temporary folder)",
    )
    parser.add_argument(
        "--workers-only",
        action="store_true",
        help="with --stream --workers: skip the in-process run (check the pool's results by --compare instead)",
    )
    parser.add_argument("--save", type=Path, help="write the in-process results (status, signals) here")
    parser.add_argument("--compare", type=Path, help="compare the in-process results with those saved here")
    args = parser.parse_args()
    if args.store:
        store_runs(args.store, args.pool, args.repeat)
        return
    if args.stream:
        frames: tuple[pl.DataFrame, pl.DataFrame] | None = None
        if not (args.workers and args.workers_only):
            frames = _frames(stream_runs(args.orgs, args.indicators, args.months))
        if args.workers:
            with tempfile.TemporaryDirectory(dir=args.folder) as folder:
                pooled = stream_pool_runs(args.orgs, args.indicators, args.months, args.workers, Path(folder))
            pooled_frames = _frames(pooled)
            del pooled
            if frames is None:
                frames = pooled_frames
            else:
                same = pooled_frames[0].equals(frames[0]) and pooled_frames[1].equals(frames[1])
                print(f"  identical to in-process: {same}")
        assert frames is not None  # the in-process run or the pool's
        status, signals = frames
        save_compare(status, signals, args.save, args.compare)
        return
    parts = partitions(args.orgs, args.indicators, args.months)
    if args.mixed:
        parts = [
            Partition(
                pl.concat([p.observations for p in parts]),
                pl.concat([p.indicators for p in parts]),
                pl.DataFrame(schema=BASELINE_SCHEMA),
            )
        ]
    n_obs = sum(p.observations.height for p in parts)
    options = ScanOptions()
    print(
        f"{args.orgs} organisations x {args.indicators} indicators x {args.months} months: {n_obs:,} observations"
    )
    results = []
    for _ in range(args.repeat):
        cpu, system, wall = cpu_seconds(), system_seconds("system"), time.perf_counter()
        with nullcontext() if args.default_heap else kept_heap():
            results = [scan_partition(p, options) for p in parts]
        cpu, system, wall = cpu_seconds() - cpu, system_seconds("system") - system, time.perf_counter() - wall
        print(
            f"in-process: {cpu:.2f} s CPU ({cpu / n_obs * 1e6:.3f} us an observation; system {system:.2f} s), "
            f"{wall:.2f} s wall, "
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    status, signals = _frames(results)
    if args.pool:
        cpu, wall = cpu_seconds(), time.perf_counter()
        pooled = run_partitions(parts, options, f"pool:{args.pool}")
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
        same = pl.concat([r.status for r in pooled]).equals(status) and pl.concat(
            [r.signals for r in pooled], how="diagonal_relaxed"
        ).equals(signals)
        print(
            f"pool of {args.pool}: {cpu:.2f} s CPU (with the workers), {wall:.2f} s wall; identical: {same}"
        )
    save_compare(status, signals, args.save, args.compare)


if __name__ == "__main__":
    main()
