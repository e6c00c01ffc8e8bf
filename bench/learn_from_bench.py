"""The first view of "who to learn from now" on a drifting organisation's page (docs/peers.md): the advice the
panel computes when nothing is kept yet (:func:`forewarn.peers.advice.early_advice` for one organisation, as
``web/pages/learn_from.py`` calls it on a cold page), timed for every organisation of a simulated region in CPU
time (user + sys of this process) beside wall time; ``--profile`` prints where the slowest one spends it.

1. Simulates and loads a region (``bench/peers_bench.py``'s ``populate``, kept under ``--keep``) and scans it
   (once: a marker file in the folder).
2. For every organisation (or the first ``--first N`` in id order), the advice for it alone, from a fresh
   connection, computed whole (as before the populations were kept); then again as the page's first views of
   those organisations in one worker: the populations (context, levels, outcome weights) kept by data version
   (``web/pages/learn_from.kept_population``), starting empty; the two must give the same advice.
3. Every organisation's at once (the digest's call).

Run: .venv/bin/python bench/learn_from_bench.py [--orgs 300] [--years 3] [--seed 5] [--keep DIR] [--first N]
     [--profile]
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

from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_bench import populate

from forewarn.peers.advice import Advice, PopulationRead, early_advice
from forewarn.store.database import make_engine, read_connection
from forewarn.store.models import Organisation
from forewarn.surveillance.scan import run_scan
from forewarn.web.pages.learn_from import kept_population

SCANNED = "scanned.marker"


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def first_views(
    engine: Engine, ids: list[int], population_of: PopulationRead | None
) -> tuple[dict[int, float], dict[int, float], dict[int, Advice]]:
    """Each organisation's advice alone, in turn, from a fresh connection: CPU and wall seconds, and the advice."""
    cpu_times: dict[int, float] = {}
    wall_times: dict[int, float] = {}
    found: dict[int, Advice] = {}
    for oid in ids:
        with read_connection(engine) as conn:
            c0, w0 = cpu(), time.perf_counter()
            advice = early_advice(conn, [oid], population_of=population_of)
            cpu_times[oid], wall_times[oid] = cpu() - c0, time.perf_counter() - w0
        found.update(advice)
    return cpu_times, wall_times, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--first", type=int, default=None, help="only the first N organisations (by id)")
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
    ids = ids[: args.first] if args.first else ids
    print(f"load average: {os.getloadavg()}")
    whole = first_views(engine, ids, None)
    kept = first_views(engine, ids, kept_population)
    assert whole[2] == kept[2], "keeping the populations changed the advice"
    print(f"organisations: {len(ids)}, drifting: {len(whole[2])}")
    for label, (cpu_times, wall_times, _) in (("computed whole", whole), ("populations kept", kept)):
        ordered = sorted(cpu_times[o] for o in whole[2])
        print(
            f"{label}: drifting organisation's first view, CPU s: median {statistics.median(ordered):.3f}, "
            f"p90 {ordered[int(0.9 * (len(ordered) - 1))]:.3f}, max {ordered[-1]:.3f}, "
            f"sum over all {len(ids)} {sum(cpu_times.values()):.2f}; "
            f"wall median {statistics.median(wall_times[o] for o in whole[2]):.3f}"
        )
    cpu_times = whole[0]
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
