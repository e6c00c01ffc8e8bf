"""Point-in-time replay of the digest on the simulator (docs/peers.md, "Advice that arrives early"): does the digest
name deviants to organisations whose signals drift, before their next inspection?

For each replay date T (every ``--step`` months from ``--first`` months into the data to a year before its end):

1. a copy of the loaded store cut at T: observations from T on, events and context attributes dated T or later,
   and every scan result deleted; then ``run_scan`` over what was known before T;
2. :func:`forewarn.peers.advice.early_advice` for every organisation (context as of T): the organisations the
   digest would write to, and the deviants it would name;
3. from the full store, each organisation's next inspection in the year after T and its grade.

Figures, pooled over the replay dates: of the organisations drifting at T with an inspection in the next year,
the share for which the digest named at least one deviant (its practice to learn from) before that inspection;
of those whose next inspection found failure (inadequate or requires improvement), the share drifting at T, against
the share among those found good or outstanding (how much the drift rule concentrates on future failures); and the
median lead time from T to the inspection. Wilson 95% intervals (organisation-dates are not independent across
dates: read them as indicative).

Run: .venv/bin/python bench/peers_digest_replay.py [--orgs 400] [--years 3] [--seed 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, select

from forewarn.peers import drift
from forewarn.peers.advice import early_advice
from forewarn.store.database import make_engine, read_connection
from forewarn.store.models import Event, Observation, OrganisationAttribute
from forewarn.store.models_surveillance import ScanFingerprint, ScanRun, SeriesSignals, SeriesStatus
from forewarn.surveillance.scan import run_scan

FAILURE = {"inadequate", "requires_improvement"}


def wilson(hits: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    z, p = 1.959963984540054, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def add_months(day: dt.date, months: int) -> dt.date:
    m = day.month - 1 + months
    return dt.date(day.year + m // 12, m % 12 + 1, 1)


def cut_store(source: Path, target: Path, at: dt.date) -> None:
    shutil.copyfile(source, target)
    engine = make_engine(f"sqlite:///{target}")
    with engine.begin() as conn:
        for table in (SeriesSignals, SeriesStatus, ScanFingerprint, ScanRun):
            conn.execute(delete(table))
        conn.execute(delete(Observation).where(Observation.period_start >= at))
        conn.execute(delete(Event).where(Event.date >= at))
        conn.execute(delete(OrganisationAttribute).where(OrganisationAttribute.valid_from >= at))
    run_scan(engine, full=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=400)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--first", type=int, default=12, help="months into the data of the first replay date")
    parser.add_argument("--step", type=int, default=6)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument(
        "--cusum-share", type=float, default=drift.CUSUM_SHARE, help="share of h that counts as rising"
    )
    args = parser.parse_args()
    drift.CUSUM_SHARE = args.cusum_share
    from peers_bench import populate  # the same simulated, loaded store as the peers benchmark

    folder = populate(
        (args.keep or Path(tempfile.mkdtemp())) / f"peers_{args.orgs}_{args.years}_{args.seed}",
        args.orgs,
        args.years,
        args.seed,
    )
    full = make_engine(f"sqlite:///{folder / 'store.db'}")
    with read_connection(full) as conn:
        first_month = min(conn.execute(select(Observation.period_start)).scalars())
        last_month = max(conn.execute(select(Observation.period_start)).scalars())
        inspections = conn.execute(
            select(Event.organisation_id, Event.date, Event.grade).where(Event.kind == "inspection")
        ).all()
    dates = []
    at = add_months(first_month, args.first)
    while add_months(at, 12) <= add_months(last_month, 1):
        dates.append(at)
        at = add_months(at, args.step)
    drifting_inspected = named = 0
    failing = failing_drifting = passing = passing_drifting = 0
    leads: list[int] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for at in dates:
        with tempfile.TemporaryDirectory() as tmp:
            cut = Path(tmp) / "cut.db"
            cut_store(folder / "store.db", cut, at)
            engine = make_engine(f"sqlite:///{cut}")
            with read_connection(engine) as conn:
                advice = early_advice(conn, as_of=at)
            engine.dispose()
        horizon = add_months(at, 12)
        nxt: dict[int, tuple[dt.date, str]] = {}
        for oid, day, grade in inspections:
            if at <= day < horizon and (oid not in nxt or day < nxt[oid][0]):
                nxt[int(oid)] = (day, str(grade))
        for oid, (day, grade) in nxt.items():
            a = advice.get(oid)
            drifting = a is not None and a.drifting
            if grade in FAILURE:
                failing += 1
                failing_drifting += drifting
            else:
                passing += 1
                passing_drifting += drifting
            if drifting:
                drifting_inspected += 1
                if any(i.deviants for i in a.indicators):  # type: ignore[union-attr]
                    named += 1
                    leads.append((day - at).days)
        print(
            f"{at}: {len(advice)} organisations drifting; {len(nxt)} inspected in the next year", flush=True
        )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    leads.sort()
    print(f"replay dates: {[d.isoformat() for d in dates]}")
    lo, hi = wilson(named, drifting_inspected)
    print(
        f"drifting and inspected within a year: {drifting_inspected}; digest named deviants to {named} "
        f"({named / max(drifting_inspected, 1):.1%}, {lo:.1%} to {hi:.1%}); median lead "
        f"{leads[len(leads) // 2] if leads else 'n/a'} days"
    )
    for label, hits, n in (
        ("failing", failing_drifting, failing),
        ("good or outstanding", passing_drifting, passing),
    ):
        lo, hi = wilson(hits, n)
        print(
            f"next inspection {label}: {n}; drifting at T {hits} ({hits / max(n, 1):.1%}, {lo:.1%} to {hi:.1%})"
        )
    print(f"time: {cpu:.1f} s CPU, {wall:.1f} s wall, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
