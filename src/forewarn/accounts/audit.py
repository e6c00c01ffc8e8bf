"""The audit log: who viewed or changed what. Written in the same transaction as a change it records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, insert, select

from forewarn.access.principal import Channel, Principal, utc_now
from forewarn.store.database import writes_on
from forewarn.store.models_web import AuditEntry

_COLUMNS = (
    "at",
    "user_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "organisation_id",
    "channel",
    "ip",
    "detail",
)
# Built once: building an insert per entry cost more CPU than writing it (a page view, bench/web_bench.py).
_INSERT = insert(AuditEntry)
# On PostgreSQL, one autocommitted statement whose commit does not wait for its WAL to reach the disk:
# ``set_config(..., true)`` sets synchronous_commit for its own transaction only (PostgreSQL manual, "Asynchronous
# Commit" and "Configuration Settings Functions"), so a page view costs one round trip, not four.
_INSERT_NOT_DURABLE = insert(AuditEntry).from_select(
    _COLUMNS,
    select(*(bindparam(name, type_=AuditEntry.__table__.c[name].type) for name in _COLUMNS)).where(
        func.set_config("synchronous_commit", "off", True).is_not(None)
    ),
)


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
    conn.execute(
        _INSERT,
        _values(who, action, object_type, object_id, organisation_id, channel, ip, detail, now, user_id),
    )


def record_not_durable(
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
) -> None:
    """Append one entry that a server crash may lose (a page view; never a change's record) and commit it, on a
    request's read connection: on PostgreSQL in autocommit, one statement committed without a disk flush; else in
    a short transaction of its own (:func:`forewarn.store.database.writes_on` with ``durable=False``)."""
    values = _values(who, action, object_type, object_id, organisation_id, channel, ip, detail, None, None)
    autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if conn.dialect.name == "postgresql" and autocommit:
        conn.execute(_INSERT_NOT_DURABLE, values)
        return
    with writes_on(conn, durable=False):
        conn.execute(_INSERT, values)


def _values(
    who: Principal | str | None,
    action: str,
    object_type: str,
    object_id: str | int | None,
    organisation_id: int | None,
    channel: Channel | None,
    ip: str | None,
    detail: dict[str, object] | None,
    now: dt.datetime | None,
    user_id: int | None,
) -> dict[str, object]:
    if isinstance(who, Principal):
        user_id = who.user_id
        actor = who.actor
        channel = channel or who.channel
    else:
        actor = who or "anonymous"
    return {
        "at": now or utc_now(),
        "user_id": user_id,
        "actor": actor[:320],
        "action": action[:40],
        "object_type": object_type[:40],
        "object_id": None if object_id is None else str(object_id)[:200],
        "organisation_id": organisation_id,
        "channel": channel or "web",
        "ip": ip,
        "detail": detail,
    }


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
