"""Stored, versioned risk models and the scores they gave (tables in :mod:`forewarn.store.models_risk`).

A model's ``version`` is a SHA-256 digest (first 16 hex digits) of everything that fixes its predictions and
their provenance: outcome, horizon, features, standardisation, coefficients, refits, training origins, the data
version and the code version. The data version is a digest of what the model read (each frame's row count and
the sum of Polars' row hashes, so it changes when any value does); the code version is the package version and
:data:`FEATURES_VERSION`, raised whenever the features change meaning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Connection, Engine, delete, insert, select

from forewarn.risk.boosting import Trees
from forewarn.risk.history import StoreHistory, row_hash_sum
from forewarn.risk.watchlist import FittedModel, Watchlist
from forewarn.store.models import Organisation
from forewarn.store.models_risk import RiskBacktest, RiskModel, RiskScore

FEATURES_VERSION = "7"  # 7: the regulator's commitments (risk.oversight); 3: learning activity (when the store holds any); 4: with members' logged acts; 5: soft trend and soft x factor; C chosen by temporal cross-validation; 6: concern-side squares and factor interactions (risk.shapes), C fixed at 0.1
"""1: the first features; 2: soft measures pooled over every published wave (best linear predictor)."""


def code_version() -> str:
    try:
        package = metadata.version("forewarn")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without the package installed
        package = "unknown"
    return f"forewarn {package}; features {FEATURES_VERSION}"


def data_version(history: StoreHistory) -> str:
    """A digest of the history the model read: row counts and row-hash sums of every frame."""
    digest = hashlib.sha256()
    # The observations a batch of indicators at a time (the sum of row hashes does not depend on the batches),
    # or as the run's own pass over all of them summed them (the backtest's features).
    height, total = history.observation_digest(_DIGEST_ROWS)
    digest.update(f"observations:{height}:{total};".encode())
    for name in ("events", "organisations", "attributes", "soft", "activity"):
        frame: pl.DataFrame = getattr(history, name)
        if name == "activity" and not frame.height:
            continue  # a store without learning activity keeps the data version it had before it was read
        digest.update(f"{name}:{frame.height}:{row_hash_sum(frame) % 2**64};".encode())
    return digest.hexdigest()[:16]


_DIGEST_ROWS = 1_000_000


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _content(model: FittedModel, data: str, code: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "kind": model.kind,
        "outcome": model.outcome,
        "new_only": model.new_only,
        "horizon_months": model.horizon_months,
        "step_months": model.step_months,
        "trained_as_of": model.trained_as_of,
        "features": list(model.features),
        "medians": _floats(model.medians),
        "indicator_features": list(model.indicator_features),
        "means": _floats(model.means),
        "scales": _floats(model.scales),
        "coefficients": _floats(model.coefficients),
        "intercept": float(model.intercept),
        "refits": [_floats(r) for r in model.refits],
        "calibration": model.calibration,
        "training_origins": [str(o) for o in model.training_origins],
        "n_cases": model.n_cases,
        "n_events": model.n_events,
        "data_version": data,
        "code_version": code,
    }
    # A boosting model's trees; a logistic model's content, and so its version, stays as it was.
    if model.trees is not None:
        content["trees"] = model.trees.to_json()
    return content


@dataclass(frozen=True)
class StoredModel:
    id: int
    version: str
    model: FittedModel
    trained_at: dt.datetime
    trained_by: str
    data_version: str
    code_version: str
    datasets: list[str] | None


def save_model(
    engine: Engine,
    model: FittedModel,
    history: StoreHistory,
    *,
    trained_by: str,
    datasets: list[str] | None = None,
) -> StoredModel:
    """Store a fitted model; the same model on the same data (same version) is stored once."""
    data, code = data_version(history), code_version()
    content = _content(model, data, code)
    text = json.dumps(content, sort_keys=True, default=str)
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    with engine.begin() as conn:
        existing = conn.execute(select(RiskModel.id).where(RiskModel.version == version)).scalar()
        if existing is None:
            existing = conn.execute(
                insert(RiskModel)
                .values(
                    version=version,
                    trained_at=dt.datetime.now(dt.UTC),
                    trained_by=trained_by,
                    datasets=datasets,
                    **content,
                )
                .returning(RiskModel.id)
            ).scalar_one()
    stored = load_model(engine, version=version)
    assert stored is not None
    return stored


def _model(row: RiskModel) -> FittedModel:
    refits = np.asarray(row.refits, dtype=np.float64)
    return FittedModel(
        kind=row.kind,
        outcome=row.outcome,
        new_only=row.new_only,
        horizon_months=row.horizon_months,
        step_months=row.step_months,
        trained_as_of=row.trained_as_of,
        features=tuple(row.features),
        medians=np.asarray(row.medians, dtype=np.float64),
        indicator_features=tuple(int(i) for i in row.indicator_features),
        means=np.asarray(row.means, dtype=np.float64),
        scales=np.asarray(row.scales, dtype=np.float64),
        coefficients=np.asarray(row.coefficients, dtype=np.float64),
        intercept=float(row.intercept),
        refits=refits.reshape(-1, len(row.coefficients) + 1) if refits.size else np.empty((0, 0)),
        training_origins=tuple(dt.date.fromisoformat(o) for o in row.training_origins),
        n_cases=row.n_cases,
        n_events=row.n_events,
        calibration=dict(row.calibration),
        trees=Trees.from_json(row.trees) if row.trees else None,
    )


def load_model(
    engine: Engine,
    *,
    version: str | None = None,
    outcome: str | None = None,
    new_only: bool | None = None,
    horizon_months: int | None = None,
) -> StoredModel | None:
    """A stored model by version, or the latest trained for ``outcome`` (or any), new failures only or not, and
    ``horizon_months`` (or any); None if none."""
    from sqlalchemy.orm import Session

    query = select(RiskModel)
    if version is not None:
        query = query.where(RiskModel.version == version)
    if outcome is not None:
        query = query.where(RiskModel.outcome == outcome)
    if new_only is not None:
        query = query.where(RiskModel.new_only == new_only)
    if horizon_months is not None:
        query = query.where(RiskModel.horizon_months == horizon_months)
    query = query.order_by(RiskModel.trained_at.desc(), RiskModel.id.desc()).limit(1)
    with Session(engine) as session:
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            return None
        return StoredModel(
            id=row.id,
            version=row.version,
            model=_model(row),
            trained_at=row.trained_at,
            trained_by=row.trained_by,
            data_version=row.data_version,
            code_version=row.code_version,
            datasets=row.datasets,
        )


def save_scores(engine: Engine, stored: StoredModel, result: Watchlist) -> int:
    """Store every organisation's score as of the watchlist's date from the stored model (replacing an earlier
    scoring by the same model at the same date); returns the rows written."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "model_id": stored.id,
            "organisation_id": int(row["organisation_id"]),
            "as_of": result.as_of,
            "probability": float(row["probability"]),
            "lower": float(row["lower"]),
            "upper": float(row["upper"]),
            "contributions": {k: float(v) for k, v in row["contributions"].items()},
            "reasons": list(row["reasons"]),
            "scored_at": now,
        }
        for row in result.organisations()
    ]
    with engine.begin() as conn:
        conn.execute(
            delete(RiskScore).where(RiskScore.model_id == stored.id, RiskScore.as_of == result.as_of)
        )
        if rows:
            conn.execute(insert(RiskScore), rows)
    return len(rows)


