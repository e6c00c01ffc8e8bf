"""Tables of the web application: accounts, server-side sessions, login attempts, API tokens, the audit
log and the regulator's grants that let an organisation see (anonymised) peers.

Secrets are never stored: sessions and API tokens are kept as SHA-256 digests of the random values the
browser or client holds, so a copy of the database cannot be replayed as a login.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId


class Role(enum.StrEnum):
    """What an account may do. Survey respondents have no account: they hold a token link."""

    ADMIN = "admin"  # everything, including accounts, surveys and imports
    ANALYST = "analyst"  # a regulator's analyst: every organisation, imports
    MEMBER = (
        "member"  # an organisation's member: their own organisation and anonymised peers the regulator allows
    )


def _role_enum() -> Enum:
    return Enum(
        Role, name="user_role", native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(500))
    role: Mapped[Role] = mapped_column(_role_enum())
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # An optional second factor (accounts.totp): the shared key, when a first code confirmed it, and the time
    # step of the last code accepted (no code is accepted twice).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)


class WebSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 of the cookie value; the CSRF token is the session's."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginAttempt(Base):
    """Every sign-in attempt, kept for throttling and for the audit of failed attempts."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_attempted_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_attempted_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(64))
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean)


class ApiToken(Base):
    """A bearer token for programmatic use; acts with its owner's role. Only its digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so an owner can tell tokens apart
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who viewed or changed what, when, and through which door (web page, API, survey link)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(
        String(320)
    )  # email, "anonymous" or "survey-token"; kept if the user goes
    action: Mapped[str] = mapped_column(
        String(40)
    )  # view, create, update, delete, sign_in, sign_in_failed, ...
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(Integer)  # not a foreign key: the log outlives rows
    channel: Mapped[str] = mapped_column(String(10))  # web | api | cli
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)


class PeerGrant(Base):
    """The regulator lets members of ``organisation_id`` see ``peer_organisation_id``, anonymised."""

    __tablename__ = "peer_grants"
    __table_args__ = (UniqueConstraint("organisation_id", "peer_organisation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    peer_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    granted_by: Mapped[str] = mapped_column(String(320))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


__all__ = ["ApiToken", "AuditEntry", "Base", "LoginAttempt", "PeerGrant", "Role", "User", "WebSession"]
