"""The base of every model the app serves: frozen, times in UTC, no NUL characters."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, field_validator


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _timestamps_in_utc_and_no_nul(cls, value: object) -> object:
        """Every stored time is UTC; SQLite returns them without a zone. Say so: an RFC 3339 ``date-time``
        carries its offset. And no text holds a NUL character (PostgreSQL cannot store one)."""
        # Runs for every field of every model a page builds (hundreds a page): the common kinds first.
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
            return value
        if type(value) in _PLAIN:
            return value
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


_PLAIN = frozenset({int, float, bool, type(None), dt.date})


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False
