"""API tokens for programmatic use (``Authorization: Bearer ...``). Shown once; stored as SHA-256 digests."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from forewarn.access.principal import Principal, as_utc, utc_now
from forewarn.accounts.sessions import digest
from forewarn.store.models_web import ApiToken, User

TOKEN_PREFIX = "fwt_"


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str  # the only time the full token exists outside the client
    prefix: str


@dataclass(frozen=True)
class TokenRecord:
    id: int
    user_id: int
    user_email: str
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or as_utc(self.expires_at) > utc_now())


def issue_token(
    conn: Connection,
    user_id: int,
    name: str,
    *,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> IssuedToken:
    if not name.strip():
        raise ValueError("give the token a name that says what it is for")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[: len(TOKEN_PREFIX) + 6]
    token_id = conn.execute(
        insert(ApiToken)
        .values(
            user_id=user_id,
            name=name.strip()[:200],
            token_hash=digest(token),
            prefix=prefix,
            created_at=now or utc_now(),
            expires_at=expires_at,
        )
        .returning(ApiToken.id)
    ).scalar_one()
    return IssuedToken(id=int(token_id), token=token, prefix=prefix)


@dataclass(frozen=True)
class TokenUse:
    """A write a token lookup calls for: the token's last use moved on (at most once a minute)."""

    token_id: int
    at: dt.datetime


def look_up_token(
    conn: Connection, token: str, *, now: dt.datetime | None = None
) -> tuple[Principal | None, TokenUse | None]:
    """The account behind a bearer token (None when unknown, revoked, expired or its account disabled), reading
    only; with the write the lookup calls for (see :func:`record_token_use`), done by the caller in a short
    writing transaction of its own."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None, None
    now = now or utc_now()
    row = conn.execute(
        select(
            ApiToken.id,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
            User.id.label("user_id"),
            User.email,
            User.display_name,
            User.role,
            User.organisation_id,
            User.is_active,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(token))
    ).first()
    if row is None or row.revoked_at is not None or not row.is_active:
        return None, None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None, None
    use = None
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= dt.timedelta(minutes=1):
        use = TokenUse(int(row.id), now)
    principal = Principal(
        user_id=int(row.user_id),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        organisation_id=row.organisation_id,
        channel="api",
    )
    return principal, use


def record_token_use(conn: Connection, use: TokenUse) -> None:
    """Write what :func:`look_up_token` called for."""
    conn.execute(update(ApiToken).where(ApiToken.id == use.token_id).values(last_used_at=use.at))


def list_tokens(conn: Connection, user_id: int | None = None) -> list[TokenRecord]:
    query = (
        select(
            ApiToken.id,
            ApiToken.user_id,
            User.email,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.expires_at,
            ApiToken.revoked_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [TokenRecord(*row) for row in conn.execute(query).all()]


def revoke_token(conn: Connection, token_id: int, *, owner_id: int | None = None) -> bool:
    """Revoke a token (only the owner's, when ``owner_id`` is given); False when there was none to revoke."""
    query = update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    if owner_id is not None:
        query = query.where(ApiToken.user_id == owner_id)
    return bool(conn.execute(query.values(revoked_at=utc_now())).rowcount)
