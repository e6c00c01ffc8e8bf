"""Build the backtest's cases once per seed, then compare models and feature sets on them (docs/risk.md, Results).

``build``: from a store made by ``bench/risk_seed_stores.py`` (the one with pulse waves), the features of every
organisation at every origin (``forewarn.risk.features.origin_features``, as the CLI builds them) plus the
candidate features (:func:`forewarn.risk.features.inspection_due`), the soft features under both survey designs
(the annual wave only, and the annual wave with quarterly pulse waves), the event within the horizon, the new-only
filter and the simulator's latent truth; written to ``cases.parquet`` beside the store.

``compare``: the rolling-origin backtest (``forewarn.risk.backtest.held_out_predictions``) of each variant on those
cases, with the metrics and the paired AUC difference for the soft features, as JSON lines.

    .venv/bin/python bench/risk_variants.py build /tmp/riskacc/seed7
    .venv/bin/python bench/risk_variants.py compare /tmp/riskacc/seed7 --variant base --variant due
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

import polars as pl

from forewarn.risk.backtest import (
    BacktestOptions,
    LabelledCases,
    add_months,
    default_origins,
    held_out_predictions,
)
from forewarn.risk.demo_runs import latent_truth
from forewarn.risk.features import (
    SOFT_PREFIX,
    _soft,
    features_by_origin,
    inspection_due,
    origin_features,
)
from forewarn.risk.history import load_history
from forewarn.risk.metrics import Cases, paired_auc_difference, point_metrics
from forewarn.risk.outcomes import Outcome, failing_at, failures
from forewarn.risk.soft import survey_cells
from forewarn.store.database import make_engine

HORIZON, STEP = 12, 3
ANNUAL_KNOWN_MONTH = 11  # the annual wave is fielded in October and known from November


def build(folder: Path) -> None:
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{folder / 'pulse.db'}")
    cells = survey_cells(engine, min_group_size=5)
    with engine.connect() as conn:
        history = load_history(conn, soft=cells)
    annual = history.__class__(
        **{**history.__dict__, "soft": cells.filter(pl.col("known_on").dt.month() == ANNUAL_KNOWN_MONTH)}
    )
    outcome = Outcome.parse("inspection:inadequate")
    options = BacktestOptions(outcome=outcome, horizon_months=HORIZON, new_only=True, step_months=STEP)
    origins, tests = default_origins(history, options)
    found = failures(history, outcome)
    frames = []
    # Every origin's scans and one-factor estimates from one pass over the observations, as the backtest does.
    scans, factors = features_by_origin(history, origins, read_all=True)
    for origin in origins:
        # soft features from every wave (pulse design)
        at = origin_features(history, origin, scans.pop(origin), factors.pop(origin)).frame
        at = at.rename({c: c.replace(SOFT_PREFIX, "pulse_") for c in at.columns if c.startswith(SOFT_PREFIX)})
        annual_soft = _soft(annual.as_of(origin))
        annual_soft = annual_soft.rename(
            {c: c.replace(SOFT_PREFIX, "annual_") for c in annual_soft.columns if c != "organisation_id"}
        )
        known = history.as_of(origin)
        until = add_months(origin, HORIZON)
        events = (
            found.filter((pl.col("date") > origin) & (pl.col("date") <= until))
            .select("organisation_id")
            .unique()
            .with_columns(pl.lit(True).alias("event"))
        )
        frame = (
            at.join(annual_soft, on="organisation_id", how="left")
            .join(inspection_due(known, origin, HORIZON), on="organisation_id", how="left")
            .join(events, on="organisation_id", how="left")
            .with_columns(pl.col("event").fill_null(False), pl.lit(origin).alias("origin"))
            .filter(pl.col("signal_count").is_not_null())
            .join(failing_at(history, outcome, origin), on="organisation_id", how="anti")
        )
        frames.append(frame)
        print(
            origin,
            frame.height,
            int(frame["event"].sum()),
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    cases = pl.concat(frames, how="diagonal_relaxed")
    codes = dict(history.organisations.select("code", "organisation_id").iter_rows())
    truth = latent_truth(folder / "simulated" / "truth", codes).sort("date")
    joined = cases.select("organisation_id", "origin").join_asof(
        truth.rename({"date": "origin"}), on="origin", by="organisation_id", strategy="backward"
    )
    cases = cases.with_columns(
        joined["score"].alias("latent_truth"), pl.lit(str(tests[0])).alias("first_test")
    )
    cases.write_parquet(folder / "cases.parquet")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"built {cases.height} cases in {time.perf_counter() - started:.0f} s wall, {usage.ru_utime + usage.ru_stime:.0f} s CPU"
    )


def _as_cases(scored: pl.DataFrame, column: str) -> Cases:
    from forewarn.risk.backtest import _as_cases as as_cases

    return as_cases(scored, column)


def predictions(cases: pl.DataFrame, tests: list[dt.date], model: str, features: list[str]) -> pl.DataFrame:
    """Held-out probabilities of one variant: ``logistic`` with C fixed at 0.1, ``logisticcv`` with C chosen by
    time-respecting cross-validation at each test origin, ``boosting``; ``ensemble`` (``ensemblecv``) is the
    mean of the logistic (``logisticcv``) and boosting ones."""
    if model in ("ensemble", "ensemblecv"):
        linear = "logisticcv" if model == "ensemblecv" else "logistic"
        parts = [predictions(cases, tests, m, features) for m in (linear, "boosting")]
        return parts[0].with_columns(
            ((parts[0]["probability"] + parts[1]["probability"]) / 2).alias("probability")
        )
    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"),
        horizon_months=HORIZON,
        new_only=True,
        step_months=STEP,
        model="boosting" if model == "boosting" else "logistic",
        c=None if model == "logisticcv" else 0.1,
    )
    return held_out_predictions(LabelledCases(cases, features), options, tests)


def compare(folder: Path, variants: list[str], n_boot: int) -> None:
    cases = pl.read_parquet(folder / "cases.parquet")
    if (
        "inspection_due" in cases.columns
    ):  # the candidate's log, as the model would enter it (a product of chances)
        cases = cases.with_columns(pl.col("inspection_due").clip(0.01, 1.0).log().alias("due_log"))
    first_test = cases["first_test"][0]
    tests = sorted(o for o in set(cases["origin"].to_list()) if str(o) >= first_test)
    fixed = {"organisation_id", "event", "origin", "latent_truth", "first_test", "inspection_due", "due_log"}
    core = sorted(
        c
        for c in cases.columns
        if c not in fixed and not c.startswith(("pulse_", "annual_", "level", "factor_"))
    )
    for variant in variants:
        started = time.perf_counter()
        model, soft, *extras = variant.split(":")
        extra = [e for e in extras if e]
        design, _, chosen = soft.partition("=")  # pulse=mean+change: only those soft columns
        soft_columns = (
            [
                c
                for c in cases.columns
                if c.startswith(f"{design}_") and (not chosen or c[len(design) + 1 :] in chosen.split("+"))
            ]
            if design != "none"
            else []
        )
        scored = predictions(cases, tests, model, core + extra + soft_columns)
        figures = point_metrics(_as_cases(scored, "probability"))
        out = {
            "seed_folder": str(folder),
            "variant": variant,
            **{k: round(float(v), 4) for k, v in figures.items()},
        }
        if soft_columns:
            without = predictions(cases, tests, model, core + extra)
            joined = scored.select("organisation_id", "origin", "event", "probability").join(
                without.select("organisation_id", "origin", pl.col("probability").alias("without")),
                on=["organisation_id", "origin"],
            )
            delta, ci = paired_auc_difference(
                _as_cases(joined, "probability"),
                _as_cases(joined, "without"),
                n_boot=n_boot,
            )
            out["soft_delta"], out["soft_ci"] = round(delta, 4), [round(ci[0], 4), round(ci[1], 4)]
        truth = point_metrics(_as_cases(scored, "latent_truth"), probability=False)
        out["truth_auc"], out["truth_recall_at_10"] = round(truth["auc"], 4), round(truth["recall_at_10"], 4)
        out["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(out), flush=True)


def baselines(folder: Path) -> None:
    """Today's signal count, the naive mean z, the last grade and the latent truth on the test origins' cases."""
    cases = pl.read_parquet(folder / "cases.parquet")
    first_test = cases["first_test"][0]
    test = cases.filter(pl.col("origin").cast(pl.String) >= first_test)
    for name in ("signal_count", "naive_mean_z", "last_grade", "latent_truth"):
        figures = point_metrics(_as_cases(test, name), probability=False)
        out = {
            k: round(float(v), 4) for k, v in figures.items() if k in ("auc", "recall_at_10", "recall_at_20")
        }
        print(
            json.dumps({"seed_folder": str(folder), "baseline": name, "n_cases": test.height, **out}),
            flush=True,
        )


def levels(folder: Path) -> None:
    """Add the recent-level candidates (:func:`forewarn.risk.levels.recent_levels` over 6, 12 and 24 periods) to
    the saved cases, as ``level6_*``, ``level12_*``, ``level24_*`` (compare them as extras)."""
    from forewarn.risk.levels import recent_levels

    started = time.perf_counter()
    cases = pl.read_parquet(folder / "cases.parquet")
    cases = cases.drop([c for c in cases.columns if c.startswith("level")])
    engine = make_engine(f"sqlite:///{folder / 'pulse.db'}")
    with engine.connect() as conn:
        history = load_history(conn)
    frames = []
    for origin in sorted(set(cases["origin"].to_list())):
        parts = [
            recent_levels(history, origin, periods).rename(
                {"level_z_mean": f"level{periods}_mean", "level_z_worst": f"level{periods}_worst"}
            )
            for periods in (6, 12, 24)
        ]
        frame = parts[0].join(parts[1], on="organisation_id", how="full", coalesce=True)
        frame = frame.join(parts[2], on="organisation_id", how="full", coalesce=True)
        frames.append(frame.with_columns(pl.lit(origin).alias("origin")))
    cases = cases.join(pl.concat(frames), on=["organisation_id", "origin"], how="left")
    cases.write_parquet(folder / "cases.parquet")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"levels in {time.perf_counter() - started:.0f} s wall, {usage.ru_utime + usage.ru_stime:.0f} s CPU"
    )


def latent(folder: Path) -> None:
    """Add the one-factor estimates (:func:`forewarn.risk.latent.latent_by_origin`) to the saved cases, as
    ``factor_*`` (compare them as extras)."""
    from forewarn.risk.latent import latent_by_origin

    started = time.perf_counter()
    cases = pl.read_parquet(folder / "cases.parquet")
    cases = cases.drop([c for c in cases.columns if c.startswith("factor_")])
    engine = make_engine(f"sqlite:///{folder / 'pulse.db'}")
    with engine.connect() as conn:
        history = load_history(conn)
    origins = sorted(set(cases["origin"].to_list()))
    frames = [
        frame.with_columns(pl.lit(origin).alias("origin"))
        for origin, frame in latent_by_origin(history, origins).items()
    ]
    cases = cases.join(
        pl.concat(frames, how="diagonal_relaxed"), on=["organisation_id", "origin"], how="left"
    )
    cases.write_parquet(folder / "cases.parquet")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"latent in {time.perf_counter() - started:.0f} s wall, {usage.ru_utime + usage.ru_stime:.0f} s CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "compare", "baselines", "levels", "latent"])
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="MODEL:SOFT[:EXTRA...], SOFT annual|pulse|none, or DESIGN=NAME+NAME for some soft columns",
    )
    parser.add_argument("--n-boot", type=int, default=300)
    args = parser.parse_args()
    if args.action == "build":
        build(args.folder)
    elif args.action == "levels":
        levels(args.folder)
    elif args.action == "latent":
        latent(args.folder)
    elif args.action == "baselines":
        baselines(args.folder)
    else:
        compare(args.folder, args.variant, args.n_boot)


if __name__ == "__main__":
    main()
