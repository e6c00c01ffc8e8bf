"""``forewarn risk``: backtest the early-warning model point-in-time. Importing this module loads Typer only;
the command imports scikit-learn, Polars and the store when it runs."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from forewarn.cli.store import migrated_engine

risk_app = typer.Typer(help="Early warning: the risk model and its backtest.", no_args_is_help=True)


class ModelChoice(StrEnum):
    logistic = "logistic"
    boosting = "boosting"


class BacktestModelChoice(StrEnum):
    # The backtest also measures the mean of the two models' probabilities; the watchlist stores one model.
    logistic = "logistic"
    boosting = "boosting"
    ensemble = "ensemble"


MAX_MONTHS = 120


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _months(value: int, option: str) -> int:
    if not 1 <= value <= MAX_MONTHS:
        raise typer.BadParameter(
            f"{value} is not a number of months from 1 to {MAX_MONTHS}", param_hint=option
        )
    return value


def _outcome(text: str) -> Any:
    from forewarn.risk.outcomes import Outcome

    try:
        return Outcome.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outcome") from None


def _without(values: list[str] | None) -> bool:
    """Whether the soft features are used; ``--without`` names feature groups to leave out (only soft)."""
    unknown = sorted(set(values or []) - {"soft"})
    if unknown:
        raise typer.BadParameter(
            f"unknown feature group(s) {', '.join(unknown)}; the only group is soft", param_hint="--without"
        )
    return "soft" not in (values or [])


def _history(dataset: list[str] | None, lag_days: int) -> tuple[Any, Any]:
    """The store's engine and its point-in-time history (published survey results included)."""
    from forewarn.risk.history import load_history
    from forewarn.risk.soft import survey_cells
    from forewarn.settings import get_settings

    if lag_days < 0:
        raise typer.BadParameter(
            f"{lag_days} days: a publication lag cannot be negative", param_hint="--publication-lag"
        )
    settings = get_settings()
    engine = migrated_engine(settings)
    cells = survey_cells(engine, min_group_size=settings.min_group_size)
    with engine.connect() as conn:
        history = load_history(conn, datasets=dataset, publication_lag_days=lag_days, soft=cells)
    if dataset:
        known = set(history.organisations["dataset_code"].drop_nulls().to_list())
        missing = sorted(set(dataset) - known)
        if missing:
            raise typer.BadParameter(f"no dataset {', '.join(missing)} in the store", param_hint="--dataset")
    return engine, history


def _check_outcome(outcome: Any, history: Any) -> None:
    try:
        outcome.check(history)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outcome") from None


def _check_as_of(as_of: dt.date, history: Any, option: str = "--as-of") -> None:
    first = history.first_period()
    if first is None:
        typer.echo("error: the store holds no observations", err=True)
        raise typer.Exit(2)
    if as_of < first:
        raise typer.BadParameter(f"{as_of} is before the first data ({first})", param_hint=option)


def _truth(path: Path, codes: dict[str, int]) -> Any:
    """The simulator's latent performance (truth/latent_monthly.parquet): lower performance = higher risk."""
    from forewarn.risk.demo_runs import latent_truth

    try:
        return latent_truth(path, codes)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--truth") from None


@risk_app.command("backtest")
def backtest_command(
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome",
            help="KIND[:GRADE,...] (e.g. inspection:inadequate) or below:INDICATOR:STANDARD:PERIODS.",
        ),
    ],
    horizon: Annotated[
        int, typer.Option("--horizon", help="Months after each origin a failure counts.")
    ] = 12,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Only failures of organisations not failing at the origin.")
    ] = False,
    start: Annotated[str | None, typer.Option("--from", help="First test origin (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last test origin (YYYY-MM-DD).")] = None,
    step: Annotated[int, typer.Option("--step", help="Months between origins.")] = 6,
    model: Annotated[
        BacktestModelChoice,
        typer.Option("--model", help="logistic, boosting, or ensemble (the mean of their probabilities)."),
    ] = BacktestModelChoice.logistic,
    without: Annotated[
        list[str] | None, typer.Option("--without", help="Leave out a feature group: soft.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets' organisations (repeatable).")
    ] = None,
    lag_days: Annotated[
        int,
        typer.Option(
            "--publication-lag",
            help="Days after a period's end its figures are published, for datasets whose mapping sets none.",
        ),
    ] = 30,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="The simulator's truth folder: adds the latent-truth ceiling."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Keep the figures in the store (the backtest page).")
    ] = True,
) -> None:
    """Rolling-origin backtest: train on what was known before each origin, score the next, with baselines."""
    from forewarn.risk.backtest import BacktestOptions, run_backtest
    from forewarn.risk.store import save_backtest
    from forewarn.settings import get_settings
    from forewarn.surveillance.partitions import pool_workers

    with_soft = _without(without)
    parsed = _outcome(outcome)
    _months(horizon, "--horizon")
    _months(step, "--step")
    first_test, last_test = _date(start, "--from"), _date(end, "--to")
    if first_test is not None and last_test is not None and first_test > last_test:
        raise typer.BadParameter(f"{start} is after --to {end}", param_hint="--from")
    engine, history = _history(dataset, lag_days)
    _check_outcome(parsed, history)
    for value, option in ((first_test, "--from"), (last_test, "--to")):
        if value is not None:
            _check_as_of(value, history, option)
    codes = dict(zip(history.organisations["code"], history.organisations["organisation_id"], strict=True))
    try:
        options = BacktestOptions(
            outcome=parsed,
            horizon_months=horizon,
            new_only=new_only,
            start=first_test,
            end=last_test,
            step_months=step,
            model=model.value,
            with_soft=with_soft,
            truth=_truth(truth, codes) if truth is not None else None,
            workers=pool_workers(get_settings().scheduler) or 0,
        )
        result = run_backtest(history, options)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if store:
        by = get_settings().imported_by or f"cli:{getpass.getuser()}"
        result["stored_version"] = save_backtest(engine, result, history, run_by=by, datasets=dataset).version
    if as_json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    print_backtest(result)


