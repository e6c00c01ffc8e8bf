"""Benchmark: ``forewarn scan`` as the user runs it, a process on a populated store, on SQLite and PostgreSQL.

For each store: a synthetic panel (organisations x indicators x months, proportions, O/E ratios, rates and means
with standard errors, 2% of observations missing) is bulk-loaded through the store's own loader
(``forewarn.store.bulk.write_observations``); then ``forewarn scan`` runs as a subprocess: the first scan, a rescan with
nothing new, ``scan --full`` with nothing new, a rescan after one more month of one indicator, a rescan after that
month for every other indicator, and a rescan with nothing new again. Each line gives the wall
time, the CPU time (user + system) and the peak RSS of the process, and the peak RSS as a multiple of the raw
panel (24 bytes an observation: organisation int32, indicator int16, period int16, numerator and denominator
float64, as in ``surveillance_bench.py``). The maths alone (``compute_surveillance`` on the panel read from the
store) is timed beside it, in this process.

Run: .venv/bin/python bench/scan_bench.py [--orgs 2000] [--indicators 10] [--months 36] [--stores sqlite,postgresql]
     [--scheduler local:2]   (also ``scan --full`` on a Dask cluster: the speed-up and overhead of the Dask path)
The issue's size: --orgs 50000 --indicators 20 --months 36 (36M observations; loading takes several minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, create_engine, text

from forewarn.store import migrate
from forewarn.store.bulk import start_batch, upsert_dataset, upsert_indicators, write_observations
from forewarn.store.database import make_engine

POSTGRES_ADMIN = os.environ.get(
    "FOREWARN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
KINDS = ("proportion", "ratio_oe", "rate", "mean")
POLARITIES = ("higher_is_better", "lower_is_better", "lower_is_better", "neutral")
RAW_BYTES = 4 + 2 + 2 + 8 + 8
FOREWARN = Path(sys.executable).with_name("forewarn")
START = dt.date(2021, 1, 1)


@dataclass(frozen=True)
class Run:
    label: str
    wall: float
    cpu: float
    peak_mb: float
    changed: int
    signals: int
    server_cpu: float | None = None


class ServerCpu:
    """CPU (user + system) of the PostgreSQL backends serving one database while a command runs: a thread reads
    every backend whose title names the database (``postgres: ... <user> <database> <client> ...``) every 0.05 s
    and keeps each one's last reading; backends are separate processes, so a client's ``wait4`` never counts
    them. A backend's CPU after its last reading (at most one interval, at its exit) is missed: a lower bound.
    The server's shared processes (checkpointer, WAL writer, background writer) serve every database on the
    server, this bench's and others', and are not counted."""

    def __init__(self, database: str) -> None:
        import threading

        self.database = database
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        for process in psutil.process_iter(["cmdline"]):
            words = " ".join(process.info["cmdline"] or []).split()
            if len(words) > 3 and words[0] == "postgres:" and self.database in words:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                self.seen[process.pid] = times.user + times.system

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    def __enter__(self) -> ServerCpu:
        self._sample()
        self.before = dict(self.seen)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def month(i: int) -> dt.date:
    return dt.date(START.year + (START.month - 1 + i) // 12, (START.month - 1 + i) % 12 + 1, 1)


def indicator_frame(
    org_ids: np.ndarray, indicator_id: int, kind: str, months: range, seed: int
) -> pl.DataFrame:
    """One indicator's observations over ``months`` (month indices from START), long form, 2% missing."""
    rng = np.random.default_rng([seed, indicator_id])
    n_org, n_t = len(org_ids), len(months)
    size = np.exp(rng.normal(6, 0.7, n_org))[:, None]  # fixed per organisation and indicator (seeded)
    base = rng.normal(0, 0.3, n_org)[:, None]
    rng = np.random.default_rng([seed, indicator_id, months.start])  # the months' own draws
    season = 1 + 0.1 * np.sin(np.asarray(months) / 12 * 2 * np.pi)
    denominator = np.round(size * season[None, :]) + 1
    expected = denominator * 0.05
    standard_error = np.full((n_org, n_t), np.nan)
    if kind == "proportion":
        numerator = rng.binomial(denominator.astype(np.int64), 1 / (1 + np.exp(-(1.5 + base)))).astype(float)
        value = numerator / denominator
    elif kind == "mean":
        value = 50 + 5 * base + rng.normal(0, 10, (n_org, n_t)) / np.sqrt(denominator)
        standard_error = 10 / np.sqrt(denominator)
        numerator = np.full((n_org, n_t), np.nan)
        denominator = np.full((n_org, n_t), np.nan)
        expected = np.full((n_org, n_t), np.nan)
    else:
        numerator = rng.poisson(expected * np.exp(base)).astype(float)
        value = numerator / (expected if kind == "ratio_oe" else denominator)
        if kind == "rate":
            expected = np.full((n_org, n_t), np.nan)
    starts = np.array([month(i) for i in months], dtype="datetime64[D]")
    ends = np.array([month(i + 1) - dt.timedelta(days=1) for i in months], dtype="datetime64[D]")
    keep = rng.random((n_org, n_t)) >= 0.02
    frame = pl.DataFrame(
        {
            "organisation_id": np.repeat(org_ids, n_t),
            "indicator_id": np.full(n_org * n_t, indicator_id, dtype=np.int64),
            "period_start": np.tile(starts, n_org),
            "period_end": np.tile(ends, n_org),
            "numerator": numerator.ravel(),
            "denominator": denominator.ravel(),
            "value": value.ravel(),
            "expected": expected.ravel(),
            "standard_error": np.broadcast_to(standard_error, (n_org, n_t)).ravel(),
        }
    ).filter(pl.Series(keep.ravel()))
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def populate(engine: Engine, orgs: int, indicators: int, months: int, seed: int = 1) -> int:
    """Organisations, indicators and ``months`` months of observations, loaded in bulk; returns observations."""
    total = 0
    with engine.begin() as conn:
        dataset_id = upsert_dataset(conn, "bench", {"name": "Scan benchmark (synthetic)", "simulated": True})
        batch_id = start_batch(
            conn,
            {
                "source_name": "scan_bench",
                "checksum": "bench",
                "mapping_checksum": "bench",
                "imported_by": "bench",
            },
        )
        conn.exec_driver_sql(
            "INSERT INTO organisations (code, name, dataset_id, created_batch_id) VALUES (?, ?, ?, ?)"
            if engine.dialect.name == "sqlite"
            else "INSERT INTO organisations (code, name, dataset_id, created_batch_id) VALUES (%s, %s, %s, %s)",
            [(f"B{i:06d}", f"Bench organisation {i}", dataset_id, batch_id) for i in range(orgs)],
        )
        org_ids = np.sort(
            np.array([r[0] for r in conn.execute(text("SELECT id FROM organisations WHERE code LIKE 'B%'"))])
        )
        ids, _ = upsert_indicators(
            conn,
            [
                {
                    "code": f"bench{i}",
                    "name": f"Bench indicator {i}",
                    "kind": KINDS[i % len(KINDS)],
                    "polarity": POLARITIES[i % len(POLARITIES)],
                    "target": 0.8 if KINDS[i % len(KINDS)] == "proportion" else None,
                    "frequency": "month",
                    "dataset_id": dataset_id,
                }
                for i in range(indicators)
            ],
        )
    for i in range(indicators):
        frame = indicator_frame(org_ids, ids[f"bench{i}"], KINDS[i % len(KINDS)], range(months), seed)
        with engine.begin() as conn:
            write_observations(conn, frame, batch_id)
        total += frame.height
    return total


