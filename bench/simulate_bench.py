"""Benchmark: ``forewarn simulate --orgs N --years Y [--load]`` as the user runs it, a child process.

Without ``--load`` the simulation is streamed to Parquet; with it (the default here) the files are then imported
into a new store (a SQLite file, or a PostgreSQL database of its own, dropped afterwards). Prints wall time (and
how much of it the simulation itself took, the rest being the start and the load), CPU (user + system of the
process, from ``wait4``; on PostgreSQL also the server's, as ``import_bench.py`` measures it), peak RSS
(``/usr/bin/time -v``, which counts the child alone), indicator rows per second of wall and the machine's load
average at the start and the end (the machine is shared: compare CPU).

Run: ``.venv/bin/python bench/simulate_bench.py [--orgs 50000] [--years 3] [--stores sqlite postgresql] [--no-load]
[--folder DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from import_bench import ServerCpu  # bench/ is the script's folder, on sys.path
from sqlalchemy import create_engine, text

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FOREWARN = Path(sys.executable).with_name("forewarn")


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


def run(url: str, folder: Path, args: argparse.Namespace, load: bool) -> None:
    env = {**os.environ, "FOREWARN_DATABASE_URL": url, "FOREWARN_DATA_DIR": str(folder / "var")}
    subprocess.run([str(FOREWARN), "db", "upgrade"], env=env, check=True, capture_output=True)
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    command = [
        *timer,
        str(FOREWARN),
        "simulate",
        f"--orgs={args.orgs}",
        f"--years={args.years}",
        f"--seed={args.seed}",
        f"--out={folder / 'sim'}",
        "--json",
        *(["--load"] if load else []),
    ]
    watch: ServerCpu | nullcontext[None] = ServerCpu(url) if url.startswith("postgresql") else nullcontext()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, watch as server:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        load_average = os.getloadavg()[0]
        err.seek(0)
        errors = err.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"forewarn simulate failed:\n{errors}")
        out.seek(0)
        summary = json.loads(out.read())
    peaks = [line for line in errors.splitlines() if "Maximum resident set size (kbytes):" in line]
    peak_mb = int(peaks[-1].rsplit(":", 1)[1]) / 1024 if peaks else usage.ru_maxrss / 1024
    rows = int(summary["simulation"]["indicator_rows"])
    simulated = float(summary["simulation"]["seconds"])  # drawing and writing the files, inside the process
    label = url.split(":", 1)[0] if load else "no store"
    server_cpu = f" + server {server.seconds:.1f} s" if server else ""
    print(
        f"simulate --orgs {args.orgs} --years {args.years}{' --load' if load else ''} ({label}): "
        f"{rows:,} indicator rows, wall {wall:.1f} s ({rows / wall:,.0f} rows/s; simulation {simulated:.1f} s of it), "
        f"CPU {usage.ru_utime + usage.ru_stime:.1f} s ({usage.ru_utime:.1f} user + {usage.ru_stime:.1f} sys)"
        f"{server_cpu}, peak RSS {peak_mb:,.0f} MB, load average {load_before:.1f} at the start, "
        f"{load_average:.1f} at the end",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite"])
    parser.add_argument("--no-load", action="store_true", help="simulate to files only")
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where the files and the SQLite store go (default: a temporary one)",
    )
    args = parser.parse_args()
    for kind in args.stores:
        with (
            tempfile.TemporaryDirectory(prefix="forewarn-sim-bench-", dir=args.folder) as tmp,
            store(kind, Path(tmp)) as url,
        ):
            run(url, Path(tmp), args, load=not args.no_load)
        if args.no_load:
            return


if __name__ == "__main__":
    main()
