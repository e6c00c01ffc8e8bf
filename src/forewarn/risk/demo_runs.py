"""The early-warning runs the demo makes (issue 11): on one dataset, a rolling-origin backtest, then the logistic
model trained and every organisation scored as of the end of the data, all three stored (the web app's
``/risk/backtest``, ``/risk`` and each organisation page's "why it is on the watchlist")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from forewarn.risk.backtest import BacktestOptions, add_months, run_backtest
from forewarn.risk.history import load_history
from forewarn.risk.outcomes import Outcome
from forewarn.risk.soft import survey_cells
from forewarn.risk.store import save_backtest, save_model, save_scores
from forewarn.risk.watchlist import score, train


def latent_truth(path: Path, codes: dict[str, int]) -> pl.DataFrame:
    """The simulator's latent performance (``truth/latent_monthly.parquet``) as a risk score: lower performance
    is higher risk (the backtest's latent-truth ceiling)."""
    file = path / "latent_monthly.parquet" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file} not found: give the simulator's truth folder")
    latent = pl.read_parquet(file)
    return latent.select(
        pl.col("org_code")
        .cast(pl.String)
        .replace_strict(codes, default=None, return_dtype=pl.Int64)
        .alias("organisation_id"),
        pl.col("period").cast(pl.Date).alias("date"),
        (-pl.col("performance")).alias("score"),
    ).drop_nulls("organisation_id")


@dataclass(frozen=True)
class RiskRun:
    """One dataset's backtest (its JSON figures), the model trained and the scoring, as stored."""

    dataset: str
    backtest: dict[str, Any]
    backtest_version: str
    model_version: str
    as_of: dt.date
    scored: int
    riskiest: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "backtest": self.backtest,
            "backtest_version": self.backtest_version,
            "model_version": self.model_version,
            "as_of": str(self.as_of),
            "scored": self.scored,
            "riskiest": self.riskiest,
        }


def backtest_train_and_score(
    engine: Engine,
    dataset: str,
    outcome: str,
    *,
    horizon_months: int,
    step_months: int,
    new_only: bool = True,
    min_group_size: int,
    by: str,
    truth: Path | None = None,
    n_refits: int = 20,
    top: int = 3,
) -> RiskRun:
    """Backtest ``outcome`` on ``dataset``'s organisations, train the logistic model on everything whose outcome
    was known by the end of the data (the month after the last period) and score every organisation then; store
    the three. Raises ValueError when the data are too short for a backtest."""
    cells = survey_cells(engine, min_group_size=min_group_size)
    with engine.connect() as conn:
        history = load_history(conn, datasets=[dataset], soft=cells)
    parsed = Outcome.parse(outcome)
    parsed.check(history)
    codes = dict(zip(history.organisations["code"], history.organisations["organisation_id"], strict=True))
    options = BacktestOptions(
        outcome=parsed,
        horizon_months=horizon_months,
        new_only=new_only,
        step_months=step_months,
        truth=latent_truth(truth, codes) if truth is not None else None,
    )
    result = run_backtest(history, options)
    stored_backtest = save_backtest(engine, result, history, run_by=by, datasets=[dataset])
    last = history.last_period()
    if not isinstance(last, dt.date):
        raise ValueError(f"dataset {dataset} holds no observations")
    as_of = add_months(last, 1)
    fitted = train(history, options, as_of, n_boot=n_refits)
    model = save_model(engine, fitted, history, trained_by=by, datasets=[dataset])
    scored = score(history, fitted, as_of)
    written = save_scores(engine, model, scored)
    riskiest = [
        {k: row[k] for k in ("code", "probability", "lower", "upper", "reasons")}
        for row in scored.organisations(scored.rows.head(top))
    ]
    return RiskRun(
        dataset=dataset,
        backtest=result,
        backtest_version=stored_backtest.version,
        model_version=model.version,
        as_of=as_of,
        scored=written,
        riskiest=riskiest,
    )


__all__ = ["RiskRun", "backtest_train_and_score", "latent_truth"]