def add_month(engine: Engine, indicators: range, months: int, seed: int = 1) -> int:
    """One more month (index ``months``) for every series of ``indicators``, through the same loader (the staging
    path)."""
    with engine.begin() as conn:
        org_ids = np.sort(
            np.array([r[0] for r in conn.execute(text("SELECT id FROM organisations WHERE code LIKE 'B%'"))])
        )
        ids: dict[str, int] = dict(
            conn.execute(text("SELECT code, id FROM indicators WHERE code LIKE 'bench%'")).tuples().all()
        )
        batch_id = start_batch(
            conn,
            {
                "source_name": "scan_bench month",
                "checksum": "m",
                "mapping_checksum": "m",
                "imported_by": "bench",
            },
        )
        frame = pl.concat(
            [
                indicator_frame(
                    org_ids, ids[f"bench{i}"], KINDS[i % len(KINDS)], range(months, months + 1), seed
                )
                for i in indicators
            ]
        )
        inserted, _, _ = write_observations(conn, frame, batch_id)
    return inserted


@contextmanager
def store(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"forewarn_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_scan_process(url: str, label: str, *flags: str, scheduler: str | None = None) -> Run:
    """``forewarn scan --json`` as a child process: wall, CPU (user + system) from wait4, and peak RSS.

    The peak comes from ``/usr/bin/time`` when present: Linux counts a forked child's peak from the parent's RSS at
    the fork, so wait4's ``ru_maxrss`` of a child of this (large) process says at least this process's size."""
    database = url.rsplit("/", 1)[1] if url.startswith("postgresql") else None
    env = {**os.environ, "FOREWARN_DATABASE_URL": url}
    env.pop("FOREWARN_SCHEDULER", None)
    if scheduler:
        env["FOREWARN_SCHEDULER"] = scheduler
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        timer = ["/usr/bin/time", "-f", "peak-kb %M"] if Path("/usr/bin/time").exists() else []
        command = [*timer, str(FOREWARN), "scan", "--json", *flags]
        server = ServerCpu(database) if database else None
        if server:
            server.__enter__()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if server:
            server.__exit__()
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"forewarn scan failed:\n{err.read().decode()}")
        out.seek(0)
        payload = json.loads(out.read())
        err.seek(0)
        peaks = [line for line in err.read().decode().splitlines() if line.startswith("peak-kb ")]
        peak_mb = int(peaks[-1].split()[1]) / 1024 if peaks else usage.ru_maxrss / 1024
    return Run(
        label,
        wall,
        usage.ru_utime + usage.ru_stime,
        peak_mb,
        int(payload["series_changed"]),
        int(payload["signals_written"]),
        server.seconds if server else None,
    )


