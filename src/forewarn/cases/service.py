"""Case files over the store: open, pull in the evidence, set measurable exit criteria, add notes, close
(interventions are recorded by :mod:`forewarn.cases.interventions`). Every change is audited in the same transaction (``accounts.audit.record``).

Functions take an open connection inside the caller's transaction and an ``actor`` (a signed-in principal, or a
label such as the command line's user) and raise ``CaseError`` with a message for anything the caller got wrong.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import Connection, func, insert, select, update

from forewarn.access.principal import Channel, utc_now
from forewarn.cases.evidence import SoftMeasuresOf, risk_evidence, soft_evidence
from forewarn.cases.records import (
    Actor,
    CaseError,
    CaseNotFound,
    actor_name,
    audit_case,
    case_row,
    open_case_organisation,
    support_of,
    touch_case,
)
from forewarn.store.models import Event, Indicator, Organisation, OrganisationAttribute
from forewarn.store.models_cases import (
    Case,
    CaseEvidence,
    CaseExitCriterion,
    CaseMilestone,
    CaseNote,
    CaseStatus,
    ExitComparison,
)
from forewarn.store.models_surveillance import ScanRun
from forewarn.store.signals import in_order, read_signals


def organisation_id_of(conn: Connection, code: str) -> int:
    found = conn.execute(select(Organisation.id).where(Organisation.code == code)).scalar()
    if found is None:
        raise CaseError(f"no organisation with code {code!r}")
    return int(found)


def open_case(
    conn: Connection,
    organisation_code: str,
    *,
    support: str,
    owner: str,
    concern: str,
    actor: Actor,
    channel: Channel = "cli",
    withdrawal_date: dt.date | None = None,
    follow_up_months: int = 24,
    pull: bool = True,
    now: dt.datetime | None = None,
    soft_measures_of: SoftMeasuresOf | None = None,
) -> int:
    """Open a case on an organisation (one open case each) and pull in its evidence (:func:`pull_evidence`, with
    ``soft_measures_of``); returns the case id."""
    organisation_id = organisation_id_of(conn, organisation_code)
    if not concern.strip():
        raise CaseError("say why the organisation is of concern")
    if not owner.strip():
        raise CaseError("a case needs an owner")
    if follow_up_months < 1:
        raise CaseError("follow_up_months must be at least 1")
    already = conn.execute(
        select(Case.id).where(Case.organisation_id == organisation_id, Case.status == CaseStatus.OPEN)
    ).scalar()
    if already is not None:
        raise CaseError(f"{organisation_code} already has an open case ({already})")
    at = now or utc_now()
    case_id = int(
        conn.execute(
            insert(Case)
            .values(
                organisation_id=organisation_id,
                status=CaseStatus.OPEN,
                support=support_of(support),
                owner=owner.strip(),
                concern=concern.strip(),
                withdrawal_date=withdrawal_date,
                follow_up_months=follow_up_months,
                opened_at=at,
                opened_by=actor_name(actor),
                updated_at=at,
            )
            .returning(Case.id)
        ).scalar_one()
    )
    audit_case(
        conn,
        actor,
        channel,
        "create",
        case_id,
        organisation_id,
        {"support": support, "owner": owner, "concern": concern},
    )
    if pull:
        pull_evidence(conn, case_id, actor=actor, channel=channel, now=at, soft_measures_of=soft_measures_of)
    return case_id


def pull_evidence(
    conn: Connection,
    case_id: int,
    *,
    actor: Actor,
    channel: Channel = "cli",
    now: dt.datetime | None = None,
    soft_measures_of: SoftMeasuresOf | None = None,
) -> int:
    """Copy into the case, dated, what the store says now: the latest scan's signals of concern, the latest
    stored risk score, the latest inspection and special-measures events, the latest value of each context
    attribute and, given ``soft_measures_of``, the soft measures of its latest closed survey wave
    (:mod:`forewarn.cases.evidence`). Returns rows added."""
    organisation_id = open_case_organisation(conn, case_id)
    at = now or utc_now()
    who = actor_name(actor)
    rows: list[dict[str, object]] = []
    scan = conn.execute(select(func.max(ScanRun.id))).scalar()
    if scan is not None:
        signals = read_signals(conn, organisation_id, scan_id=scan, by_name=True)
        for signal in in_order(signals, "method", "period_start"):
            if signal.direction != "concern":
                continue
            rows.append(
                {
                    "kind": "signal",
                    "label": f"{signal.indicator_name}: {signal.method} {signal.rule.replace('_', ' ')}",
                    "value": None if signal.value is None else f"{signal.value:.4g}",
                    "as_of": signal.period_start,
                    "source": f"scan {scan}",
                }
            )
    rows += risk_evidence(conn, organisation_id)
    if soft_measures_of is not None:
        code = conn.execute(select(Organisation.code).where(Organisation.id == organisation_id)).scalar_one()
        rows += soft_evidence(soft_measures_of(conn, code))
    for date, kind, grade, detail in conn.execute(
        select(Event.date, Event.kind, Event.grade, Event.detail)
        .where(
            Event.organisation_id == organisation_id,
            Event.kind.in_(["inspection", "special_measures_start", "special_measures_end"]),
        )
        .order_by(Event.date.desc())
        .limit(3)
    ):
        rows.append(
            {
                "kind": "inspection",
                "label": kind.replace("_", " "),
                "value": grade or detail,
                "as_of": date,
                "source": "events",
            }
        )
    latest = (
        select(OrganisationAttribute.name, func.max(OrganisationAttribute.valid_from).label("valid_from"))
        .where(OrganisationAttribute.organisation_id == organisation_id)
        .group_by(OrganisationAttribute.name)
        .subquery()
    )
    for name, valid_from, number, text in conn.execute(
        select(
            OrganisationAttribute.name,
            OrganisationAttribute.valid_from,
            OrganisationAttribute.value_number,
            OrganisationAttribute.value_text,
        )
        .join(
            latest,
            (latest.c.name == OrganisationAttribute.name)
            & (latest.c.valid_from == OrganisationAttribute.valid_from),
        )
        .where(OrganisationAttribute.organisation_id == organisation_id)
        .order_by(OrganisationAttribute.name)
    ):
        rows.append(
            {
                "kind": "context",
                "label": name,
                "value": text if number is None else f"{number:.6g}",
                "as_of": valid_from,
                "source": "organisation attributes",
            }
        )
    if rows:
        conn.execute(
            insert(CaseEvidence),
            [{**r, "case_id": case_id, "pulled_at": at, "pulled_by": who, "detail": None} for r in rows],
        )
    audit_case(conn, actor, channel, "update", case_id, organisation_id, {"pulled_evidence": len(rows)})
    touch_case(conn, case_id, at)
    return len(rows)


def add_evidence(
    conn: Connection,
    case_id: int,
    *,
    kind: str,
    label: str,
    value: str | None,
    as_of: dt.date | None,
    source: str,
    actor: Actor,
    channel: Channel = "cli",
) -> None:
    """Evidence the analyst brings (a risk score, a soft measure, a letter), with its date and source."""
    organisation_id = open_case_organisation(conn, case_id)
    if not label.strip() or not source.strip():
        raise CaseError("evidence needs a label and a source")
    at = utc_now()
    conn.execute(
        insert(CaseEvidence).values(
            case_id=case_id,
            kind=kind[:40],
            label=label[:300],
            value=value,
            as_of=as_of,
            source=source[:300],
            pulled_at=at,
            pulled_by=actor_name(actor),
        )
    )
    audit_case(conn, actor, channel, "update", case_id, organisation_id, {"evidence": label, "kind": kind})
    touch_case(conn, case_id, at)


def update_case(
    conn: Connection,
    case_id: int,
    *,
    actor: Actor,
    channel: Channel = "cli",
    support: str | None = None,
    owner: str | None = None,
    concern: str | None = None,
    withdrawal_date: dt.date | None = None,
    follow_up_months: int | None = None,
) -> dict[str, tuple[object, object]]:
    """Change the given fields; returns (and audits) each change as (before, after)."""
    organisation_id = open_case_organisation(conn, case_id)
    before = conn.execute(
        select(Case.support, Case.owner, Case.concern, Case.withdrawal_date, Case.follow_up_months).where(
            Case.id == case_id
        )
    ).one()
    wanted: dict[str, object] = {}
    if support is not None:
        wanted["support"] = support_of(support)
    if owner is not None:
        if not owner.strip():
            raise CaseError("a case needs an owner")
        wanted["owner"] = owner.strip()
    if concern is not None:
        if not concern.strip():
            raise CaseError("say why the organisation is of concern")
        wanted["concern"] = concern.strip()
    if withdrawal_date is not None:
        wanted["withdrawal_date"] = withdrawal_date
    if follow_up_months is not None:
        if follow_up_months < 1:
            raise CaseError("follow_up_months must be at least 1")
        wanted["follow_up_months"] = follow_up_months
    old = dict(
        zip(("support", "owner", "concern", "withdrawal_date", "follow_up_months"), before, strict=True)
    )
    changes: dict[str, tuple[object, object]] = {k: (old[k], v) for k, v in wanted.items() if old[k] != v}
    if changes:
        at = utc_now()
        conn.execute(update(Case).where(Case.id == case_id).values(**{k: v for k, (_, v) in changes.items()}))
        audit_case(
            conn,
            actor,
            channel,
            "update",
            case_id,
            organisation_id,
            {k: [str(a) if a is not None else None, str(b)] for k, (a, b) in changes.items()},
        )
        touch_case(conn, case_id, at)
    return changes


def add_milestone(
    conn: Connection, case_id: int, *, title: str, due: dt.date | None, actor: Actor, channel: Channel = "cli"
) -> int:
    organisation_id = open_case_organisation(conn, case_id)
    if not title.strip():
        raise CaseError("a milestone needs a title", "title")
    milestone = int(
        conn.execute(
            insert(CaseMilestone)
            .values(case_id=case_id, title=title.strip()[:300], due=due)
            .returning(CaseMilestone.id)
        ).scalar_one()
    )
    audit_case(
        conn, actor, channel, "update", case_id, organisation_id, {"milestone": title, "due": str(due)}
    )
    touch_case(conn, case_id, utc_now())
    return milestone


def complete_milestone(
    conn: Connection,
    milestone_id: int,
    *,
    done_on: dt.date,
    actor: Actor,
    channel: Channel = "cli",
    of_case: int | None = None,
) -> None:
    """Mark a milestone done; with ``of_case``, a milestone of another case is not found (``CaseNotFound``)."""
    case_id = conn.execute(select(CaseMilestone.case_id).where(CaseMilestone.id == milestone_id)).scalar()
    if of_case is not None and case_id != of_case:
        raise CaseNotFound(f"case {of_case} has no milestone {milestone_id}")
    if case_id is None:
        raise CaseError(f"no milestone {milestone_id}")
    organisation_id = open_case_organisation(conn, int(case_id))
    conn.execute(update(CaseMilestone).where(CaseMilestone.id == milestone_id).values(done_on=done_on))
    audit_case(
        conn, actor, channel, "update", int(case_id), organisation_id, {"milestone_done": milestone_id}
    )
    touch_case(conn, int(case_id), utc_now())


def add_exit_criterion(
    conn: Connection,
    case_id: int,
    *,
    indicator_code: str,
    comparison: str,
    threshold: float,
    months: int = 3,
    actor: Actor,
    channel: Channel = "cli",
) -> int:
    """An exit criterion: the mean of the indicator's latest ``months`` values at least / at most ``threshold``."""
    organisation_id = open_case_organisation(conn, case_id)
    indicator = conn.execute(select(Indicator.id).where(Indicator.code == indicator_code)).scalar()
    if indicator is None:
        raise CaseError(f"no indicator with code {indicator_code!r}", "indicator_code")
    try:
        how = ExitComparison(comparison)
    except ValueError:
        raise CaseError(f"comparison must be at_least or at_most, not {comparison!r}", "comparison") from None
    if months < 1:
        raise CaseError("months must be at least 1", "months")
    if not math.isfinite(threshold):
        raise CaseError("threshold must be a number", "threshold")
    criterion = int(
        conn.execute(
            insert(CaseExitCriterion)
            .values(
                case_id=case_id,
                indicator_id=int(indicator),
                comparison=how,
                threshold=threshold,
                months=months,
            )
            .returning(CaseExitCriterion.id)
        ).scalar_one()
    )
    audit_case(
        conn,
        actor,
        channel,
        "update",
        case_id,
        organisation_id,
        {"exit_criterion": f"{indicator_code} {how.value} {threshold} over {months} months"},
    )
    touch_case(conn, case_id, utc_now())
    return criterion


