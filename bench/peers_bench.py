"""Benchmark and simulator check of learning from peers (docs/peers.md): statistical neighbours and positive
deviants on a simulated region, against the simulator's truth, and the time they take.

1. Simulates a region (``forewarn.simulate``) and loads it into a SQLite store (kept under ``--keep``, one folder
   per size and seed, reused by later runs).
2. Neighbour recovery: for every organisation, the share of its k CIPFA-style neighbours (and its outcome-specific
   ones on each directed indicator) that share its type and true deprivation third, against k drawn at random.
3. Deviant precision: over every directed indicator, the distinct organisations listed as positive deviants (by
   level, by sustained improvement) in any organisation's group, and the share truly in the top third of learning
   capacity (level) or of performance gain (improvement), with Wilson intervals.
4. Speed: the neighbours of every organisation of a synthetic 10,000-organisation region, and one organisation's
   neighbours with 200 bootstrap resamples on the loaded region.

Run: .venv/bin/python bench/peers_bench.py [--orgs 2000] [--years 4] [--seed 5] [--k 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from forewarn.domain import Polarity
from forewarn.peers.context import load_context
from forewarn.peers.deviants import deviants_in, neighbour_groups
from forewarn.peers.evaluation import (
    deviant_precision,
    high_capacity,
    neighbour_recovery,
    rising_performance,
    truth_bands,
)
from forewarn.peers.levels import indicator_levels
from forewarn.peers.neighbours import fixed_weights, neighbours_in
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.stats.neighbours import design, nearest
from forewarn.store import migrate
from forewarn.store.database import make_engine, read_connection

LOADED = "loaded.json"


def populate(folder: Path, orgs: int, years: int, seed: int) -> Path:
    marker = folder / LOADED
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("store.db*"):
            old.unlink()
        simulate(folder / "sim", SimulationParameters(n_organisations=orgs, n_years=years, seed=seed))
        engine = make_engine(f"sqlite:///{folder / 'store.db'}")
        migrate.upgrade(engine)
        load(engine, folder / "sim")
        engine.dispose()
        marker.write_text(json.dumps({"orgs": orgs, "years": years, "seed": seed}))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "forewarn-peersbench")
    args = parser.parse_args()
    folder = populate(
        args.keep / f"orgs{args.orgs}-years{args.years}-seed{args.seed}", args.orgs, args.years, args.seed
    )
    out = folder / "sim"
    engine = make_engine(f"sqlite:///{folder / 'store.db'}")
    results: dict[str, object] = {"orgs": args.orgs, "years": args.years, "seed": args.seed, "k": args.k}
    with read_connection(engine) as conn:
        from sqlalchemy import text

        dataset_id = conn.execute(text("SELECT id FROM datasets WHERE code = 'simulated'")).scalar_one()
        codes = list(conn.execute(text("SELECT code FROM indicators ORDER BY code")).scalars())
        polarity: dict[str, str] = dict(
            conn.execute(text("SELECT code, polarity FROM indicators")).tuples().all()
        )
        last = conn.execute(text("SELECT MAX(period_start) FROM observations")).scalar_one()
        import datetime as dt

        as_of = dt.date.fromisoformat(str(last)[:10])
        started = time.perf_counter()
        context = load_context(conn, int(dataset_id), as_of)
        results["context_seconds"] = round(time.perf_counter() - started, 2)
        bands = truth_bands(out, as_of)
        everyone = np.arange(context.n)
        d = design(context.distance_numeric(), context.categorical)
        fixed = nearest(d, fixed_weights(context), args.k)
        results["recovery_fixed"] = neighbour_recovery(context, fixed.index, everyone, bands).to_dict()
        capacity, rising = high_capacity(out), rising_performance(out)
        reports = []
        per_indicator: dict[str, object] = {}
        for code in codes:
            if polarity[code] == Polarity.NEUTRAL.value:
                continue
            started = time.perf_counter()
            levels = indicator_levels(conn, context, code)
            rows = np.flatnonzero(levels.has_level)
            groups, by, r2 = neighbour_groups(context, levels, rows, args.k)
            recovery = neighbour_recovery(context, groups, rows, bands).to_dict()
            report = deviants_in(context, levels, k=args.k)
            reports.append(report)
            per_indicator[code] = {
                "neighbours_by": by,
                "r2_cv": None if r2 is None else round(r2, 3),
                "recovery_ratio": round(float(recovery["ratio"]), 2),
                "share_same": round(float(recovery["share_same"]), 3),
                "level_deviants": len({d.code for g in report.groups for d in g.deviants if d.by_level}),
                "improvement_deviants": len(
                    {d.code for g in report.groups for d in g.deviants if d.by_improvement}
                ),
                "expected_by_chance": round(report.expected_by_chance, 1),
                "level_listings": sum(d.by_level for g in report.groups for d in g.deviants),
                "seconds": round(time.perf_counter() - started, 2),
            }
        results["indicators"] = per_indicator
        results["precision"] = [
            deviant_precision(reports, capacity, basis="level", name="high capacity").to_dict(),
            deviant_precision(reports, capacity, basis="improvement", name="high capacity").to_dict(),
            deviant_precision(reports, rising, basis="improvement", name="rising performance").to_dict(),
            deviant_precision(reports, rising, basis="level", name="rising performance").to_dict(),
        ]
        started = time.perf_counter()
        neighbours_in(
            context, int(context.organisation_id[0]), levels=indicator_levels(conn, context, codes[0])
        )
        results["one_organisation_with_stability_seconds"] = round(time.perf_counter() - started, 2)
    engine.dispose()
    rng = np.random.default_rng(0)
    n = 10_000
    numeric = rng.normal(size=(n, 4))
    categorical = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 9, n)])
    started = time.perf_counter()
    nearest(design(numeric, categorical), np.ones(6), args.k)
    results["all_neighbours_10000_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