@risk_app.command("train")
def train_command(
    outcome: Annotated[
        str,
        typer.Option("--outcome", help="KIND[:GRADE,...] or below:INDICATOR:STANDARD:PERIODS (as backtest)."),
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Train on what was known by this date (default: today).")
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Months ahead the risk is for.")] = 12,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Only failures of organisations not failing at the origin.")
    ] = False,
    step: Annotated[int, typer.Option("--step", help="Months between training origins.")] = 6,
    without: Annotated[
        list[str] | None, typer.Option("--without", help="Leave out a feature group: soft.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets' organisations (repeatable).")
    ] = None,
    lag_days: Annotated[
        int,
        typer.Option(
            "--publication-lag",
            help="Days after a period's end its figures are published, for datasets whose mapping sets none.",
        ),
    ] = 30,
    n_boot: Annotated[int, typer.Option("--refits", help="Bootstrap refits for the intervals.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the stored model's summary as JSON.")
    ] = False,
    model: Annotated[
        ModelChoice,
        typer.Option(
            "--model",
            help="logistic (exact contributions) or boosting (TreeSHAP contributions on its uncalibrated margin).",
        ),
    ] = ModelChoice.logistic,
) -> None:
    """Fit the risk model (logistic by default, or gradient boosting) and store it with its version
    (coefficients or trees, standardisation, calibration, training origins, data and code versions)."""
    from forewarn.risk.backtest import BacktestOptions
    from forewarn.risk.store import save_model
    from forewarn.risk.watchlist import train
    from forewarn.settings import get_settings

    with_soft = _without(without)
    parsed = _outcome(outcome)
    _months(horizon, "--horizon")
    _months(step, "--step")
    if not 0 <= n_boot <= 1000:
        raise typer.BadParameter(f"{n_boot} is not a number of refits from 0 to 1000", param_hint="--refits")
    date = _date(as_of, "--as-of") or dt.date.today()
    engine, history = _history(dataset, lag_days)
    _check_outcome(parsed, history)
    _check_as_of(date, history)
    try:
        options = BacktestOptions(
            outcome=parsed,
            horizon_months=horizon,
            new_only=new_only,
            step_months=step,
            with_soft=with_soft,
            model=model.value,
        )
        fitted = train(history, options, date, n_boot=n_boot)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stored = save_model(
        engine,
        fitted,
        history,
        trained_by=get_settings().imported_by or f"cli:{getpass.getuser()}",
        datasets=dataset,
    )
    summary = {
        "version": stored.version,
        "model": fitted.kind,
        "outcome": fitted.outcome,
        "horizon_months": fitted.horizon_months,
        "new_only": fitted.new_only,
        "trained_as_of": str(fitted.trained_as_of),
        "training_origins": [str(o) for o in fitted.training_origins],
        "n_cases": fitted.n_cases,
        "n_events": fitted.n_events,
        "features": list(fitted.features),
        "data_version": stored.data_version,
        "code_version": stored.code_version,
    }
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    typer.echo(
        f"stored {fitted.kind} risk model {stored.version}: {parsed.label()} within {horizon} months, trained on "
        f"{fitted.n_cases} cases ({fitted.n_events} failures) at {len(fitted.training_origins)} origins to "
        f"{fitted.training_origins[-1]}; data {stored.data_version}",
        err=True,
    )


