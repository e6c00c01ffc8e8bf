"""Time what the user runs for a stepped wedge (issue 15): ``forewarn experiment analyse CODE --json`` as a process,
on a SQLite store populated by the simulator, for stepped wedges of several sizes (Hussey & Hughes' mixed model
with period effects over every observation of the outcome). Prints wall and CPU seconds (the child's user + sys),
peak memory, the estimate, and the load average before and after (the machine may be shared).

Run: ``.venv/bin/python bench/experiments_bench.py [--orgs 400] [--years 4] [--sizes 40 120 400]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.registry import ExperimentSpec, create_experiment, start_experiment
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Indicator, Observation, Organisation

FOREWARN = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "forewarn"


def analyse(url: str, code: str) -> tuple[float, float, float, dict[str, Any]]:
    """The analysis as a child process: (wall seconds, CPU seconds, peak RSS MB, the latest result)."""
    env = {**os.environ, "FOREWARN_DATABASE_URL": url}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(FOREWARN), "experiment", "analyse", code, "--json"], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"forewarn experiment analyse failed:\n{err.read().decode()}")
        out.seek(0)
        payload, _ = json.JSONDecoder().raw_decode(out.read().decode())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, payload["results"][-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=400)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[40, 120, 400])
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="forewarn-expbench-"))
    url = f"sqlite:///{folder / 'forewarn.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    simulate(
        folder / "sim", SimulationParameters(n_organisations=args.orgs, n_years=args.years, seed=args.seed)
    )
    load(engine, folder / "sim", imported_by="bench")
    with engine.connect() as conn:
        indicator_id, indicator = conn.execute(
            select(Indicator.id, Indicator.code).order_by(Indicator.code)
        ).first()  # type: ignore[misc]
        codes = [c for (c,) in conn.execute(select(Organisation.code).order_by(Organisation.code))]
        first, last = conn.execute(
            select(func.min(Observation.period_start), func.max(Observation.period_start)).where(
                Observation.indicator_id == indicator_id
            )
        ).one()
    middle = first + (last - first) / 2
    start = dt.date(middle.year, middle.month, 1)
    print(
        f"store: {args.orgs} simulated organisations x {args.years} years; outcome {indicator}; start {start}"
    )
    print("| units | steps | observations | wall s | CPU s (user+sys) | peak RSS MB | estimate (95% CI) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for size in args.sizes:
        code = f"wedge-{size}"
        units = codes[: size - size % args.steps]
        create_experiment(
            engine,
            ExperimentSpec(
                code=code,
                title=f"Stepped wedge of {len(units)}",
                hypothesis="bench",
                outcome_indicator=indicator,
                design="stepped_wedge",
                units=units,
                analysis="hussey_hughes",
                minimum_effect=0.3,
                planned_start=start,
                planned_end=last,
                owner="bench",
            ),
            by="bench",
        )
        allocate_experiment(engine, code, seed=size, steps=args.steps, by="bench")
        start_experiment(engine, code, by="bench")
        wall, cpu, rss, result = analyse(url, code)
        r = result["result"]
        print(
            f"| {len(units)} | {args.steps} | {r['n_observations']} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | "
            f"{r['estimate']:.3f} ({r['ci_low']:.3f} to {r['ci_high']:.3f}) |",
            flush=True,
        )
    after = os.getloadavg()
    print(
        f"\nload average before {before[0]:.1f} {before[1]:.1f} {before[2]:.1f}; after {after[0]:.1f} {after[1]:.1f} {after[2]:.1f}"
    )


if __name__ == "__main__":
    main()
