"""A case's interventions on the record: the start and the end are events (an imported event of the same day and
kind is linked, not duplicated), the targeted indicators are kept, and with a reason the SPC charts of those
indicators are rebased at the start (``spc_baselines``: who and why). Audited in the caller's transaction like every
change to a case (:mod:`forewarn.cases.service`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, insert, select, update

from forewarn.access.principal import Channel, utc_now
from forewarn.cases.records import (
    Actor,
    CaseError,
    actor_name,
    audit_case,
    open_case_organisation,
    support_of,
    touch_case,
)
from forewarn.store.models import Event, Indicator
from forewarn.store.models_cases import Case, CaseIntervention, CaseSupport
from forewarn.store.models_surveillance import SpcBaseline


def _event(conn: Connection, organisation_id: int, date: dt.date, kind: str, detail: str) -> int:
    existing = conn.execute(
        select(Event.id).where(
            Event.organisation_id == organisation_id, Event.date == date, Event.kind == kind
        )
    ).scalar()
    if existing is not None:
        return int(existing)  # the same event, imported already: the case points at it
    return int(
        conn.execute(
            insert(Event)
            .values(organisation_id=organisation_id, date=date, kind=kind, detail=detail, batch_id=None)
            .returning(Event.id)
        ).scalar_one()
    )


def start_intervention(
    conn: Connection,
    case_id: int,
    *,
    start: dt.date,
    indicators: Sequence[str],
    support: str | None = None,
    rebase_reason: str | None = None,
    actor: Actor,
    channel: Channel = "cli",
) -> int:
    """Record an intervention's start: an ``intervention_start`` event, the targeted indicators and, with a
    reason, a rebase of their SPC charts at the start (``spc_baselines``: who and why)."""
    organisation_id = open_case_organisation(conn, case_id)
    chosen = support or str(conn.execute(select(Case.support).where(Case.id == case_id)).scalar_one())
    arm = support_of(chosen)
    codes = list(dict.fromkeys(indicators))
    ids = dict(conn.execute(select(Indicator.code, Indicator.id).where(Indicator.code.in_(codes))).all())
    if unknown := [c for c in codes if c not in ids]:
        raise CaseError(f"no indicator with code {', '.join(map(repr, unknown))}")
    running = conn.execute(
        select(CaseIntervention.id).where(
            CaseIntervention.case_id == case_id, CaseIntervention.end_date.is_(None)
        )
    ).scalar()
    if running is not None:
        raise CaseError(f"intervention {running} of this case has not ended")
    at = utc_now()
    event = _event(conn, organisation_id, start, "intervention_start", f"{arm.value} (case {case_id})")
    rebased = bool(rebase_reason and rebase_reason.strip())
    kept: list[str] = []
    if rebased:
        month = start.replace(day=1)
        existing = set(
            conn.execute(
                select(SpcBaseline.indicator_id).where(
                    SpcBaseline.organisation_id == organisation_id, SpcBaseline.rebase_from == month
                )
            ).scalars()
        )
        for code in codes:
            if int(ids[code]) in existing:
                kept.append(
                    code
                )  # already rebased from that month: the earlier rebase (and its reason) stands
                continue
            conn.execute(
                insert(SpcBaseline).values(
                    organisation_id=organisation_id,
                    indicator_id=int(ids[code]),
                    rebase_from=month,
                    fix_after_n_points=None,
                    reason=f"intervention start (case {case_id}): {rebase_reason}"[:500],
                    created_by=actor_name(actor)[:200],
                    created_at=at,
                )
            )
    intervention = int(
        conn.execute(
            insert(CaseIntervention)
            .values(
                case_id=case_id,
                support=arm,
                start_date=start,
                start_event_id=event,
                indicators=codes,
                rebased=rebased,
                created_by=actor_name(actor),
                created_at=at,
            )
            .returning(CaseIntervention.id)
        ).scalar_one()
    )
    audit_case(
        conn,
        actor,
        channel,
        "update",
        case_id,
        organisation_id,
        {
            "intervention_start": str(start),
            "support": arm.value,
            "indicators": codes,
            "rebase": rebase_reason,
        },
    )
    touch_case(conn, case_id, at)
    return intervention


def end_intervention(
    conn: Connection, case_id: int, *, end: dt.date, actor: Actor, channel: Channel = "cli"
) -> int:
    """Record the withdrawal: an ``intervention_end`` event; the case's withdrawal date becomes ``end``."""
    organisation_id = open_case_organisation(conn, case_id)
    row = conn.execute(
        select(CaseIntervention.id, CaseIntervention.start_date, CaseIntervention.support).where(
            CaseIntervention.case_id == case_id, CaseIntervention.end_date.is_(None)
        )
    ).first()
    if row is None:
        raise CaseError(f"case {case_id} has no intervention running")
    intervention, start, support = int(row[0]), row[1], CaseSupport(row[2])
    if end <= start:
        raise CaseError(f"the end ({end}) must be after the start ({start})")
    event = _event(conn, organisation_id, end, "intervention_end", f"{support.value} (case {case_id})")
    conn.execute(
        update(CaseIntervention)
        .where(CaseIntervention.id == intervention)
        .values(end_date=end, end_event_id=event)
    )
    conn.execute(update(Case).where(Case.id == case_id).values(withdrawal_date=end))
    audit_case(conn, actor, channel, "update", case_id, organisation_id, {"intervention_end": str(end)})
    touch_case(conn, case_id, utc_now())
    return intervention
