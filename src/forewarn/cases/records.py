"""What every change to a case shares, whichever module makes it (:mod:`forewarn.cases.service` for the case
file, :mod:`forewarn.cases.interventions` for its interventions): who acts, the errors, the audit record written
in the change's transaction, the open-case check and the case's last-changed time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update

from forewarn.access.principal import Channel, Principal
from forewarn.accounts.audit import record
from forewarn.store.models_cases import Case, CaseStatus, CaseSupport

Actor = Principal | str


class CaseError(ValueError):
    """Something asked of a case that cannot be done (unknown organisation, closed case, bad date ...);
    ``field`` names the input at fault where there is one (``indicator_code``...), for a form's error."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CaseNotFound(LookupError):
    """No such case (or, for the web, not one the viewer may see)."""


def actor_name(actor: Actor) -> str:
    """Who did it, as the audit log and the case's records name them."""
    return actor.actor if isinstance(actor, Principal) else actor


def audit_case(
    conn: Connection,
    actor: Actor,
    channel: Channel,
    action: str,
    case_id: int,
    organisation_id: int,
    detail: dict[str, object],
) -> None:
    """Write a change of case ``case_id`` to the audit log, in the caller's transaction (a principal's own channel
    wins over ``channel``)."""
    record(
        conn,
        actor,
        action,
        "case",
        case_id,
        organisation_id=organisation_id,
        channel=channel if not isinstance(actor, Principal) else actor.channel,
        detail=detail,
    )


def support_of(value: str) -> CaseSupport:
    """The support named by ``value``; CaseError for anything else."""
    try:
        return CaseSupport(value)
    except ValueError:
        raise CaseError(f"support must be development, enforcement or watch, not {value!r}") from None


def case_row(conn: Connection, case_id: int) -> tuple[int, CaseStatus]:
    """The case's organisation and status; CaseNotFound when there is no such case."""
    row = conn.execute(select(Case.organisation_id, Case.status).where(Case.id == case_id)).first()
    if row is None:
        raise CaseNotFound(f"no case {case_id}")
    return int(row[0]), CaseStatus(row[1])


def open_case_organisation(conn: Connection, case_id: int) -> int:
    """The organisation of an open case; CaseError when the case is closed (nothing more may be recorded)."""
    organisation_id, status = case_row(conn, case_id)
    if status != CaseStatus.OPEN:
        raise CaseError(f"case {case_id} is closed")
    return organisation_id


def touch_case(conn: Connection, case_id: int, now: dt.datetime) -> None:
    """Mark the case changed at ``now``."""
    conn.execute(update(Case).where(Case.id == case_id).values(updated_at=now))
