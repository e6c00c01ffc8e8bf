"""Who is asking: the signed-in account behind a request, whichever door it came through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from forewarn.store.models_web import Role

Channel = Literal["web", "api", "cli"]


@dataclass(frozen=True)
class Principal:
    """An authenticated account. ``session_id`` and ``csrf_token`` are set for browser sessions only."""

    user_id: int
    email: str
    display_name: str
    role: Role
    organisation_id: int | None
    channel: Channel
    session_id: str | None = None
    csrf_token: str | None = None
    signed_in_at: dt.datetime | None = None
    """When the password was last entered for this session (sign-in, or confirming it again); browser only."""

    def entered_password_since(self, since: dt.datetime) -> bool:
        """Whether this is a browser session whose password was entered at or after ``since``."""
        return self.signed_in_at is not None and as_utc(self.signed_in_at) >= since

    @property
    def actor(self) -> str:
        return self.email


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone-aware columns; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


__all__ = ["Channel", "Principal", "Role", "as_utc", "utc_now"]