def time_maths(url: str) -> tuple[float, float, float, int]:
    """In this process: the digests a rescan reads first, the panel read and ``compute_surveillance`` alone;
    (digest seconds, read seconds, maths seconds, series)."""
    from forewarn.surveillance.compute import compute_surveillance
    from forewarn.surveillance.fingerprint import indicator_digests
    from forewarn.surveillance.options import ScanOptions
    from forewarn.surveillance.scan import load_panel, phase_panel

    engine = make_engine(url)
    start = time.perf_counter()
    with engine.connect() as conn:
        indicator_digests(conn)
    digest = time.perf_counter() - start
    start = time.perf_counter()
    with engine.connect() as conn:
        panel, baselines = load_panel(conn)
    read = time.perf_counter() - start
    start = time.perf_counter()
    compute_surveillance(panel, ScanOptions(), phase_panel(panel, baselines))
    maths = time.perf_counter() - start
    engine.dispose()
    return digest, read, maths, panel.n_series


SIZED_TABLES = ("signals", "series_status", "series_signals")


def table_sizes(url: str) -> dict[str, float]:
    """MB on disk of the tables holding a scan's results (tables and their indexes), where they exist."""
    engine = make_engine(url)
    out: dict[str, float] = {}
    with engine.connect() as conn:
        for table in SIZED_TABLES:
            if engine.dialect.name == "postgresql":
                size = conn.execute(
                    text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": table}
                ).scalar()
            else:
                size = conn.execute(
                    text(
                        "SELECT sum(pgsize) FROM dbstat WHERE name = :t OR name IN "
                        "(SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = :t)"
                    ),
                    {"t": table},
                ).scalar()
            if size:
                out[table] = size / 2**20
    engine.dispose()
    return out


def empty_scan_tables(engine: Engine) -> None:
    """Scan results emptied, so the next scan is a first scan again."""
    with engine.begin() as conn:
        for table in ("series_signals", "series_status", "scan_fingerprints", "scan_runs"):
            conn.execute(text(f"DELETE FROM {table}"))


def stored_digest(url: str) -> str:
    """MD5 of every stored ``series_status`` and ``series_signals`` row but their ids and scan ids, in key order."""
    engine = make_engine(url)
    digest = hashlib.md5()
    with engine.connect() as conn:
        for table in ("series_status", "series_signals"):
            names = list(conn.execute(text(f"SELECT * FROM {table} LIMIT 0")).keys())
            columns = [c for c in names if c not in ("id", "scan_id")]
            rows = conn.execute(
                text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY indicator_id, organisation_id")
            )
            for row in rows:
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


def report(runs: list[Run], raw_mb: float) -> None:
    for r in runs:
        print(
            f"  {r.label:<34} wall {r.wall:8.1f} s  cpu {r.cpu:8.1f} s  peak RSS {r.peak_mb:8,.0f} MB "
            f"({r.peak_mb / raw_mb:5.1f}x raw)  series changed {r.changed:>10,}  signals written {r.signals:>11,}"
            + (f"  server CPU {r.server_cpu:6.1f} s" if r.server_cpu is not None else ""),
            flush=True,
        )


