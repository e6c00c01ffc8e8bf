"""The first view of "who to learn from now" on a drifting organisation's page (docs/peers.md): the advice the
panel computes when nothing is kept yet (:func:`forewarn.peers.advice.early_advice` for one organisation, as
``web/pages/learn_from.py`` calls it on a cold page), timed for every organisation of a simulated region in CPU
time (user + sys of this process) beside wall time; ``--profile`` prints where the slowest one spends it.

1. Simulates and loads a region (``bench/peers_bench.py``'s ``populate``, kept under ``--keep``) and scans it
   (once: a marker file in the folder).
2. For every organisation, the advice for it alone, from a fresh connection; then every organisation's at once.

Run: .venv/bin/python bench/learn_from_bench.py [--orgs 300] [--years 3] [--seed 5] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_bench import populate

from forewarn.peers.advice import early_advice
from forewarn.store.database import make_engine, read_connection
from forewarn.store.models import Organisation
from forewarn.surveillance.scan import run_scan

SCANNED = "scanned.marker"


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="forewarn-learn-from-"))
    folder = populate(
        root / f"orgs{args.orgs}-years{args.years}-seed{args.seed}", args.orgs, args.years, args.seed
    )
    engine = make_engine(f"sqlite:///{folder / 'store.db'}")
    if not (folder / SCANNED).exists():
        started = time.perf_counter()
        run_scan(engine)
        (folder / SCANNED).write_text("scanned")
        print(f"scan: {time.perf_counter() - started:.1f} s wall")
    with read_connection(engine) as conn:
        ids = [int(i) for i in conn.execute(select(Organisation.id).order_by(Organisation.id)).scalars()]
    cpu_times: dict[int, float] = {}
    wall_times: dict[int, float] = {}
    drifting = 0
    for oid in ids:
        with read_connection(engine) as conn:
            c0, w0 = cpu(), time.perf_counter()
            advice = early_advice(conn, [oid])
            cpu_times[oid], wall_times[oid] = cpu() - c0, time.perf_counter() - w0
        drifting += oid in advice
    ordered = sorted(cpu_times.values())
    print(f"organisations: {len(ids)}, drifting: {drifting}")
    print(
        f"one organisation's advice, CPU s: median {statistics.median(ordered):.3f}, "
        f"p90 {ordered[int(0.9 * (len(ordered) - 1))]:.3f}, max {ordered[-1]:.3f}; "
        f"wall median {statistics.median(wall_times.values()):.3f}, max {max(wall_times.values()):.3f}"
    )
    with read_connection(engine) as conn:
        c0, w0 = cpu(), time.perf_counter()
        every = early_advice(conn)
        print(
            f"every organisation's at once: {len(every)} drifting, {cpu() - c0:.2f} s CPU, {time.perf_counter() - w0:.2f} s wall"
        )
    if args.profile:
        worst = max(cpu_times, key=lambda o: cpu_times[o])
        profiler = cProfile.Profile()
        with read_connection(engine) as conn:
            profiler.enable()
            early_advice(conn, [worst])
            profiler.disable()
        print(f"profile of organisation {worst}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    print(f"load average: {os.getloadavg()}")
    engine.dispose()


if __name__ == "__main__":
    main()