@risk_app.command("score")
def score_command(
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="Score with the latest stored model for this outcome (as train)."),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--model-version", help="Score with this stored model version.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this date (default: today).")
    ] = None,
    horizon: Annotated[
        int, typer.Option("--horizon", help="Months ahead (choosing, or training, the model).")
    ] = 12,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="New failures only (choosing, or training, the model).")
    ] = False,
    step: Annotated[int, typer.Option("--step", help="Months between origins if a model is trained.")] = 6,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets' organisations (repeatable).")
    ] = None,
    lag_days: Annotated[
        int,
        typer.Option(
            "--publication-lag",
            help="Days after a period's end its figures are published, for datasets whose mapping sets none.",
        ),
    ] = 30,
    top: Annotated[int, typer.Option("--top", help="Organisations to list (the riskiest first).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the watchlist as JSON on stdout.")] = False,
) -> None:
    """The watchlist: each organisation's risk as of a date from a stored model (``forewarn risk train``; with
    ``--outcome`` and none stored for it, one is trained and stored first), with a 90% interval and its top
    reasons; the scores and contributions are stored with the model's version."""
    from forewarn.risk.backtest import BacktestOptions
    from forewarn.risk.store import load_model, save_model, save_scores
    from forewarn.risk.watchlist import score, train
    from forewarn.settings import get_settings

    parsed = _outcome(outcome) if outcome is not None else None
    _months(horizon, "--horizon")
    _months(step, "--step")
    if top < 1:
        raise typer.BadParameter(f"{top}: list at least one organisation", param_hint="--top")
    date = _date(as_of, "--as-of") or dt.date.today()
    engine, history = _history(dataset, lag_days)
    _check_as_of(date, history)
    if version is not None:
        stored = load_model(engine, version=version)
    elif parsed is not None:
        _check_outcome(parsed, history)
        stored = load_model(engine, outcome=parsed.spec(), new_only=new_only, horizon_months=horizon)
        if stored is None:  # none stored for this outcome: train one now, and keep it
            try:
                options = BacktestOptions(
                    outcome=parsed, horizon_months=horizon, new_only=new_only, step_months=step
                )
                fitted = train(history, options, date)
            except ValueError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            by = get_settings().imported_by or f"cli:{getpass.getuser()}"
            stored = save_model(engine, fitted, history, trained_by=by, datasets=dataset)
            typer.echo(f"no stored model for {parsed.label()}: trained and stored {stored.version}", err=True)
    else:
        stored = load_model(engine)
    if stored is None:
        what = f"version {version}" if version else "any outcome"
        typer.echo(f"error: no stored risk model for {what}: run `forewarn risk train` first", err=True)
        raise typer.Exit(2)
    if date < stored.model.trained_as_of:
        typer.echo(
            f"note: model {stored.version} was trained on data to {stored.model.trained_as_of}, after {date}",
            err=True,
        )
    result = score(history, stored.model, date)
    written = save_scores(engine, stored, result)
    shown = result.rows.head(top)
    if as_json:
        payload = {
            "as_of": str(result.as_of),
            "outcome": result.outcome,
            "model_version": stored.version,
            "model": stored.model.kind,
            # what the contributions add up to, with this: the logit (logistic) or the uncalibrated margin
            # (boosting: TreeSHAP values, the expected value here)
            "base_value": stored.model.base_value,
            "organisations": result.organisations(shown),
        }
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    lines = [
        f"watchlist as of {result.as_of}: {result.outcome} within {stored.model.horizon_months} months "
        f"(riskiest first; model {stored.version}; {written} scores stored)"
    ]
    if stored.model.kind == "boosting":
        lines.append("  reasons from TreeSHAP values on the log-odds of the uncalibrated boosting model")
    for row in shown.iter_rows(named=True):
        lines.append(
            f"  {row['code']:<12} {row['probability']:.1%} ({row['lower']:.1%} to {row['upper']:.1%}): "
            + ("; ".join(row["reasons"]) or "no reason stands out")
        )
    typer.echo("\n".join(lines), err=True)


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def print_backtest(result: dict[str, Any]) -> None:
    """A backtest's figures on stderr: the model, each baseline and the soft-measures sentence."""
    lines = [
        f"risk backtest: {result['outcome']}{' (new failures only)' if result['new_only'] else ''} within "
        f"{result['horizon_months']} months; {result['model']} model; {result['n_cases']} cases, "
        f"{result['n_events']} failures at {len(result['test_origins'])} test origins",
        f"  model: AUC {_number(result['auc'])} ({_number(result['auc_ci'][0])} to {_number(result['auc_ci'][1])}), "
        f"recall in the riskiest 10% {_number(result['recall_at_10'])}, 20% {_number(result['recall_at_20'])}, "
        f"Brier skill {_number(result['brier_skill'])}",
    ]
    for name, figures in result["baselines"].items():
        lines.append(
            f"  baseline {name}: AUC {_number(figures['auc'])}, recall in the riskiest 10% "
            f"{_number(figures['recall_at_10'])}, 20% {_number(figures['recall_at_20'])}"
        )
    lines.append(f"  {result['soft_measures_sentence']}")
    typer.echo("\n".join(lines), err=True)


__all__ = ["backtest_command", "print_backtest", "risk_app", "score_command", "train_command"]