@contextmanager
def kept_or_temporary(kind: str, args: argparse.Namespace) -> Iterator[str]:
    """The store: a SQLite file kept at ``--store-file`` (reused when it exists), else a temporary one."""
    if args.store_file and kind == "sqlite":
        yield f"sqlite:///{Path(args.store_file).resolve()}"
        return
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder, store(kind, Path(folder)) as url:
        yield url


def bench_store(kind: str, args: argparse.Namespace) -> None:
    with kept_or_temporary(kind, args) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        start = time.perf_counter()
        with engine.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
        # A kept store built by an earlier run is scanned as it is (its scan results emptied first, so the first
        # scan is a first scan again).
        if held:
            empty_scan_tables(engine)
        observations = held or populate(engine, args.orgs, args.indicators, args.months)
        load_seconds = time.perf_counter() - start
        engine.dispose()
        if args.build_only:
            print(f"[{kind}] {observations:,} observations in {url}", flush=True)
            return
        raw_mb = observations * RAW_BYTES / 2**20
        print(
            f"\n[{kind}] {args.orgs:,} organisations x {args.indicators} indicators x {args.months} months: "
            f"{observations:,} observations loaded in {load_seconds:,.1f} s; raw panel {raw_mb:,.0f} MB",
            flush=True,
        )
        runs = [run_scan_process(url, "first scan")]
        sizes = table_sizes(url)
        print(
            "  after the first scan, on disk: "
            + ", ".join(f"{table} {mb:,.1f} MB" for table, mb in sizes.items()),
            flush=True,
        )
        for _ in range(args.repeat):
            runs.append(run_scan_process(url, "rescan, nothing new"))
        if args.quick:  # the first scan and the rescan with nothing new only, for sizes where time is short
            if args.scheduler:  # and the first scan again on the scheduler, which must store the same rows
                stored = stored_digest(url)
                engine = make_engine(url)
                empty_scan_tables(engine)
                engine.dispose()
                runs.append(
                    run_scan_process(url, f"first scan on {args.scheduler}", scheduler=args.scheduler)
                )
                same = stored_digest(url) == stored
                print(
                    f"  first scan on {args.scheduler}: stored rows identical to in-process: {same}",
                    flush=True,
                )
            report(runs, raw_mb)
            return
        runs.append(run_scan_process(url, "scan --full, nothing new", "--full"))
        if args.scheduler:
            # The same work on a Dask cluster: the partitions (one per indicator) on the scheduler's workers.
            runs.append(
                run_scan_process(
                    url, f"scan --full on Dask {args.scheduler}", "--full", scheduler=args.scheduler
                )
            )
        engine = make_engine(url)
        added = add_month(engine, range(1), args.months)
        engine.dispose()
        runs.append(run_scan_process(url, f"rescan, one indicator +1 month (+{added:,})"))
        engine = make_engine(url)
        added = add_month(engine, range(1, args.indicators), args.months)
        engine.dispose()
        runs.append(run_scan_process(url, f"rescan, the others +1 month (+{added:,})"))
        runs.append(run_scan_process(url, "rescan, nothing new"))
        report(runs, raw_mb)
        digest, read, maths, n_series = time_maths(url)
        print(
            f"  maths alone (compute_surveillance, {n_series:,} series): {maths:.1f} s; "
            f"panel read in-process {read:.1f} s; indicator digests (a rescan's first read) {digest:.2f} s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--indicators", type=int, default=10)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--repeat", type=int, default=1, help="rescans with nothing new")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the first scan and the rescan with nothing new; no maths alone",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="also run `scan --full` (with --quick: the first scan again) with FOREWARN_SCHEDULER set to this "
        "(local:2: a Dask cluster of two worker processes here; pool:2: a local pool of two processes)",
    )
    parser.add_argument("--tmp", default=None, help="folder for the SQLite store (default: the system's)")
    parser.add_argument(
        "--store-file",
        default=None,
        help="SQLite only: keep the store at this path and reuse it on later runs (scan results emptied first)",
    )
    parser.add_argument("--build-only", action="store_true", help="build (or check) the store and stop")
    args = parser.parse_args()
    for kind in args.stores.split(","):
        bench_store(kind.strip(), args)


if __name__ == "__main__":
    main()
