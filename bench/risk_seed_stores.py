"""Simulate a region and load it into two SQLite stores: the annual survey only, and with quarterly pulse waves.

Used for docs/risk.md's Results (issue 11's accuracy bar on several seeds, and "do soft measures help?" under the
annual and the annual-plus-pulse survey designs). The two stores hold the same simulated organisations,
indicators, events and annual waves (the pulse waves come from their own random stream, so the rest of the run
is what it is without them); the second also holds the pulse waves.

    .venv/bin/python bench/risk_seed_stores.py --seed 7 --orgs 2000 --years 6 --out /tmp/riskacc
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from forewarn.demo import load_simulated_surveys
from forewarn.ingest.limits import Limits
from forewarn.settings import Settings
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine

PULSE_MONTHS = (1, 4, 7)  # the NHS National Quarterly Pulse Survey's quarters beside the autumn staff survey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--years", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("/tmp/riskacc"))
    args = parser.parse_args()
    folder = args.out / f"seed{args.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    params = SimulationParameters(
        n_organisations=args.orgs, n_years=args.years, seed=args.seed, survey_pulse_months=PULSE_MONTHS
    )
    started = time.perf_counter()
    simulate(folder / "simulated", params, file_format="parquet")
    print(f"simulated in {time.perf_counter() - started:.0f} s", flush=True)
    settings = Settings()
    annual, pulse = folder / "annual.db", folder / "pulse.db"
    for stale in (annual, pulse):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{annual}")
    migrate.upgrade(engine)
    load(engine, folder / "simulated", imported_by="bench", limits=Limits.from_settings(settings))
    # The annual waves only: hide the pulse file while loading them.
    hidden = folder / "simulated" / "survey_pulse_responses.csv"
    parked = folder / "pulse_responses.csv"
    shutil.move(hidden, parked)
    load_simulated_surveys(engine, folder / "simulated", "bench", params.survey_month, min_group_size=5)
    engine.dispose()
    shutil.copyfile(annual, pulse)
    shutil.move(parked, hidden)
    engine = make_engine(f"sqlite:///{pulse}")
    load_simulated_surveys(engine, folder / "simulated", "bench", params.survey_month, min_group_size=5)
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"seed {args.seed}: stores {annual} and {pulse}; {time.perf_counter() - started:.0f} s wall, "
        f"{usage.ru_utime + usage.ru_stime:.0f} s CPU",
        flush=True,
    )


if __name__ == "__main__":
    main()