def read_scores(
    engine: Engine | Connection,
    *,
    as_of: dt.date | None = None,
    organisation_id: int | None = None,
    version: str | None = None,
) -> pl.DataFrame:
    """Stored scores with their model version, riskiest first: of one date (default each model's latest), one
    organisation, one model version."""
    query = (
        select(
            RiskScore.organisation_id,
            Organisation.code,
            Organisation.name,
            RiskScore.as_of,
            RiskScore.probability,
            RiskScore.lower,
            RiskScore.upper,
            RiskScore.reasons,
            RiskScore.contributions,
            RiskModel.version,
            RiskModel.outcome,
            RiskModel.horizon_months,
        )
        .join(RiskModel, RiskModel.id == RiskScore.model_id)
        .join(Organisation, Organisation.id == RiskScore.organisation_id)
    )
    if as_of is not None:
        query = query.where(RiskScore.as_of == as_of)
    if organisation_id is not None:
        query = query.where(RiskScore.organisation_id == organisation_id)
    if version is not None:
        query = query.where(RiskModel.version == version)
    if isinstance(engine, Connection):
        records = [dict(r._mapping) for r in engine.execute(query)]
    else:
        with engine.connect() as conn:
            records = [dict(r._mapping) for r in conn.execute(query)]
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "organisation_id": pl.Int64,
        "code": pl.String,
        "name": pl.String,
        "as_of": pl.Date,
        "probability": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "reasons": pl.List(pl.String),
        "contributions": pl.Object,
        "version": pl.String,
        "outcome": pl.String,
        "horizon_months": pl.Int64,
    }
    if not records:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(records, schema=schema)
    if as_of is None:
        latest = frame.group_by("version").agg(pl.col("as_of").max().alias("latest"))
        frame = frame.join(latest, on="version").filter(pl.col("as_of") == pl.col("latest")).drop("latest")
    return frame.sort(["probability", "code"], descending=[True, False])


