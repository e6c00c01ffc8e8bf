"""Model and training-design variants of the CLI's backtest on the cases ``bench/risk_variants.py build`` cached
(docs/risk.md, "Accuracy on every seed, third pass").

The cases are built every 3 months; the CLI's origins are every 6 months from the same first origin (every other
cached origin) and its test origins the second half of those. A variant is ``MODEL[+OPTION...]``:

- MODEL: ``lr`` (logistic, C 0.1), ``lrcv`` (C by time-respecting CV at each test origin: the CLI today),
  ``lrcv1`` (C chosen once, from the folds before the first test origin), ``hgb`` (calibrated boosting),
  ``ens`` (mean of ``lrcv1`` and ``hgb`` probabilities).
- ``all``: train on every cached origin (3-monthly), not only the CLI's 6-monthly ones.
- ``grid3``: C from 0.01, 0.03, 0.1 only.
- ``wNN``: the ensemble's weight on the logistic model, in % (50 by default).
- ``sq``, ``fx``, ``hinge``, ``due``: extra columns (the squares of concern-side parts, the one-factor estimate's
  products, hinges at 1, the log chance of an inspection); ``sq`` + ``fx`` became :mod:`forewarn.risk.shapes`.

    .venv/bin/python bench/risk_explore.py /work/scratch/accuracy/stores/seed31 lrcv lrcv1 ens+all
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from forewarn.risk.backtest import _as_cases, add_months, month_numbers
from forewarn.risk.boosting import one_thread
from forewarn.risk.metrics import paired_auc_difference, point_metrics
from forewarn.risk.pipeline import C_GRID, model_pipeline, temporal_c

HORIZON = 12
SEED = 20260101
FIXED = {"organisation_id", "event", "origin", "latent_truth", "first_test", "inspection_due", "due_log"}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fit_predict(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    months: np.ndarray,
    xt: np.ndarray,
    c: float | None,
    grid: tuple[float, ...],
) -> np.ndarray:
    if kind in ("lr", "lrcv", "lrcv1"):
        if c is None:
            c = temporal_c(x, y, months, HORIZON, SEED, grid)
        return np.asarray(model_pipeline("logistic", SEED, c).fit(x, y).predict_proba(xt)[:, 1])
    with one_thread():
        return np.asarray(model_pipeline("boosting", SEED).fit(x, y).predict_proba(xt)[:, 1])


def held_out(
    cases: pl.DataFrame,
    train_origins: list[dt.date],
    tests: list[dt.date],
    columns: list[str],
    variant: str,
    transform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    model, *opts = variant.split("+")
    grid = (0.01, 0.03, 0.1) if "grid3" in opts else C_GRID
    pool = cases if "all" in opts else cases.filter(pl.col("origin").is_in(train_origins))
    once: float | None = None
    out = []
    for origin in tests:
        train = pool.filter(pl.col("origin") <= add_months(origin, -HORIZON))
        test = cases.filter(pl.col("origin") == origin)
        needed = max(20, train.height // 20)
        used = [c for c in columns if train[c].drop_nulls().drop_nans().len() >= needed]
        x, y, xt = train.select(used).to_numpy(), train["event"].to_numpy(), test.select(used).to_numpy()
        months = month_numbers(train["origin"])
        if model == "lr":
            c: float | None = 0.1
        elif model in ("lrcv1", "ens"):
            if once is None:
                once = temporal_c(x, y, months, HORIZON, SEED, grid)
            c = once
        else:
            c = None
        if model == "ens":
            w = next((int(o[1:]) / 100 for o in opts if o.startswith("w")), 0.5)
            p = w * fit_predict("lr", x, y, months, xt, c, grid) + (1 - w) * fit_predict(
                "hgb", x, y, months, xt, c, grid
            )
        else:
            p = fit_predict(model, x, y, months, xt, c, grid)
        out.append(test.with_columns(pl.Series("probability", p)))
    return pl.concat(out, how="diagonal_relaxed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    cases = pl.read_parquet(args.folder / "cases.parquet")
    origins = sorted(set(cases["origin"].to_list()))
    cli_origins = origins[::2]  # every 6 months from the same first origin
    tests = cli_origins[len(cli_origins) // 2 :]
    soft = [c for c in cases.columns if c.startswith("pulse_")]
    core = sorted(c for c in cases.columns if c not in FIXED and not c.startswith(("pulse_", "annual_")))
    pos = {c: pl.col(c).clip(lower_bound=0.0) for c in ("factor_level", "funnel_z_mean", "naive_mean_z")}
    derived = {
        "sq": {f"sq_{c}": e * e for c, e in pos.items()},
        "fx": {
            "fx_trend": pl.col("factor_level") * pl.col("trend_mean"),
            "fx_change": pl.col("factor_level") * pl.col("factor_change"),
            "fx_grade": pl.col("factor_level") * pl.col("last_grade"),
            "fx_months": pl.col("factor_level") * pl.col("months_since_inspection"),
        },
        "due": {"due_log": pl.col("inspection_due").clip(0.01, 1.0).log()},
        "hinge": {f"hinge_{c}": (pl.col(c) - 1.0).clip(lower_bound=0.0) for c in pos},
    }
    for variant in args.variants:
        cpu0 = cpu()
        extra = [name for key in variant.split("+") if key in derived for name in derived[key]]
        added = cases.with_columns(
            **{name: e for key in variant.split("+") if key in derived for name, e in derived[key].items()}
        )
        scored = held_out(added, cli_origins, tests, core + extra + soft, variant)
        without = held_out(added, cli_origins, tests, core + extra, variant)
        figures = point_metrics(_as_cases(scored, "probability"))
        joined = scored.select("organisation_id", "origin", "event", "probability").join(
            without.select("organisation_id", "origin", pl.col("probability").alias("without")),
            on=["organisation_id", "origin"],
        )
        delta, ci = paired_auc_difference(
            _as_cases(joined, "probability"), _as_cases(joined, "without"), n_boot=args.n_boot, seed=SEED
        )
        truth = point_metrics(_as_cases(scored, "latent_truth"), probability=False)
        n_ev = int(scored["event"].sum())
        out = {
            "seed": args.folder.name,
            "variant": variant,
            "auc": round(figures["auc"], 4),
            "r10": round(figures["recall_at_10"], 4),
            "hits10": round(figures["recall_at_10"] * n_ev),
            "need": int(np.ceil(0.65 * n_ev)),
            "bss": round(figures["brier_skill"], 4),
            "soft": round(delta, 4),
            "soft_ci": [round(ci[0], 4), round(ci[1], 4)],
            "truth": [round(truth["auc"], 4), round(truth["recall_at_10"], 4)],
            "n": scored.height,
            "events": n_ev,
            "cpu": round(cpu() - cpu0, 1),
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
