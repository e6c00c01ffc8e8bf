"""Signing in: slowed down per account and per address after failures, timing-safe, rehashing old hashes on
success."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from forewarn.access.principal import as_utc, utc_now
from forewarn.accounts.passwords import MAX_PASSWORD_LENGTH, Passwords
from forewarn.accounts.users import normalise_email
from forewarn.settings import default
from forewarn.store.models_web import LoginAttempt, User


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed sign-ins slow further attempts down; they never lock anyone out for long.

    Per account (the email typed, whether or not it exists, so a refusal says nothing about existence) and per
    client address (one address guessing many accounts), failures within ``window`` are counted (for the
    account, only those since its last success). The first ``max_failures_per_...`` cost nothing; after that the
    next attempt must wait ``first_delay`` from the latest failure, doubling with each further failure up to
    ``max_delay``. Attempts refused while waiting are not checked and not recorded, so they do not lengthen the
    wait: the account's owner can always try again within ``max_delay`` (OWASP Authentication Cheat Sheet:
    exponential delay rather than lockout, which an attacker could use to keep the owner out).
    """

    max_failures_per_account: int = default("signin_max_failures_per_account")
    max_failures_per_address: int = default("signin_max_failures_per_address")
    window: dt.timedelta = dt.timedelta(minutes=default("signin_throttle_minutes"))
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(seconds=default("signin_max_delay_seconds"))

    def __post_init__(self) -> None:
        if self.max_failures_per_account < 1 or self.max_failures_per_address < 1:
            raise ValueError("throttle limits must be at least 1")
        if self.window <= dt.timedelta(0):
            raise ValueError("throttle window must be positive")
        if self.first_delay <= dt.timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("the first delay must be positive and no longer than the longest delay")

    def delay(self, failures: int, free: int) -> dt.timedelta:
        """The wait after ``failures`` counted failures of which ``free`` cost nothing."""
        extra = failures - free
        if extra < 0:
            return dt.timedelta(0)
        if extra >= 40:  # 2**40 seconds is beyond any cap; avoids huge numbers
            return self.max_delay
        return min(self.first_delay * (1 << extra), self.max_delay)


class SignInOutcome(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user_id: int | None = None
    retry_after: dt.timedelta | None = None


def _failures_since(
    conn: Connection, *, email: str | None = None, ip: str | None = None, since: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """How many failures since ``since``, and the latest."""
    who = LoginAttempt.email == email if email is not None else LoginAttempt.ip == ip
    row = conn.execute(
        select(func.count(), func.max(LoginAttempt.attempted_at)).where(
            who,
            LoginAttempt.attempted_at >= since,
            LoginAttempt.succeeded.is_(False),
        )
    ).one()
    return int(row[0]), (as_utc(row[1]) if row[1] is not None else None)


def throttled_for(
    conn: Connection, email: str, ip: str | None, policy: ThrottlePolicy, now: dt.datetime
) -> dt.timedelta | None:
    """How long until this email (or address) may try again; None when it may try now."""
    since = now - policy.window
    last_success = conn.execute(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    ).scalar_one()
    if last_success is not None and as_utc(last_success) > since:
        since = as_utc(last_success)
    waits = [dt.timedelta(0)]
    failures, latest = _failures_since(conn, email=email, since=since)
    if latest is not None:
        waits.append(latest + policy.delay(failures, policy.max_failures_per_account) - now)
    if ip:
        failures, latest = _failures_since(conn, ip=ip, since=now - policy.window)
        if latest is not None:
            waits.append(latest + policy.delay(failures, policy.max_failures_per_address) - now)
    wait = max(waits)
    return wait if wait > dt.timedelta(0) else None


@dataclass(frozen=True)
class CredentialCheck:
    """What :func:`check_credentials` found, for :func:`record_check` to write."""

    email: str
    ip: str | None
    now: dt.datetime
    ok: bool
    user_id: int | None = None
    new_hash: str | None = None
    throttled_for: dt.timedelta | None = None


def check_credentials(
    conn: Connection,
    passwords: Passwords,
    email: str,
    password: str,
    *,
    ip: str | None,
    policy: ThrottlePolicy | None = None,
    now: dt.datetime | None = None,
) -> CredentialCheck:
    """Check an email and password, reading only: the slow password check runs outside any writing
    transaction (on SQLite, one holds the write lock for everybody). A throttled attempt is not checked."""
    policy = policy or ThrottlePolicy()
    now = now or utc_now()
    email = normalise_email(email)[:320]
    wait = throttled_for(conn, email, ip, policy, now)
    if wait is not None:
        return CredentialCheck(email, ip, now, ok=False, throttled_for=wait)
    row = conn.execute(select(User.id, User.password_hash, User.is_active).where(User.email == email)).first()
    stored = row.password_hash if row is not None and row.is_active else None
    if len(password) > MAX_PASSWORD_LENGTH:
        passwords.verify("", None)  # same cost as a real check, then refuse
        ok, new_hash = False, None
    else:
        ok, new_hash = passwords.verify(password, stored)
    user_id = int(row.id) if ok and row is not None else None
    return CredentialCheck(email, ip, now, ok=user_id is not None, user_id=user_id, new_hash=new_hash)


def record_check(conn: Connection, check: CredentialCheck) -> SignInResult:
    """Record a checked attempt (a throttled one is not recorded, so waiting does not lengthen the wait); on
    success stamp the sign-in and store a rehashed password."""
    if check.throttled_for is not None:
        return SignInResult(SignInOutcome.THROTTLED, retry_after=check.throttled_for)
    conn.execute(
        insert(LoginAttempt).values(
            email=check.email, ip=check.ip, attempted_at=check.now, succeeded=check.ok
        )
    )
    if not check.ok or check.user_id is None:
        return SignInResult(SignInOutcome.BAD_CREDENTIALS)
    values: dict[str, object] = {"last_login_at": check.now}
    if check.new_hash is not None:
        values["password_hash"] = check.new_hash
    conn.execute(update(User).where(User.id == check.user_id).values(**values))
    return SignInResult(SignInOutcome.OK, user_id=check.user_id)


def record_code_attempt(conn: Connection, email: str, ip: str | None, now: dt.datetime, *, ok: bool) -> None:
    """Record a second-step code attempt with the sign-in attempts: a wrong code counts as a failed sign-in of the
    account (so guessing codes is slowed as guessing passwords is), a right one as a success."""
    conn.execute(insert(LoginAttempt).values(email=email, ip=ip, attempted_at=now, succeeded=ok))
