"""The simulator check over many replicates (issue 15): how often the registry's 95% interval covers a known effect
injected into simulated organisations, and how often it excludes zero (power).

For each simulated population (``forewarn.simulate``, SIMULATED data, a fresh SQLite store), each replicate
registers an experiment on all its organisations, randomises them with its own seed (``allocate_experiment``),
starts it half-way through the data, adds a known effect (``--effect`` SDs of the outcome) to the treated
observations (the intervention arm from the start; for a stepped wedge each unit from its step's crossover), runs
the registry's analysis (``analyse_experiment``, as ``forewarn experiment analyse`` does) and takes the effect out
again. Everything else (trends, seasonality, shocks, inspections) is the simulator's. Coverage is therefore over
re-randomisations and simulated populations. Prints coverage, power, the mean estimate, CPU seconds and the load
average.

Run: ``.venv/bin/python bench/experiments_simulated_coverage.py [--populations 2] [--replicates 50] [--orgs 60]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select, update

from forewarn.experiments.analysis import analyse_experiment, crossover_dates
from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.registry import ExperimentSpec, create_experiment, start_experiment
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Indicator, Observation, Organisation

CASES = {  # analysis: design
    "cluster_robust": "cluster",
    "difference_in_means": "cluster",
    "hussey_hughes": "stepped_wedge",
}


def _shift(engine: Engine, indicator_id: int, starts: dict[int, dt.date], amount: float) -> None:
    """Add ``amount`` to each organisation's observations from its start on."""
    with engine.begin() as conn:
        for start in sorted(set(starts.values())):
            ids = [o for o, s in starts.items() if s == start]
            conn.execute(
                update(Observation)
                .where(
                    Observation.indicator_id == indicator_id,
                    Observation.organisation_id.in_(ids),
                    Observation.period_start >= start,
                )
                .values(value=Observation.value + amount)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--populations", type=int, default=2)
    parser.add_argument("--replicates", type=int, default=50, help="randomisations per population")
    parser.add_argument("--orgs", type=int, default=60)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--effect", type=float, default=0.5, help="in SDs of the outcome")
    parser.add_argument("--analyses", nargs="+", default=list(CASES))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    tally: dict[str, list[tuple[float, float, float, float]]] = {a: [] for a in args.analyses}
    cpu = dict.fromkeys(args.analyses, 0.0)
    for population in range(args.populations):
        folder = Path(tempfile.mkdtemp(prefix="forewarn-simcov-"))
        engine = make_engine(f"sqlite:///{folder / 'forewarn.db'}")
        migrate.upgrade(engine)
        parameters = SimulationParameters(
            n_organisations=args.orgs, n_years=args.years, seed=100 + population
        )
        simulate(folder / "sim", parameters)
        load(engine, folder / "sim", imported_by="bench")
        with engine.connect() as conn:
            indicator_id, indicator = conn.execute(
                select(Indicator.id, Indicator.code).order_by(Indicator.code)
            ).first()  # type: ignore[misc]
            ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
            first, last = conn.execute(
                select(func.min(Observation.period_start), func.max(Observation.period_start)).where(
                    Observation.indicator_id == indicator_id
                )
            ).one()
            values = conn.execute(select(Observation.value).where(Observation.indicator_id == indicator_id))
            sd = float(np.nanstd(np.array([v for (v,) in values], dtype=float)))
        middle = first + (last - first) / 2
        start = dt.date(middle.year, middle.month, 1)
        effect = args.effect * sd
        units = sorted(ids)[: len(ids) - len(ids) % 4]
        for analysis in args.analyses:
            design = CASES[analysis]
            for r in range(args.replicates):
                code = f"{analysis.replace('_', '-')}-{population}-{r}"
                create_experiment(
                    engine,
                    ExperimentSpec(
                        code=code,
                        title=code,
                        hypothesis="bench",
                        outcome_indicator=indicator,
                        design=design,
                        units=units,
                        analysis=analysis,
                        minimum_effect=args.effect,
                        planned_start=start,
                        planned_end=last,
                        owner="bench",
                    ),
                    by="bench",
                )
                steps = 4 if design == "stepped_wedge" else None
                info = allocate_experiment(engine, code, seed=1000 * population + r, steps=steps, by="bench")
                start_experiment(engine, code, by="bench")
                crossover = crossover_dates(info.units.values(), start, last)
                starts = {
                    ids[c]: crossover.get(a, start)
                    for c, a in info.units.items()
                    if a == "intervention" or a in crossover
                }
                _shift(engine, indicator_id, starts, effect)
                began = time.process_time()
                result = analyse_experiment(engine, code, by="bench").results[-1]["result"]
                cpu[analysis] += time.process_time() - began
                _shift(engine, indicator_id, starts, -effect)
                tally[analysis].append((result["estimate"], result["ci_low"], result["ci_high"], effect))
            print(f"population {population}: {analysis} done, load {os.getloadavg()[0]:.1f}", flush=True)
        engine.dispose()
    print(
        f"\n{args.populations} simulated populations x {args.replicates} randomisations; {args.orgs} organisations,"
        f" {args.years} years monthly; effect {args.effect} SD injected; 95% intervals"
    )
    print(
        "| analysis | design | replicates | coverage | power (CI excludes 0) | mean estimate / truth | CPU s each |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for analysis, rows in tally.items():
        a = np.array(rows)
        covered = np.mean((a[:, 1] <= a[:, 3]) & (a[:, 3] <= a[:, 2]))
        power = np.mean((a[:, 1] > 0) | (a[:, 2] < 0))
        ratio = np.mean(a[:, 0] / a[:, 3])
        print(
            f"| {analysis} | {CASES[analysis]} | {len(a)} | {covered:.3f} | {power:.3f} | {ratio:.3f} "
            f"| {cpu[analysis] / len(a):.2f} |"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
