"""Case files: the regulator's record of an organisation of concern, the support chosen, and what became of it.

A case belongs to one organisation. Its evidence (why it is of concern) is pulled in from the store with the date it
refers to and the date it was pulled; its interventions are also events (``events``: ``intervention_start`` and
``intervention_end``), so charts, the risk model and imports see them like any other. Every change to a case is
written to the audit log in the same transaction (``accounts.audit``).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Date, DateTime, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId


class CaseSupport(enum.StrEnum):
    """The support chosen: develop the organisation's capacity, enforce, or watch without intervening."""

    DEVELOPMENT = "development"
    ENFORCEMENT = "enforcement"
    WATCH = "watch"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ExitComparison(enum.StrEnum):
    """How an exit criterion compares the indicator's recent mean with its threshold."""

    AT_LEAST = "at_least"
    AT_MOST = "at_most"


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_organisation_id_status", "organisation_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"), default=CaseStatus.OPEN)
    support: Mapped[CaseSupport] = mapped_column(_enum(CaseSupport, "case_support"))
    owner: Mapped[str] = mapped_column(String(320))
    concern: Mapped[str] = mapped_column(Text)
    withdrawal_date: Mapped[dt.date | None] = mapped_column(Date)
    follow_up_months: Mapped[int] = mapped_column(Integer, default=24)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(320))
    closing_note: Mapped[str | None] = mapped_column(Text)


class CaseEvidence(Base):
    """One reason for concern, pulled in from the store (a signal, a soft measure, an inspection, context) or
    written by the analyst, with the date it refers to (``as_of``) and when it was pulled."""

    __tablename__ = "case_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(
        String(40)
    )  # signal | soft_measure | inspection | context | risk | note
    label: Mapped[str] = mapped_column(String(300))
    value: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(300))
    pulled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    pulled_by: Mapped[str] = mapped_column(String(320))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)


class CaseMilestone(Base):
    __tablename__ = "case_milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    due: Mapped[dt.date | None] = mapped_column(Date)
    done_on: Mapped[dt.date | None] = mapped_column(Date)


class CaseExitCriterion(Base):
    """A measurable condition for withdrawal: the mean of ``indicator`` over its latest ``months`` values is at
    least (or at most) ``threshold``. Evaluated against the store whenever the case is read."""

    __tablename__ = "case_exit_criteria"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    comparison: Mapped[ExitComparison] = mapped_column(_enum(ExitComparison, "exit_comparison"))
    threshold: Mapped[float] = mapped_column(Float)
    months: Mapped[int] = mapped_column(Integer, default=3)


class CaseNote(Base):
    """A note: the analyst's, or a member's progress note from the organisation (``kind``)."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(20))  # note | progress
    body: Mapped[str] = mapped_column(Text)


class CaseIntervention(Base):
    """An intervention recorded from a case: its start and end are rows of ``events``; the indicators it targets
    are what its effect and follow-up are measured on. ``rebased``: the SPC baselines of those indicators were
    reset at the start (``spc_baselines`` holds who and why)."""

    __tablename__ = "case_interventions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    support: Mapped[CaseSupport] = mapped_column(_enum(CaseSupport, "case_support"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    start_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    end_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    indicators: Mapped[list[str] | None] = mapped_column(JSON)
    rebased: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


__all__ = [
    "Case",
    "CaseEvidence",
    "CaseExitCriterion",
    "CaseIntervention",
    "CaseMilestone",
    "CaseNote",
    "CaseStatus",
    "CaseSupport",
    "ExitComparison",
]
