"""Neighbours of every council in the bundled public-health data (``data/la_public_health``) by indicator
profile, beside the CIPFA-style ones, with their stability (docs/peers.md, "Councils: neighbours by indicator
profile"). The figures the documentation states come from this script.

1. Imports the bundled file into a fresh SQLite store (in a temporary folder, or ``--keep DIR``).
2. Every council's 12 neighbours by the profile of its earliest 3 periods, all at once
   (:func:`forewarn.peers.profile.profile_agreement`): how many are also in its CIPFA-style (type-only) list,
   the share of the same area type, the Jaccard index with the set from the next 3 periods, and the mean Jaccard
   index under 200 resamples of the indicators, each against the Jaccard index of two random sets.
3. ``forewarn neighbours`` as the command computes it (both lists, 200 resamples each) for a few councils.

Times are CPU (user + sys of this process, which runs no children) and wall, with the peak resident memory.

Run: .venv/bin/python bench/council_profile_bench.py [--k 12] [--replicates 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from forewarn.ingest.importer import import_file
from forewarn.peers.context import load_context, organisation_by_code
from forewarn.peers.neighbours import find_neighbours, fixed_weights
from forewarn.peers.profile import PROFILE_PERIODS, load_profile, profile_agreement
from forewarn.stats.neighbours import design, nearest
from forewarn.store import migrate
from forewarn.store.database import make_engine, read_connection

DATA = Path(__file__).resolve().parents[1] / "data" / "la_public_health"


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="council_profile_"))
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'forewarn.db'}")
    migrate.upgrade(engine)
    import_file(engine, DATA / "la_public_health_indicators.csv", DATA / "mapping.yml")
    print(f"load average: {os.getloadavg()}")
    with read_connection(engine) as conn:
        c0, w0 = cpu(), time.perf_counter()
        _, dataset, _ = organisation_by_code(conn, "E06000001")
        context = load_context(conn, dataset)
        profile = load_profile(conn, context)
        later = load_profile(conn, context, skip=PROFILE_PERIODS)
        fixed = nearest(
            design(context.distance_numeric(), context.categorical), fixed_weights(context), args.k
        )
        agreement = profile_agreement(
            context, fixed.index, profile, later, k=args.k, replicates=args.replicates
        )
        c1, w1 = cpu(), time.perf_counter()
    print(
        f"{context.n} councils; profile of {len(profile.indicators)} indicators "
        f"({', '.join(profile.indicators)}); left out: {', '.join(profile.left_out) or 'none'}"
    )
    print(
        f"with a profile: {int(profile.complete.sum())} (earliest periods), {int(later.complete.sum())} (next); "
        f"in both: {agreement.rows.size}; missing values at the mean among them: "
        f"{int(profile.missing[profile.complete].sum())} of {int(profile.complete.sum()) * len(profile.indicators)}"
    )
    q = np.quantile(agreement.period_jaccard, [0.25, 0.5, 0.75])
    print(
        f"Jaccard with the next {PROFILE_PERIODS} periods' set: mean {agreement.period_jaccard.mean():.3f}, "
        f"quartiles {q[0]:.3f} {q[1]:.3f} {q[2]:.3f}; random sets: {agreement.random_jaccard:.3f}"
    )
    print(
        f"mean Jaccard under {args.replicates} resamples of the indicators: "
        f"mean {agreement.bootstrap_jaccard.mean():.3f}, median {np.median(agreement.bootstrap_jaccard):.3f}"
    )
    types = context.categorical[:, 0]
    shares = np.bincount(types[agreement.rows], minlength=len(context.levels[0])) / agreement.rows.size
    print(
        f"in the CIPFA-style (type-only) list too: mean {agreement.shared_with_fixed.mean():.2f} of {agreement.k}; "
        f"same area type: {agreement.same_category.mean():.1%} (random: {float((shares**2).sum()):.1%})"
    )
    print(
        f"every council at once: {c1 - c0:.2f} s CPU, {w1 - w0:.2f} s wall; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    cpus, walls = [], []
    for code in ("E06000001", "E08000025", "E07000192", "E09000033"):
        with read_connection(engine) as conn:
            c0, w0 = cpu(), time.perf_counter()
            find_neighbours(conn, code, k=args.k, replicates=args.replicates)
            cpus.append(cpu() - c0)
            walls.append(time.perf_counter() - w0)
    print(
        f"forewarn neighbours (both lists, {args.replicates} resamples each), {len(cpus)} councils: "
        f"CPU median {statistics.median(cpus):.2f} s (max {max(cpus):.2f}), wall median {statistics.median(walls):.2f} s"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
