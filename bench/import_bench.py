"""Benchmark: ``forewarn import`` as the user runs it, a child process, on SQLite and PostgreSQL.

A realistic extract: one row per organisation and month with a numerator and a denominator for each of several
proportion indicators (``--indicators``, default 5), as published statistics come. Each store (a SQLite file, a
PostgreSQL database of its own, dropped afterwards) gets three imports, each timed as a process:

1. **first**: months 1 to ``--months`` into an empty store;
2. **populated**: a second extract into that store: the last 12 months again with a quarter of their values
   revised (rows replacing earlier values, the old ones kept as revisions), the rest unchanged, and 12 new months;
3. **repeat**: the same file again (the importer says it has nothing to do).

For each: observations written per second of wall (an observation is one organisation, indicator and month), file
rows per second, CPU (user + system, from ``wait4``; on PostgreSQL also the server's backends for the bench's
database, polled from ``/proc``, and observations per second of client + server CPU), and peak RSS (``/usr/bin/time -f %M``, which counts the
child alone). The machine's load average is printed with each line, because the machine is shared.

Run: ``.venv/bin/python bench/import_bench.py [--orgs 20000] [--months 36] [--indicators 5] [--stores sqlite]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import create_engine, text

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FOREWARN = Path(sys.executable).with_name("forewarn")


def mapping_text(indicators: int) -> str:
    columns = "\n".join(f"  num_{i}: integer\n  den_{i}: integer" for i in range(indicators))
    specs = "\n".join(
        f"  - {{code: bench_ind_{i}, name: Benchmark indicator {i}, kind: proportion, "
        f"polarity: higher_is_better, numerator: num_{i}, denominator: den_{i}}}"
        for i in range(indicators)
    )
    return (
        "version: 1\n"
        "dataset: {code: bench, name: Import benchmark}\n"
        f"columns:\n  period: date\n  org_code: text\n{columns}\n"
        "organisation: {code: org_code}\n"
        "period: {column: period, format: iso, frequency: month}\n"
        f"indicators:\n{specs}\n"
    )


def extract(orgs: int, first_month: int, months: int, indicators: int, seed: int) -> pl.DataFrame:
    """One row per organisation and month; denominators 50-5,000, numerators binomial-ish below them."""
    rng = np.random.default_rng(seed)
    n = orgs * months
    periods = (np.datetime64("2018-01", "M") + first_month + np.arange(months)).astype("datetime64[D]")
    columns: dict[str, object] = {
        "period": np.tile(periods, orgs),
        "org_code": np.repeat(np.char.add("ORG", np.arange(orgs).astype(str)), months),
    }
    for i in range(indicators):
        denominator = rng.integers(50, 5000, n)
        columns[f"num_{i}"] = rng.binomial(denominator, 0.8)
        columns[f"den_{i}"] = denominator
    return pl.DataFrame(columns)


def revision_extract(
    first: pl.DataFrame, orgs: int, months: int, indicators: int, seed: int
) -> tuple[pl.DataFrame, int]:
    """The last 12 months again (a quarter of rows with every numerator changed by one) and 12 new months."""
    last = (np.datetime64("2018-01", "M") + months - 12).astype("datetime64[D]")
    again = first.filter(pl.col("period") >= last)
    revise = pl.Series(np.random.default_rng(seed).random(again.height) < 0.25)
    again = again.with_columns(
        [
            pl.when(revise).then(pl.col(f"num_{i}") - 1).otherwise(pl.col(f"num_{i}"))
            for i in range(indicators)
        ]
    )
    new = extract(orgs, months, 12, indicators, seed + 1)
    return pl.concat([again, new]), int(revise.sum())


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    peak_mb: float
    load: float
    result: dict[str, int]
    server_cpu: float | None = None


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process from ``/proc/PID/stat`` (fields 14 and 15), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU of the PostgreSQL server processes serving one database (its backends, found in ``pg_stat_activity``),
    polled every 50 ms while an import runs: the server's share of an import, which the client's ``wait4`` does
    not see. The bench's database is its own, so no other session's work is counted; what a backend spends after
    the last poll before it exits (at most 50 ms) is lost. Needs the server on this machine."""

    def __init__(self, url: str) -> None:
        self.database = url.rsplit("/", 1)[1]
        self.admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with self.admin.connect() as conn:
            while not self.stop.is_set():
                pids = conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": self.database}
                ).scalars()
                for pid in pids:
                    cpu = _process_cpu(int(pid))
                    if cpu is not None:
                        self.seen[int(pid)] = cpu
                self.stop.wait(0.05)

    def __enter__(self) -> ServerCpu:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.admin.dispose()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def run_import(url: str, label: str, path: Path, mapping: Path) -> Run:
    env = {**os.environ, "FOREWARN_DATABASE_URL": url}
    timer = ["/usr/bin/time", "-f", "peak-kb %M"] if Path("/usr/bin/time").exists() else []
    command = [
        *timer,
        str(FOREWARN),
        "import",
        str(path),
        "--mapping",
        str(mapping),
        "--json",
        "--by",
        "bench",
    ]
    watch: ServerCpu | nullcontext[None] = ServerCpu(url) if url.startswith("postgresql") else nullcontext()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, watch as server:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        load = os.getloadavg()[0]
        err.seek(0)
        errors = err.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"forewarn import failed:\n{errors}")
        out.seek(0)
        result = json.loads(out.read())["result"]
    peaks = [line for line in errors.splitlines() if line.startswith("peak-kb ")]
    peak_mb = int(peaks[-1].split()[1]) / 1024 if peaks else usage.ru_maxrss / 1024
    server_cpu = server.seconds if server else None
    return Run(label, wall, usage.ru_utime + usage.ru_stime, peak_mb, load, result, server_cpu)


