"""Tables of the early-warning risk model: fitted models with their versions, and the scores they gave.

A ``risk_models`` row holds everything needed to score again without refitting, and to say where a score came
from: the outcome and horizon it predicts, the feature names in order, the imputation medians and standardisation,
the coefficients and intercept, the bootstrap refits' coefficients (the intervals), its calibration on the
training cases, the training origins, a digest of the data it was trained on and the code version. Its
``version`` is a digest of that content, so the same model trained twice on the same data has the same version.

A ``risk_backtests`` row is one backtest's figures (the JSON ``forewarn risk backtest`` prints) with the data and
code versions it ran on. A ``risk_scores`` row is one organisation's risk as of one date from one model: the probability with its
interval, each feature's contribution to the log-odds and the reasons written from them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId

__all__ = ["RiskBacktest", "RiskModel", "RiskScore"]


class RiskModel(Base):
    """One fitted risk model, versioned by a digest of its content."""

    __tablename__ = "risk_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(200), index=True)
    new_only: Mapped[bool] = mapped_column(Boolean)
    horizon_months: Mapped[int] = mapped_column(Integer)
    step_months: Mapped[int] = mapped_column(Integer)
    trained_as_of: Mapped[dt.date] = mapped_column(Date)
    trained_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    trained_by: Mapped[str] = mapped_column(String(200))
    features: Mapped[list[str]] = mapped_column(JSON)
    # Standardisation: median imputation, then (x - mean) / scale, with the imputer's missing-value indicators.
    medians: Mapped[list[float]] = mapped_column(JSON)
    indicator_features: Mapped[list[int]] = mapped_column(JSON)
    means: Mapped[list[float]] = mapped_column(JSON)
    scales: Mapped[list[float]] = mapped_column(JSON)
    coefficients: Mapped[list[float]] = mapped_column(JSON)
    intercept: Mapped[float] = mapped_column(Float)
    refits: Mapped[list[list[float]]] = mapped_column(JSON)  # bootstrap refits: intercept then coefficients
    calibration: Mapped[dict[str, object]] = mapped_column(JSON)
    # A boosting model's trees, baseline margin and SHAP expected value (forewarn.risk.boosting); None if logistic.
    trees: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    training_origins: Mapped[list[str]] = mapped_column(JSON)
    n_cases: Mapped[int] = mapped_column(Integer)
    n_events: Mapped[int] = mapped_column(Integer)
    datasets: Mapped[list[str] | None] = mapped_column(JSON)
    data_version: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(64))


class RiskScore(Base):
    """One organisation's risk as of one date from one model, with its contributions."""

    __tablename__ = "risk_scores"
    __table_args__ = (
        UniqueConstraint("model_id", "as_of", "organisation_id"),
        Index("ix_risk_scores_organisation_as_of", "organisation_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("risk_models.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    as_of: Mapped[dt.date] = mapped_column(Date)
    probability: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    contributions: Mapped[dict[str, float]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RiskBacktest(Base):
    """One stored backtest: its options, every figure (the JSON of ``forewarn risk backtest``), its versions."""

    __tablename__ = "risk_backtests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    outcome: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(32))
    horizon_months: Mapped[int] = mapped_column(Integer)
    run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    run_by: Mapped[str] = mapped_column(String(200))
    result: Mapped[dict[str, object]] = mapped_column(JSON)
    datasets: Mapped[list[str] | None] = mapped_column(JSON)
    data_version: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(64))
