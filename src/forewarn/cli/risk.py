"""``forewarn risk``: backtest the early-warning model point-in-time. Importing this module loads Typer only;
the command imports scikit-learn, Polars and the store when it runs."""

from __future__ import annotations

import datetime as dt
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


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _truth(path: Path, codes: dict[str, int]) -> Any:
    """The simulator's latent performance (truth/latent_monthly.parquet): lower performance = higher risk."""
    import polars as pl

    file = path / "latent_monthly.parquet" if path.is_dir() else path
    if not file.exists():
        raise typer.BadParameter(f"{file} not found: give the simulator's truth folder", param_hint="--truth")
    latent = pl.read_parquet(file)
    return latent.select(
        pl.col("org_code")
        .cast(pl.String)
        .replace_strict(codes, default=None, return_dtype=pl.Int64)
        .alias("organisation_id"),
        pl.col("period").cast(pl.Date).alias("date"),
        (-pl.col("performance")).alias("score"),
    ).drop_nulls("organisation_id")


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
        ModelChoice, typer.Option("--model", help="logistic or boosting.")
    ] = ModelChoice.logistic,
    without: Annotated[
        list[str] | None, typer.Option("--without", help="Leave out a feature group: soft.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets' organisations (repeatable).")
    ] = None,
    lag_days: Annotated[
        int, typer.Option("--publication-lag", help="Days after a period's end its figures are published.")
    ] = 30,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="The simulator's truth folder: adds the latent-truth ceiling."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
) -> None:
    """Rolling-origin backtest: train on what was known before each origin, score the next, with baselines."""
    from forewarn.risk.backtest import BacktestOptions, run_backtest
    from forewarn.risk.history import load_history
    from forewarn.risk.outcomes import Outcome
    from forewarn.risk.soft import survey_cells
    from forewarn.settings import get_settings

    unknown = sorted(set(without or []) - {"soft"})
    if unknown:
        raise typer.BadParameter(f"unknown feature group(s) {unknown}; known: soft", param_hint="--without")
    try:
        parsed = Outcome.parse(outcome)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outcome") from None
    settings = get_settings()
    engine = migrated_engine(settings)
    cells = survey_cells(engine, min_group_size=settings.min_group_size)
    with engine.connect() as conn:
        history = load_history(conn, datasets=dataset, publication_lag_days=lag_days, soft=cells)
    codes = dict(zip(history.organisations["code"], history.organisations["organisation_id"], strict=True))
    try:
        options = BacktestOptions(
            outcome=parsed,
            horizon_months=horizon,
            new_only=new_only,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            step_months=step,
            model=model.value,
            with_soft="soft" not in (without or []),
            truth=_truth(truth, codes) if truth is not None else None,
        )
        result = run_backtest(history, options)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    _print(result)


@risk_app.command("score")
def score_command(
    outcome: Annotated[
        str,
        typer.Option("--outcome", help="KIND[:GRADE,...] or below:INDICATOR:STANDARD:PERIODS (as backtest)."),
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this date (default: today).")
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Months ahead the risk is for.")] = 12,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Leave out organisations already failing.")
    ] = False,
    step: Annotated[int, typer.Option("--step", help="Months between training origins.")] = 6,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="Only these datasets' organisations (repeatable).")
    ] = None,
    lag_days: Annotated[
        int, typer.Option("--publication-lag", help="Days after a period's end its figures are published.")
    ] = 30,
    top: Annotated[int, typer.Option("--top", help="Organisations to list (the riskiest first).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the watchlist as JSON on stdout.")] = False,
) -> None:
    """The watchlist: each organisation's risk as of a date, with a 90% interval and its top reasons."""
    from forewarn.risk.backtest import BacktestOptions
    from forewarn.risk.history import load_history
    from forewarn.risk.outcomes import Outcome
    from forewarn.risk.soft import survey_cells
    from forewarn.risk.watchlist import watchlist
    from forewarn.settings import get_settings

    try:
        parsed = Outcome.parse(outcome)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outcome") from None
    date = _date(as_of, "--as-of") or dt.date.today()
    settings = get_settings()
    engine = migrated_engine(settings)
    cells = survey_cells(engine, min_group_size=settings.min_group_size)
    with engine.connect() as conn:
        history = load_history(conn, datasets=dataset, publication_lag_days=lag_days, soft=cells)
    try:
        options = BacktestOptions(outcome=parsed, horizon_months=horizon, new_only=new_only, step_months=step)
        result = watchlist(history, options, date)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    shown = result.rows.head(top)
    if as_json:
        json.dump({**result.to_dict(), "organisations": shown.to_dicts()}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    lines = [f"watchlist as of {result.as_of}: {result.outcome} within {horizon} months (riskiest first)"]
    for row in shown.iter_rows(named=True):
        lines.append(
            f"  {row['code']:<12} {row['probability']:.1%} ({row['lower']:.1%} to {row['upper']:.1%}): "
            + "; ".join(row["reasons"])
        )
    typer.echo("\n".join(lines), err=True)


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _print(result: dict[str, Any]) -> None:
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


__all__ = ["backtest_command", "risk_app"]