def migrate_store(url: str) -> None:
    """``forewarn db upgrade`` first, so that the imports' times hold no migration."""
    env = {**os.environ, "FOREWARN_DATABASE_URL": url}
    subprocess.run([str(FOREWARN), "db", "upgrade"], env=env, check=True, capture_output=True)


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


def report(kind: str, run: Run, file_rows: int, indicators: int) -> None:
    r = run.result
    written = r["observations_inserted"] + r["observations_updated"] + r["observations_unchanged"]
    server = ""
    if run.server_cpu is not None:
        both = run.cpu + run.server_cpu
        server = f" + server {run.server_cpu:5.1f} s = {written / both:>9,.0f} obs/s of CPU"
    elif run.cpu:
        server = f" = {written / run.cpu:>9,.0f} obs/s of CPU"
    print(
        f"{kind:<10} {run.label:<10} {file_rows:>10,} rows {written:>11,} obs "
        f"(+{r['observations_inserted']:,} ~{r['observations_updated']:,} ={r['observations_unchanged']:,})  "
        f"wall {run.wall:6.1f} s = {written / run.wall:>9,.0f} obs/s ({file_rows / run.wall:>8,.0f} rows/s)  "
        f"CPU {run.cpu:6.1f} s{server}  peak {run.peak_mb:6,.0f} MB  load {run.load:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--indicators", type=int, default=5)
    parser.add_argument(
        "--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forewarn-import-bench-") as tmp:
        folder = Path(tmp)
        mapping = folder / "mapping.yml"
        mapping.write_text(mapping_text(args.indicators))
        first = extract(args.orgs, 0, args.months, args.indicators, seed=7)
        second, revised = revision_extract(first, args.orgs, args.months, args.indicators, seed=8)
        first_path, second_path = folder / "first.csv", folder / "second.csv"
        first.write_csv(first_path)
        second.write_csv(second_path)
        print(
            f"extract: {args.orgs:,} organisations x {args.indicators} indicators (numerator, denominator); "
            f"first {first.height:,} rows ({first_path.stat().st_size / 1e6:,.0f} MB), second {second.height:,} "
            f"rows ({revised:,} rows revised, 12 new months); {os.cpu_count()} CPUs",
            flush=True,
        )
        for kind in args.stores:
            with store(kind, folder) as url:
                migrate_store(url)
                report(kind, run_import(url, "first", first_path, mapping), first.height, args.indicators)
                report(
                    kind, run_import(url, "populated", second_path, mapping), second.height, args.indicators
                )
                repeat = run_import(url, "repeat", second_path, mapping)
                print(
                    f"{kind:<10} repeat     wall {repeat.wall:.1f} s, CPU {repeat.cpu:.1f} s (nothing to do)"
                )
            if kind == "sqlite":
                (folder / "bench.db").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