@dataclass(frozen=True)
class StoredBacktest:
    id: int
    version: str
    run_at: dt.datetime
    run_by: str
    result: dict[str, Any]
    data_version: str
    code_version: str


def save_backtest(
    engine: Engine,
    result: dict[str, Any],
    history: StoreHistory,
    *,
    run_by: str,
    datasets: list[str] | None = None,
) -> StoredBacktest:
    """Store a backtest's figures; the same figures on the same data and code (same version) are stored once."""
    data, code = data_version(history), code_version()
    text = json.dumps({"result": result, "data": data, "code": code}, sort_keys=True, default=str)
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    plain = json.loads(json.dumps(result, default=str))
    with engine.begin() as conn:
        found = conn.execute(select(RiskBacktest.id).where(RiskBacktest.version == version)).scalar()
        if found is None:
            conn.execute(
                insert(RiskBacktest).values(
                    version=version,
                    outcome=str(result["outcome"]),
                    model=str(result["model"]),
                    horizon_months=int(result["horizon_months"]),
                    run_at=dt.datetime.now(dt.UTC),
                    run_by=run_by,
                    result=plain,
                    datasets=datasets,
                    data_version=data,
                    code_version=code,
                )
            )
    stored = latest_backtest(engine, version=version)
    assert stored is not None
    return stored


def latest_backtest(engine: Engine | Connection, *, version: str | None = None) -> StoredBacktest | None:
    """The most recent stored backtest (or the one of ``version``); None if none."""
    table = RiskBacktest.__table__
    query = select(table).order_by(table.c.run_at.desc(), table.c.id.desc()).limit(1)
    if version is not None:
        query = query.where(table.c.version == version)
    if isinstance(engine, Connection):
        row = engine.execute(query).mappings().first()
    else:
        with engine.connect() as conn:
            row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return StoredBacktest(
        id=int(row["id"]),
        version=str(row["version"]),
        run_at=row["run_at"],
        run_by=str(row["run_by"]),
        result=dict(row["result"]),
        data_version=str(row["data_version"]),
        code_version=str(row["code_version"]),
    )


__all__ = [
    "FEATURES_VERSION",
    "StoredBacktest",
    "StoredModel",
    "code_version",
    "data_version",
    "latest_backtest",
    "load_model",
    "read_scores",
    "save_backtest",
    "save_model",
    "save_scores",
]
