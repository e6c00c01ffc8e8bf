"""Server-side sessions: the browser holds a random token; the database its SHA-256 and the CSRF token."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from forewarn.access.principal import Principal, as_utc, utc_now
from forewarn.settings import default
from forewarn.store.models_web import User, WebSession


@dataclass(frozen=True)
class SessionPolicy:
    """A session ends after ``idle`` without requests or ``absolute`` after sign-in, whichever is first."""

    idle: dt.timedelta = dt.timedelta(minutes=default("session_idle_minutes"))
    absolute: dt.timedelta = dt.timedelta(hours=default("session_absolute_hours"))
    touch_every: dt.timedelta = dt.timedelta(minutes=1)  # saves a write on every request

    def __post_init__(self) -> None:
        if self.idle <= dt.timedelta(0) or self.absolute < self.idle:
            raise ValueError("session idle time must be positive and no longer than its absolute lifetime")


@dataclass(frozen=True)
class NewSession:
    token: str  # goes in the cookie, never stored
    session_id: str
    csrf_token: str
    expires_at: dt.datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    conn: Connection,
    user_id: int,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    policy: SessionPolicy | None = None,
    now: dt.datetime | None = None,
) -> NewSession:
    policy = policy or SessionPolicy()
    now = now or utc_now()
    token = secrets.token_urlsafe(32)
    session_id = digest(token)
    csrf = secrets.token_urlsafe(32)
    expires = now + policy.idle
    conn.execute(
        insert(WebSession).values(
            id=session_id,
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return NewSession(token=token, session_id=session_id, csrf_token=csrf, expires_at=expires)


@dataclass(frozen=True)
class SessionUpkeep:
    """A write a session lookup calls for: end an expired session, or move its last use and expiry on."""

    session_id: str
    end: bool = False
    last_seen_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


# Built once: it runs on every request, and constructing it cost more CPU than running it.
_SESSION_AND_USER = (
    select(
        WebSession.csrf_token,
        WebSession.created_at,
        WebSession.last_seen_at,
        WebSession.expires_at,
        User.id,
        User.email,
        User.display_name,
        User.role,
        User.organisation_id,
        User.is_active,
    )
    .join(User, User.id == WebSession.user_id)
    .where(WebSession.id == bindparam("session_id"))
)


def look_up_session(
    conn: Connection, token: str, *, policy: SessionPolicy | None = None, now: dt.datetime | None = None
) -> tuple[Principal | None, SessionUpkeep | None]:
    """The account behind a session cookie (None when the session is unknown, expired or disabled), reading only;
    and the write the lookup calls for, if any, for :func:`keep_up_session`."""
    if not token or len(token) > 200:
        return None, None
    policy = policy or SessionPolicy()
    now = now or utc_now()
    session_id = digest(token)
    row = conn.execute(_SESSION_AND_USER, {"session_id": session_id}).first()
    if row is None:
        return None, None
    created, last_seen, expires = as_utc(row.created_at), as_utc(row.last_seen_at), as_utc(row.expires_at)
    if not row.is_active or now >= expires or now >= created + policy.absolute:
        return None, SessionUpkeep(session_id, end=True)
    upkeep = None
    if now - last_seen >= policy.touch_every:
        upkeep = SessionUpkeep(
            session_id, last_seen_at=now, expires_at=min(now + policy.idle, created + policy.absolute)
        )
    principal = Principal(
        user_id=int(row.id),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        organisation_id=row.organisation_id,
        channel="web",
        session_id=session_id,
        csrf_token=row.csrf_token,
        signed_in_at=created,
    )
    return principal, upkeep


def keep_up_session(conn: Connection, upkeep: SessionUpkeep) -> None:
    """Write what :func:`look_up_session` called for."""
    if upkeep.end:
        conn.execute(delete(WebSession).where(WebSession.id == upkeep.session_id))
    else:
        conn.execute(
            update(WebSession)
            .where(WebSession.id == upkeep.session_id)
            .values(last_seen_at=upkeep.last_seen_at, expires_at=upkeep.expires_at)
        )


def end_session(conn: Connection, session_id: str) -> None:
    conn.execute(delete(WebSession).where(WebSession.id == session_id))


def purge_expired_sessions(conn: Connection, now: dt.datetime | None = None) -> int:
    now = now or utc_now()
    return int(conn.execute(delete(WebSession).where(WebSession.expires_at <= now)).rowcount)
