"""Tables of the experiments registry: experiments, their units, allocations, events (the audit trail, deviations
included) and results.

An experiment is a draft until it starts; starting locks its registration (hypothesis, units, outcome, design,
pre-registered analysis, minimum effect), whose SHA-256 is kept on the row. Any change after that is allowed only
as a recorded deviation with a reason (``experiment_events.kind = 'deviation'``), so the registry can always show
what was promised and what changed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId

EXPERIMENT_STATUSES = ("draft", "started", "completed")
EXPERIMENT_DESIGNS = ("individual", "cluster", "stepped_wedge", "its", "synthetic_control", "staggered_did")
UNIT_KINDS = ("organisation", "ward", "team")

__all__ = [
    "EXPERIMENT_DESIGNS",
    "EXPERIMENT_STATUSES",
    "UNIT_KINDS",
    "Experiment",
    "ExperimentAllocation",
    "ExperimentEvent",
    "ExperimentResult",
    "ExperimentUnit",
]


class Experiment(Base):
    """One registered experiment: what is tested, on whom, how, and what would count as a worthwhile effect."""

    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'started', 'completed')", name="status_known"),
        CheckConstraint(
            "design IN ('individual', 'cluster', 'stepped_wedge', 'its', 'synthetic_control', 'staggered_did')",
            name="design_known",
        ),
        CheckConstraint("unit_kind IN ('organisation', 'ward', 'team')", name="unit_kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    hypothesis: Mapped[str] = mapped_column(Text)
    adapted_practice: Mapped[str | None] = mapped_column(Text)
    unit_kind: Mapped[str] = mapped_column(String(20))
    outcome_indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    design: Mapped[str] = mapped_column(String(30))
    analysis_plan: Mapped[dict[str, object]] = mapped_column(JSON)
    minimum_effect: Mapped[float] = mapped_column(Float)
    owner: Mapped[str] = mapped_column(String(200))
    owner_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    planned_start: Mapped[dt.date] = mapped_column(Date)
    planned_end: Mapped[dt.date] = mapped_column(Date)
    design_calculation: Mapped[dict[str, object] | None] = mapped_column(JSON)
    registration_checksum: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The library document of the peer practice it adapts (migration 0022).
    practice_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("library_documents.id", ondelete="SET NULL")
    )


class ExperimentUnit(Base):
    """An organisation taking part, with its stratum, its arm (allocated, or declared for a non-randomised design)
    and, for a non-randomised design, when it adopted the practice."""

    __tablename__ = "experiment_units"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    stratum: Mapped[str | None] = mapped_column(String(100))
    arm: Mapped[str | None] = mapped_column(String(60))
    # When the unit adopted the practice (non-randomised designs: staggered adoption, synthetic control).
    adopted_on: Mapped[dt.date | None] = mapped_column(Date)


class ExperimentAllocation(Base):
    """One randomisation: its seed, method and the whole allocation with its checksum, kept for good."""

    __tablename__ = "experiment_allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    seed: Mapped[int] = mapped_column(BigId)
    method: Mapped[str] = mapped_column(String(60))
    method_version: Mapped[int] = mapped_column(Integer)
    allocation: Mapped[dict[str, object]] = mapped_column(JSON)
    checksum: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ExperimentEvent(Base):
    """The audit trail: creation, edits, design, allocation, start, deviations (with a reason), analyses."""

    __tablename__ = "experiment_events"
    __table_args__ = (Index("ix_experiment_events_experiment_id_at", "experiment_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    field: Mapped[str | None] = mapped_column(String(60))
    old_value: Mapped[object | None] = mapped_column(JSON)
    new_value: Mapped[object | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)


class ExperimentResult(Base):
    """One analysis of an experiment, with its evidence rating; the pre-registered one says so."""

    __tablename__ = "experiment_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(60))
    pre_registered: Mapped[bool] = mapped_column()
    result: Mapped[dict[str, object]] = mapped_column(JSON)
    padlocks: Mapped[int] = mapped_column(Integer)
    rating: Mapped[dict[str, object]] = mapped_column(JSON)
    analysed_by: Mapped[str] = mapped_column(String(200))
    analysed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The library document this result was published as, if it was (migration 0022).
    library_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("library_documents.id", ondelete="SET NULL")
    )
