"""Reading a case file: the case with its evidence, milestones, exit criteria (evaluated against the store now),
notes and interventions; and the list of cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from forewarn.cases.records import CaseNotFound, case_row
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.store.models_cases import (
    Case,
    CaseEvidence,
    CaseExitCriterion,
    CaseIntervention,
    CaseMilestone,
    CaseNote,
    CaseStatus,
    CaseSupport,
    ExitComparison,
)


@dataclass(frozen=True)
class ExitStatus:
    indicator_code: str
    indicator_name: str
    comparison: str
    threshold: float
    months: int
    value: float | None
    first_period: dt.date | None
    last_period: dt.date | None
    met: bool | None
    """None when the indicator has fewer than ``months`` values for the organisation."""

    @property
    def text(self) -> str:
        how = ">=" if self.comparison == ExitComparison.AT_LEAST.value else "<="
        return f"mean of the latest {self.months} values {how} {self.threshold:g}"


@dataclass(frozen=True)
class CaseFile:
    id: int
    organisation_id: int
    organisation_code: str
    organisation_name: str
    status: str
    support: str
    owner: str
    concern: str
    withdrawal_date: dt.date | None
    follow_up_months: int
    opened_at: dt.datetime
    opened_by: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: str | None
    closing_note: str | None
    evidence: list[dict[str, object]] = field(default_factory=list)
    milestones: list[dict[str, object]] = field(default_factory=list)
    exit_criteria: list[ExitStatus] = field(default_factory=list)
    notes: list[dict[str, object]] = field(default_factory=list)
    interventions: list[dict[str, object]] = field(default_factory=list)


def evaluate_exit_criteria(conn: Connection, case_id: int) -> list[ExitStatus]:
    """Each criterion against the store now: the mean of the organisation's latest ``months`` values."""
    organisation_id, _ = case_row(conn, case_id)
    out = []
    for code, name, indicator_id, comparison, threshold, months in conn.execute(
        select(
            Indicator.code,
            Indicator.name,
            Indicator.id,
            CaseExitCriterion.comparison,
            CaseExitCriterion.threshold,
            CaseExitCriterion.months,
        )
        .join(Indicator, Indicator.id == CaseExitCriterion.indicator_id)
        .where(CaseExitCriterion.case_id == case_id)
        .order_by(CaseExitCriterion.id)
    ):
        latest = conn.execute(
            select(Observation.period_start, Observation.value)
            .where(
                Observation.organisation_id == organisation_id,
                Observation.indicator_id == indicator_id,
                Observation.value.is_not(None),
            )
            .order_by(Observation.period_start.desc())
            .limit(int(months))
        ).all()
        how = ExitComparison(comparison)
        if len(latest) < int(months):
            out.append(ExitStatus(code, name, how.value, threshold, int(months), None, None, None, None))
            continue
        value = sum(float(v or 0.0) for _, v in latest) / len(latest)
        met = value >= threshold if how == ExitComparison.AT_LEAST else value <= threshold
        out.append(
            ExitStatus(code, name, how.value, threshold, int(months), value, latest[-1][0], latest[0][0], met)
        )
    return out


def get_case(conn: Connection, case_id: int) -> CaseFile:
    row = conn.execute(
        select(
            Case.id,
            Case.organisation_id,
            Organisation.code,
            Organisation.name,
            Case.status,
            Case.support,
            Case.owner,
            Case.concern,
            Case.withdrawal_date,
            Case.follow_up_months,
            Case.opened_at,
            Case.opened_by,
            Case.updated_at,
            Case.closed_at,
            Case.closed_by,
            Case.closing_note,
        )
        .join(Organisation, Organisation.id == Case.organisation_id)
        .where(Case.id == case_id)
    ).first()
    if row is None:
        raise CaseNotFound(f"no case {case_id}")

    def rows(query: object) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in conn.execute(query)]  # type: ignore[call-overload]

    evidence = rows(
        select(
            CaseEvidence.kind,
            CaseEvidence.label,
            CaseEvidence.value,
            CaseEvidence.as_of,
            CaseEvidence.source,
            CaseEvidence.pulled_at,
            CaseEvidence.pulled_by,
        )
        .where(CaseEvidence.case_id == case_id)
        .order_by(CaseEvidence.id)
    )
    milestones = rows(
        select(CaseMilestone.id, CaseMilestone.title, CaseMilestone.due, CaseMilestone.done_on)
        .where(CaseMilestone.case_id == case_id)
        .order_by(CaseMilestone.due, CaseMilestone.id)
    )
    notes = rows(
        select(CaseNote.at, CaseNote.author, CaseNote.kind, CaseNote.body)
        .where(CaseNote.case_id == case_id)
        .order_by(CaseNote.id)
    )
    interventions = rows(
        select(
            CaseIntervention.id,
            CaseIntervention.support,
            CaseIntervention.start_date,
            CaseIntervention.end_date,
            CaseIntervention.indicators,
            CaseIntervention.rebased,
            CaseIntervention.start_event_id,
            CaseIntervention.end_event_id,
        )
        .where(CaseIntervention.case_id == case_id)
        .order_by(CaseIntervention.start_date)
    )
    for item in interventions:
        item["support"] = str(CaseSupport(str(item["support"])).value)
    return CaseFile(
        id=int(row.id),
        organisation_id=int(row.organisation_id),
        organisation_code=str(row.code),
        organisation_name=str(row.name),
        status=str(CaseStatus(row.status).value),
        support=str(CaseSupport(row.support).value),
        owner=str(row.owner),
        concern=str(row.concern),
        withdrawal_date=row.withdrawal_date,
        follow_up_months=int(row.follow_up_months),
        opened_at=row.opened_at,
        opened_by=str(row.opened_by),
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        closing_note=row.closing_note,
        evidence=evidence,
        milestones=milestones,
        exit_criteria=evaluate_exit_criteria(conn, case_id),
        notes=notes,
        interventions=interventions,
    )


@dataclass(frozen=True)
class CaseSummary:
    id: int
    organisation_id: int
    organisation_code: str
    organisation_name: str
    status: str
    support: str
    owner: str
    opened_at: dt.datetime
    withdrawal_date: dt.date | None


def list_cases(
    conn: Connection, *, organisation_ids: Sequence[int] | None = None, status: str | None = None
) -> list[CaseSummary]:
    """Cases, newest first; ``organisation_ids`` limits them (None: every organisation)."""
    query = (
        select(
            Case.id,
            Case.organisation_id,
            Organisation.code,
            Organisation.name,
            Case.status,
            Case.support,
            Case.owner,
            Case.opened_at,
            Case.withdrawal_date,
        )
        .join(Organisation, Organisation.id == Case.organisation_id)
        .order_by(Case.opened_at.desc(), Case.id.desc())
    )
    if organisation_ids is not None:
        query = query.where(Case.organisation_id.in_(list(organisation_ids)))
    if status is not None:
        query = query.where(Case.status == CaseStatus(status))
    return [
        CaseSummary(
            id=int(r.id),
            organisation_id=int(r.organisation_id),
            organisation_code=str(r.code),
            organisation_name=str(r.name),
            status=str(CaseStatus(r.status).value),
            support=str(CaseSupport(r.support).value),
            owner=str(r.owner),
            opened_at=r.opened_at,
            withdrawal_date=r.withdrawal_date,
        )
        for r in conn.execute(query)
    ]