def add_note(
    conn: Connection, case_id: int, *, body: str, kind: str = "note", actor: Actor, channel: Channel = "cli"
) -> int:
    """A note (``note``: the regulator's; ``progress``: the organisation's own). Closed cases take no notes."""
    organisation_id = open_case_organisation(conn, case_id)
    if kind not in ("note", "progress"):
        raise CaseError("a note is a note or a progress note")
    if not body.strip():
        raise CaseError("the note is empty")
    at = utc_now()
    note = int(
        conn.execute(
            insert(CaseNote)
            .values(case_id=case_id, at=at, author=actor_name(actor), kind=kind, body=body.strip())
            .returning(CaseNote.id)
        ).scalar_one()
    )
    audit_case(conn, actor, channel, "update", case_id, organisation_id, {"note": kind})
    touch_case(conn, case_id, at)
    return note


def close_case(conn: Connection, case_id: int, *, note: str, actor: Actor, channel: Channel = "cli") -> None:
    organisation_id = open_case_organisation(conn, case_id)
    if not note.strip():
        raise CaseError("say why the case is closed")
    at = utc_now()
    conn.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(
            status=CaseStatus.CLOSED,
            closed_at=at,
            closed_by=actor_name(actor),
            closing_note=note.strip(),
            updated_at=at,
        )
    )
    audit_case(conn, actor, channel, "update", case_id, organisation_id, {"closed": note.strip()})


__all__ = [
    "Actor",
    "CaseError",
    "CaseNotFound",
    "add_evidence",
    "add_exit_criterion",
    "add_milestone",
    "add_note",
    "case_row",
    "close_case",
    "complete_milestone",
    "open_case",
    "organisation_id_of",
    "pull_evidence",
    "update_case",
]
