"""Rolling-origin backtest of the risk model, point-in-time, with baselines and the soft-measures question.

At each test origin the model is trained only on cases whose outcome was known by then (origins at least a
horizon earlier), and scores the organisations from what was published by the origin. Figures are pooled over
the test origins with organisation-bootstrap intervals (:mod:`forewarn.risk.metrics`). Beside the model: today's
signal count, a naive mean z, the last grade and, where given, the simulator's latent truth. The same backtest
without the soft features answers "do soft measures help here?".

References
----------
Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and review. Int J Forecasting 16,
437-450 (rolling-origin evaluation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from forewarn.risk.boosting import backtest_explanations, one_thread
from forewarn.risk.features import (
    BASELINES,
    SOFT_PREFIX,
    OriginFeatures,
    features_by_origin,
    origin_features,
)
from forewarn.risk.history import DAYS_A_MONTH, StoreHistory
from forewarn.risk.latent import one_blas_thread
from forewarn.risk.metrics import (
    Cases,
    bootstrap_intervals,
    calibration_by_decile,
    paired_auc_difference,
    point_metrics,
    top_share,
)
from forewarn.risk.outcomes import Outcome, failing_at, failures
from forewarn.risk.pipeline import DEFAULT_C, ModelKind, model_pipeline, temporal_c

if TYPE_CHECKING:
    pass

LEADS = (1, 3, 6, 12, 24)


@dataclass(frozen=True)
class BacktestOptions:
    """What to backtest: the outcome, horizon, origins and model."""

    outcome: Outcome
    horizon_months: int = 12
    new_only: bool = False
    start: dt.date | None = None  # first test origin (default: half-way through the data)
    end: dt.date | None = None  # last test origin (default: the last with a full horizon after it)
    step_months: int = 6
    model: ModelKind = "logistic"
    with_soft: bool = True
    n_boot: int = 300
    # The soft-measures interval decides issue 11's "do soft measures help?", often by a margin of a few ten
    # thousandths of AUC: with 300 replicates its lower end moved by a standard deviation of about 0.0005 with the
    # bootstrap's random seed alone (seed 23 of the simulated region: -0.0005 to +0.0014 over 20 seeds), as much
    # as the margins; 2,000 bring that to about 0.0001 for about 1.5 s more CPU at 2,000 organisations (docs/risk.md,
    # "Every seed, fifth pass").
    soft_n_boot: int = 2000
    seed: int = 20260101
    # The logistic model's C: a number fixes it (the default, 0.1: on the development seeds it did as well as, or
    # better than, choosing it by cross-validation, at no extra fits); None chooses it once, at the first test
    # origin, by time-respecting cross-validation over that origin's training origins
    # (:func:`forewarn.risk.pipeline.temporal_c`).
    c: float | None = DEFAULT_C
    truth: pl.DataFrame | None = field(default=None, compare=False)  # organisation_id, date, score
    # The as-of scans in a pool of this many processes (0: in this process); the results are the same either way
    # (:func:`forewarn.risk.features.features_by_origin`). The command line passes FOREWARN_SCHEDULER's pool:N.
    workers: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.horizon_months < 1 or self.step_months < 1:
            raise ValueError("horizon and step must be at least one month")
        if self.model not in ("logistic", "boosting", "ensemble"):
            raise ValueError(f"model must be logistic, boosting or ensemble; got {self.model!r}")


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_numbers(dates: pl.Series) -> np.ndarray:
    """Dates as month numbers, ``year * 12 + month - 1`` (so that ``add_months`` is an addition)."""
    return (dates.dt.year().cast(pl.Int64) * 12 + dates.dt.month().cast(pl.Int64) - 1).to_numpy()


@dataclass(frozen=True)
class LabelledCases:
    frame: pl.DataFrame  # organisation_id, origin, event, features..., baselines...
    features: list[str]


def labelled_cases(
    history: StoreHistory, options: BacktestOptions, origins: list[dt.date], found: pl.DataFrame
) -> LabelledCases:
    frames = []
    features: set[str] = set()
    # The as-of scans at every origin in one pass over the observations (a batch of indicators at a time); the
    # pass reads every observation, so that the data version stored with the backtest needs no second read.
    # The one-factor estimates of lasting performance come from the same pass (each batch read once).
    scans, factors = features_by_origin(history, origins, read_all=True, workers=options.workers)
    for origin in origins:  # tens of origins, each vectorised over organisations
        at: OriginFeatures = origin_features(history, origin, scans.pop(origin), factors.pop(origin))
        until = add_months(origin, options.horizon_months)
        events = (
            found.filter((pl.col("date") > origin) & (pl.col("date") <= until))
            .select("organisation_id")
            .unique()
            .with_columns(pl.lit(True).alias("event"))
        )
        frame = at.frame.join(events, on="organisation_id", how="left").with_columns(
            pl.col("event").fill_null(False), pl.lit(origin).alias("origin")
        )
        frame = frame.filter(pl.col("signal_count").is_not_null())  # organisations with data at the origin
        if options.new_only:
            frame = frame.join(failing_at(history, options.outcome, origin), on="organisation_id", how="anti")
        features.update(at.feature_columns)
        frames.append(frame)
    frame = pl.concat(frames, how="diagonal_relaxed")
    chosen = sorted(f for f in features if options.with_soft or not f.startswith(SOFT_PREFIX))
    return LabelledCases(frame, chosen)


def held_out_predictions(
    cases: LabelledCases,
    options: BacktestOptions,
    test_origins: list[dt.date],
    explain: Callable[[Any, list[str], pl.DataFrame], None] | None = None,
) -> pl.DataFrame:
    """Predicted probability for every case at the test origins, each from a model trained on the cases known by
    then. ``explain`` is given each origin's fitted model, its columns and its test cases (the hook for
    explanations: :func:`forewarn.risk.boosting.backtest_explanations`)."""
    out = []
    columns = [c for c in cases.features if c in cases.frame.columns]
    # C is chosen once, from the first test origin's training cases (known at that origin, so at every later
    # one): choosing it again at each origin cost 15 more logistic fits an origin and, on the development seeds,
    # chose the same value (docs/risk.md, "Accuracy on every seed, third pass").
    chosen_c = options.c
    for origin in test_origins:
        train = cases.frame.filter(pl.col("origin") <= add_months(origin, -options.horizon_months))
        test = cases.frame.filter(pl.col("origin") == origin)
        if test.is_empty() or train.is_empty() or train["event"].sum() < 2 or train["event"].all():
            continue
        # Features few had before this origin (e.g. a survey not yet run) carry too little to learn from, and a
        # column empty in one calibration fold stops gradient boosting.
        needed = max(20, train.height // 20)
        used = [c for c in columns if train[c].drop_nulls().drop_nans().len() >= needed]
        x, y = train.select(used).to_numpy(), train["event"].to_numpy()
        if options.model != "boosting" and chosen_c is None:
            chosen_c = temporal_c(x, y, month_numbers(train["origin"]), options.horizon_months, options.seed)
        c = DEFAULT_C if chosen_c is None else chosen_c
        model = model_pipeline(options.model, options.seed, c)
        # Boosting's OpenMP on one thread, whoever runs the backtest (see forewarn.risk.boosting.one_thread), and
        # BLAS on one thread for every model (forewarn.risk.latent.one_blas_thread): the logistic fits' L-BFGS
        # products on two OpenBLAS threads spun while waiting for each other, half the fits' CPU on a busy
        # machine. The probabilities move in the last bits (about 1e-13; docs/risk.md, "fourth pass").
        with one_blas_thread(), one_thread() if options.model != "logistic" else nullcontext():
            model.fit(x, y)
            probability = model.predict_proba(test.select(used).to_numpy())[:, 1]
        out.append(test.with_columns(pl.Series("probability", probability)))
        if explain is not None:
            explain(model, used, test)
    if not out:
        raise ValueError(
            "no test origin had a training set with failures before it: widen --from/--to or use a shorter horizon"
        )
    return pl.concat(out, how="diagonal_relaxed")


def _as_cases(scored: pl.DataFrame, column: str) -> Cases:
    origin_codes = scored["origin"].cast(pl.Int64).to_numpy()
    values = scored[column].fill_null(scored[column].median() if scored[column].drop_nulls().len() else 0.0)
    return Cases.of(scored["organisation_id"], origin_codes, values.fill_nan(0.0), scored["event"])


def _summary(cases: Cases, options: BacktestOptions, probability: bool) -> dict[str, Any]:
    figures = point_metrics(cases, probability)
    intervals = bootstrap_intervals(cases, probability=probability, n_boot=options.n_boot, seed=options.seed)
    out: dict[str, Any] = {
        "auc": figures["auc"],
        "auc_ci": list(intervals["auc"]),
        "brier": figures.get("brier"),
        "brier_skill": figures.get("brier_skill"),
        "recall_at_10": figures["recall_at_10"],
        "recall_at_20": figures["recall_at_20"],
        "precision_at_10": figures["precision_at_10"],
        "precision_at_20": figures["precision_at_20"],
        "n_cases": int(figures["n_cases"]),
        "n_events": int(figures["n_events"]),
    }
    return out


def _lead_time(
    scored: pl.DataFrame, found: pl.DataFrame, column: str
) -> tuple[dict[str, float | None], float | None]:
    """Share of failures in the riskiest 10% at each lead before them, and the median months from the first
    origin that flagged an organisation (within 24 months before its failure) to the failure."""
    origins = scored["origin"].cast(pl.Int64).to_numpy()
    top = top_share(scored[column].fill_null(-np.inf).to_numpy(), origins, 0.1)
    flagged = scored.select("organisation_id", "origin").with_columns(pl.Series("top", top))
    pairs = (
        flagged.join(found, on="organisation_id")
        .with_columns(((pl.col("date") - pl.col("origin")).dt.total_days() / DAYS_A_MONTH).alias("lead"))
        .filter((pl.col("lead") > 0) & (pl.col("lead") <= max(LEADS)))
    )
    curve: dict[str, float | None] = {}
    low = 0.0
    for lead in LEADS:
        window = pairs.filter((pl.col("lead") > low) & (pl.col("lead") <= lead))
        curve[str(lead)] = float(window["top"].mean()) if window.height else None  # type: ignore[arg-type]
        low = float(lead)
    first_flag = pairs.filter(pl.col("top")).group_by("organisation_id", "date").agg(pl.col("lead").max())
    median = float(first_flag["lead"].median()) if first_flag.height else None  # type: ignore[arg-type]
    return curve, median


def default_origins(history: StoreHistory, options: BacktestOptions) -> tuple[list[dt.date], list[dt.date]]:
    """Training and test origins: every ``step`` months from a year after the first data, tests from ``start``
    (default the middle of the span) to ``end`` (default the last origin with a full horizon of data after)."""
    first = history.first_period()
    last = history.latest_known()
    if not isinstance(first, dt.date) or last is None:
        raise ValueError("the store holds no observations to backtest on")
    begin = add_months(first.replace(day=1), 12)
    end = options.end or add_months(last.replace(day=1), -options.horizon_months)
    origins = []
    day = begin
    while day <= end:
        origins.append(day)
        day = add_months(day, options.step_months)
    if len(origins) < 2:
        raise ValueError("too short a history for a rolling-origin backtest with this horizon")
    start = options.start or origins[len(origins) // 2]
    return origins, [o for o in origins if o >= start]


def run_backtest(history: StoreHistory, options: BacktestOptions) -> dict[str, Any]:
    """Backtest the model and the baselines; figures with the keys of ``forewarn risk backtest --json``."""
    origins, tests = default_origins(history, options)
    found = failures(history, options.outcome)
    full = labelled_cases(history, options, origins, found)
    explained: list[tuple[Any, list[str], pl.DataFrame]] = []
    scored = held_out_predictions(
        full,
        options,
        tests,
        (lambda *fitted: explained.append(fitted)) if options.model == "boosting" else None,
    )
    model_cases = _as_cases(scored, "probability")
    result: dict[str, Any] = {
        "outcome": options.outcome.label(),
        "new_only": options.new_only,
        "horizon_months": options.horizon_months,
        "model": options.model,
        "test_origins": [str(o) for o in sorted(set(scored["origin"].to_list()))],
        **_summary(model_cases, options, probability=True),
    }
    result["lead_time"], result["median_lead_months"] = _lead_time(scored, found, "probability")
    result["calibration"] = calibration_by_decile(
        scored["probability"].to_numpy(), scored["event"].to_numpy()
    )
    baselines: dict[str, Any] = {}
    for name in BASELINES:
        column = scored[name]
        if column.drop_nulls().len() == 0:
            continue
        baselines[name] = _summary(_as_cases(scored, name), options, probability=False)
        baselines[name]["lead_time"], baselines[name]["median_lead_months"] = _lead_time(scored, found, name)
    if options.truth is not None:
        with_truth = scored.with_columns(truth_at_origins(scored, options.truth).alias("latent_truth"))
        baselines["latent_truth"] = _summary(
            _as_cases(with_truth, "latent_truth"), options, probability=False
        )
    result["baselines"] = baselines
    if explained:  # boosting: TreeSHAP at the last test origin (shap imported only then, in risk.boosting)
        result["explanations"] = backtest_explanations(*explained[-1])
    soft = [f for f in full.features if f.startswith(SOFT_PREFIX)]
    if options.with_soft and soft:
        without = held_out_predictions(
            LabelledCases(full.frame, [f for f in full.features if f not in soft]), options, tests
        )
        joined = scored.select("organisation_id", "origin", "event", "probability").join(
            without.select("organisation_id", "origin", pl.col("probability").alias("without")),
            on=["organisation_id", "origin"],
        )
        delta, ci = paired_auc_difference(
            _as_cases(joined, "probability"),
            _as_cases(joined, "without"),
            n_boot=options.soft_n_boot,
            seed=options.seed,
        )
        result["soft_measures"] = {
            "auc_with": point_metrics(_as_cases(joined, "probability"))["auc"],
            "auc_without": point_metrics(_as_cases(joined, "without"))["auc"],
            "delta": delta,
            "delta_ci": list(ci),
        }
    else:
        result["soft_measures"] = None
    result["soft_measures_sentence"] = soft_sentence(result["soft_measures"])
    return result


def truth_at_origins(cases: pl.DataFrame, truth: pl.DataFrame) -> pl.Series:
    """Each case's latent truth (``truth``: organisation_id, date, score): the organisation's latest score dated
    on or before the case's origin (null before its first), in the cases' order.

    An as-of join by organisation needs both sides sorted by date within every organisation, which Polars cannot
    check when grouped (it warns). Both sides are sorted here by date over all organisations, so within each
    too, and the join is told so; the cases' own order is restored after."""
    keys = cases.select("organisation_id", "origin").with_row_index("row").sort("origin", "organisation_id")
    scores = truth.select("organisation_id", pl.col("date").cast(pl.Date).alias("origin"), "score").sort(
        "origin", "organisation_id"
    )
    joined = keys.join_asof(
        scores, on="origin", by="organisation_id", strategy="backward", check_sortedness=False
    )
    return joined.sort("row")["score"]


def soft_sentence(soft: dict[str, Any] | None) -> str:
    """The answer to "do soft measures help here?" in one plain sentence, whatever it is."""
    if soft is None:
        return (
            "Soft measures could not be tested here: no published survey results were known at the origins."
        )
    low, high = soft["delta_ci"]
    change = f"AUC {soft['auc_without']:.3f} without them, {soft['auc_with']:.3f} with them"
    if low > 0:
        return f"Soft measures help here: {change} (difference {soft['delta']:+.3f}, 95% CI {low:+.3f} to {high:+.3f})."
    if high < 0:
        return f"Soft measures make the model worse here: {change} (difference {soft['delta']:+.3f}, 95% CI {low:+.3f} to {high:+.3f})."
    return (
        f"Soft measures do not clearly help here: {change} (difference {soft['delta']:+.3f}, 95% CI {low:+.3f} "
        f"to {high:+.3f}, which includes no difference)."
    )


__all__ = [
    "BacktestOptions",
    "add_months",
    "default_origins",
    "model_pipeline",
    "run_backtest",
    "soft_sentence",
    "truth_at_origins",
]
