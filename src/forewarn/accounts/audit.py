"""The audit log: who viewed or changed what. Written in the same transaction as a change it records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from forewarn.access.principal import Channel, Principal, utc_now
from forewarn.store.models_web import AuditEntry


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: dt.datetime
    user_id: int | None
    actor: str
    action: str
    object_type: str
    object_id: str | None
    organisation_id: int | None
    channel: str
    ip: str | None
    detail: dict[str, object] | None


def record(
    conn: Connection,
    who: Principal | str | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    *,
    organisation_id: int | None = None,
    channel: Channel | None = None,
    ip: str | None = None,
    detail: dict[str, object] | None = None,
    now: dt.datetime | None = None,
    user_id: int | None = None,
) -> None:
    """Append one entry. ``who`` is the principal, or a label such as an email typed at sign-in,
    "anonymous" or "survey-token" (with ``user_id`` when the label belongs to an account)."""
    if isinstance(who, Principal):
        user_id = who.user_id
        actor = who.actor
        channel = channel or who.channel
    else:
        actor = who or "anonymous"
    conn.execute(
        insert(AuditEntry).values(
            at=now or utc_now(),
            user_id=user_id,
            actor=actor[:320],
            action=action[:40],
            object_type=object_type[:40],
            object_id=None if object_id is None else str(object_id)[:200],
            organisation_id=organisation_id,
            channel=channel or "web",
            ip=ip,
            detail=detail,
        )
    )


def recent_entries(
    conn: Connection, *, limit: int = 200, user_id: int | None = None, action: str | None = None
) -> list[AuditRecord]:
    query = select(
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.user_id,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.object_type,
        AuditEntry.object_id,
        AuditEntry.organisation_id,
        AuditEntry.channel,
        AuditEntry.ip,
        AuditEntry.detail,
    ).order_by(AuditEntry.id.desc())
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return [AuditRecord(*row) for row in conn.execute(query.limit(limit)).all()]
