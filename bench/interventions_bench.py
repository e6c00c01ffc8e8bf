"""The figures of docs/interventions.md: intervention effects and relapse detection on the simulator, truth known.

1. For one seed, every window: the true effect, the naive before/after and the comparison-group DiD with their
   95% intervals, per arm (development, enforcement).
2. Over several seeds: how often each interval holds the true effect, and the mean error.
3. Relapse detection: alarm rates after withdrawal for organisations that relapse and for those that do not.

Run: ``.venv/bin/python bench/interventions_bench.py [--orgs 2000] [--years 4] [--seeds 1 2 3 ...]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from forewarn.cases.effects import EffectOptions
from forewarn.cases.followup import FollowUpOptions
from forewarn.cases.recovery import effect_recovery, relapse_recovery
from forewarn.simulate import SimulationParameters
from forewarn.simulate.counterfactual import replay
from forewarn.simulate.relapse import RelapseScenario

WINDOWS = ((1, 3), (4, 12), (13, 18))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5, help="the seed of the detailed tables")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6, 7, 8])
    parser.add_argument("--relapse-years", type=int, default=6)
    parser.add_argument("--relapse-seeds", type=int, nargs="*", default=[5, 6])
    parser.add_argument("--skip-effects", action="store_true")
    parser.add_argument("--skip-relapse", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.skip_effects:
        effects(args)
    if not args.skip_relapse:
        relapse(args)
    print(f"\n{time.perf_counter() - started:.0f} s")


def effects(args: argparse.Namespace) -> None:
    params = SimulationParameters(n_organisations=args.orgs, n_years=args.years, seed=args.seed)
    run = replay(params)
    for window in WINDOWS:
        report = effect_recovery(params, run=run, options=EffectOptions(after=window))
        print(f"\nSeed {args.seed}, months {window[0]}..{window[1]} after the start vs months -2..0:\n")
        print(report.table())
    rows: dict[tuple[str, str], list[tuple[float, float, bool, bool]]] = {}
    for seed in args.seeds:
        params = SimulationParameters(n_organisations=args.orgs, n_years=args.years, seed=seed)
        run = replay(params)
        for window in WINDOWS:
            report = effect_recovery(params, run=run, options=EffectOptions(after=window))
            for a in report.arms:
                rows.setdefault((a.arm, f"{window[0]}..{window[1]}"), []).append(
                    (a.naive - a.true_effect, a.did - a.true_effect, a.naive_covers, a.did_covers)
                )
        print(f"seed {seed} done", flush=True)
    print(f"\nOver seeds {', '.join(map(str, args.seeds))}:\n")
    print(
        "| arm | months | naive: mean error | naive: CI holds truth | DiD: mean error | DiD: CI holds truth |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (arm, months), values in sorted(rows.items()):
        v = np.asarray(values, dtype=np.float64)
        print(
            f"| {arm} | {months} | {v[:, 0].mean():+.3f} | {int(v[:, 2].sum())}/{len(v)} | "
            f"{v[:, 1].mean():+.3f} | {int(v[:, 3].sum())}/{len(v)} |"
        )
    allv = np.asarray([x for vs in rows.values() for x in vs], dtype=np.float64)
    if allv.size == 0:
        return
    print(
        f"\nAll: naive holds the truth {int(allv[:, 2].sum())}/{len(allv)}, DiD {int(allv[:, 3].sum())}/{len(allv)}; "
        f"RMSE naive {np.sqrt((allv[:, 0] ** 2).mean()):.3f}, DiD {np.sqrt((allv[:, 1] ** 2).mean()):.3f}"
    )


def relapse(args: argparse.Namespace) -> None:
    for seed in args.relapse_seeds:
        params = SimulationParameters(
            n_organisations=args.orgs, n_years=args.relapse_years, seed=seed, intervention_cooloff_months=24
        )
        report = relapse_recovery(params, RelapseScenario(), options=FollowUpOptions())
        print(
            f"\nRelapse, seed {seed}, {args.orgs} organisations x {args.relapse_years} years, "
            f"intervention_cooloff_months=24, scenario {report.scenario}:\n"
        )
        print(report.table())


if __name__ == "__main__":
    main()
