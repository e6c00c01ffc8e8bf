"""An optional second factor for analysts and administrators: time-based one-time passwords (TOTP).

The code is HOTP (RFC 4226) over the 30-second time step (RFC 6238), six digits, HMAC-SHA1: what authenticator
apps (and ``pyotp``, which computes it here) use by default. A code is accepted for the current step and one step
either side (RFC 6238 section 5.2 allows for clock drift), and never twice: the step of the last accepted code is
stored and only later steps are accepted, so a code seen over someone's shoulder cannot be replayed.

Enrolment is in two steps: a new key is stored with the account (not yet in force), shown to its owner as a
``otpauth://`` URI and as text, and turned on only when a code made from it is entered. Members cannot enrol:
their accounts reach one organisation's data; analysts and administrators reach every organisation's.

The key is stored as it is (base32) in ``users.totp_secret``: whoever can read the users table can make codes,
so backups of the store must be kept as the passwords' hashes are. An API token is not asked for a code.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass

import pyotp
from sqlalchemy import Connection, select, update

from forewarn.access.principal import utc_now
from forewarn.store.models_web import Role, User

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "Forewarn"
ROLES_THAT_MAY_ENROL = frozenset({Role.ANALYST, Role.ADMIN})
_CODE = re.compile(r"^\d{6}$")


class TwoStepError(ValueError):
    """A second-factor request that cannot be met (the message says why, for the person)."""


@dataclass(frozen=True)
class TwoStep:
    """An account's second factor: ``secret`` set once enrolment has started, ``enabled`` once confirmed."""

    user_id: int
    email: str
    role: Role
    secret: str | None
    enabled: bool
    last_counter: int | None

    @property
    def pending(self) -> bool:
        return self.secret is not None and not self.enabled


def time_step(when: dt.datetime) -> int:
    """The RFC 6238 time step (``T``) of a moment: whole 30-second steps since the Unix epoch."""
    return int(when.timestamp()) // STEP_SECONDS


def code_for_step(secret: str, step: int) -> str:
    """The six-digit code of a time step (RFC 4226 HOTP of the step's counter)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def normalise_code(code: str) -> str:
    """Authenticator apps show codes as ``123 456``: spaces and hyphens are dropped."""
    return re.sub(r"[\s-]", "", code or "")


def accepted_step(secret: str, code: str, now: dt.datetime, last_counter: int | None) -> int | None:
    """The time step whose code ``code`` is, within one step of ``now`` and after ``last_counter``; else None.

    Every candidate is compared in constant time, whether or not an earlier one matched."""
    code = normalise_code(code)
    if not _CODE.match(code):
        return None
    current = time_step(now)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_for_step(secret, step), code) and (
            last_counter is None or step > last_counter
        ):
            found = step if found is None else found
    return found


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (Google Authenticator's "Key Uri Format")."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=ISSUER
    )


def two_step_of(conn: Connection, user_id: int) -> TwoStep | None:
    row = conn.execute(
        select(
            User.id, User.email, User.role, User.totp_secret, User.totp_enabled_at, User.totp_last_counter
        ).where(User.id == user_id)
    ).first()
    if row is None:
        return None
    return TwoStep(
        user_id=int(row.id),
        email=row.email,
        role=row.role,
        secret=row.totp_secret,
        enabled=row.totp_enabled_at is not None,
        last_counter=row.totp_last_counter,
    )


def begin_enrolment(conn: Connection, user_id: int) -> str:
    """Store a new key with the account, not yet in force (a second factor already on stays on until turned
    off); return it."""
    found = two_step_of(conn, user_id)
    if found is None:
        raise TwoStepError("There is no such account.")
    if found.role not in ROLES_THAT_MAY_ENROL:
        raise TwoStepError("Two-step sign-in is for analysts and administrators.")
    if found.enabled:
        raise TwoStepError("Two-step sign-in is already on for this account: turn it off first.")
    secret = pyotp.random_base32()
    conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(totp_secret=secret, totp_enabled_at=None, totp_last_counter=None)
    )
    return secret


def confirm_enrolment(conn: Connection, user_id: int, code: str, now: dt.datetime | None = None) -> bool:
    """Turn the second factor on if ``code`` is made from the pending key; False (nothing changed) if not."""
    now = now or utc_now()
    found = two_step_of(conn, user_id)
    if found is None or not found.pending or found.secret is None:
        raise TwoStepError("Start setting up two-step sign-in first.")
    step = accepted_step(found.secret, code, now, found.last_counter)
    if step is None:
        return False
    conn.execute(update(User).where(User.id == user_id).values(totp_enabled_at=now, totp_last_counter=step))
    return True


def check_code(conn: Connection, user_id: int, code: str, now: dt.datetime | None = None) -> bool:
    """At sign-in: True, and the code's step stored so it cannot be used again, if ``code`` is valid now."""
    now = now or utc_now()
    found = two_step_of(conn, user_id)
    if found is None or not found.enabled or found.secret is None:
        return False
    step = accepted_step(found.secret, code, now, found.last_counter)
    if step is None:
        return False
    # Only a later step may be stored: of two requests racing with the same code, one wins.
    won = conn.execute(
        update(User)
        .where(User.id == user_id, (User.totp_last_counter.is_(None)) | (User.totp_last_counter < step))
        .values(totp_last_counter=step)
    ).rowcount
    return bool(won)


def turn_off(conn: Connection, user_id: int) -> None:
    """Remove the second factor (its owner, or an administrator for an account whose device is lost)."""
    conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(totp_secret=None, totp_enabled_at=None, totp_last_counter=None)
    )


def needs_code(conn: Connection, user_id: int) -> bool:
    """Whether signing in to this account needs a code after the password."""
    found = two_step_of(conn, user_id)
    return found is not None and found.enabled
