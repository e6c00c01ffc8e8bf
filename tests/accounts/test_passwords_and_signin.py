"""Passwords (Argon2id through pwdlib), the dummy-hash defence, rehash on sign-in, and throttling.

References: OWASP Password Storage Cheat Sheet (Argon2id); NIST SP 800-63B section 5.1.1.2 (length, no
composition rules, a blocklist); full-stack-fastapi-template (dummy hash, rehash on login).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, Engine, func, select

from forewarn.accounts.passwords import Argon2Parameters, Passwords, password_problems
from forewarn.accounts.signin import (
    SignInOutcome,
    SignInResult,
    ThrottlePolicy,
    check_credentials,
    record_check,
)
from forewarn.accounts.users import AccountError, create_user, update_user
from forewarn.store.models_web import LoginAttempt, Role, User

CHEAP = Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
T = dt.timedelta(0)
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def authenticate(
    conn: Connection, passwords: Passwords, email: str, password: str, **kw: object
) -> SignInResult:
    """Check and record a sign-in in one transaction (the web app runs the two steps in two)."""
    return record_check(conn, check_credentials(conn, passwords, email, password, **kw))  # type: ignore[arg-type]


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(CHEAP)


@pytest.fixture
def user(engine: Engine, passwords: Passwords) -> int:
    with engine.begin() as conn:
        return create_user(
            conn, passwords, email="Ann@Example.org", display_name="Ann", password=PASSWORD, role=Role.ANALYST
        )


def test_hashes_are_argon2id_and_never_the_password(engine: Engine, user: int) -> None:
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash, User.email).where(User.id == user)).one()
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert stored.email == "ann@example.org"


def test_unknown_accounts_cost_one_argon2_check_too(
    passwords: Passwords, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = passwords._hasher.verify_and_update

    def counting(password: str, hashed: str) -> tuple[bool, str | None]:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords._hasher, "verify_and_update", counting)
    assert passwords.verify("anything", None) == (False, None)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")
    assert passwords.verify("anything", "not a hash") == (False, None)


def test_an_old_hash_is_replaced_at_the_next_sign_in(engine: Engine, user: int) -> None:
    stronger = Passwords(Argon2Parameters(time_cost=2, memory_cost=2048, parallelism=1))
    with engine.begin() as conn:
        before = conn.execute(select(User.password_hash).where(User.id == user)).scalar_one()
        assert (
            authenticate(conn, stronger, "ann@example.org", PASSWORD, ip="1.2.3.4").outcome
            is SignInOutcome.OK
        )
        after = conn.execute(select(User.password_hash).where(User.id == user)).scalar_one()
    assert "m=1024,t=1" in before and "m=2048,t=2" in after


def test_disabled_accounts_cannot_sign_in(engine: Engine, passwords: Passwords, user: int) -> None:
    with engine.begin() as conn:
        update_user(conn, user, role=Role.ANALYST, organisation_id=None, is_active=False)
        result = authenticate(conn, passwords, "ann@example.org", PASSWORD, ip=None)
    assert result.outcome is SignInOutcome.BAD_CREDENTIALS


def _try(
    conn: Connection, passwords: Passwords, password: str, at: dt.timedelta, **kw: object
) -> SignInResult:
    kw.setdefault("ip", "1.1.1.1")
    return authenticate(conn, passwords, kw.pop("email", "ann@example.org"), password, now=T0 + at, **kw)  # type: ignore[arg-type]


def test_failures_beyond_the_free_ones_delay_the_next_try_exponentially_up_to_a_cap(
    engine: Engine, passwords: Passwords, user: int
) -> None:
    policy = ThrottlePolicy(
        max_failures_per_account=3,
        max_failures_per_address=100,
        window=dt.timedelta(minutes=15),
        first_delay=dt.timedelta(seconds=1),
        max_delay=dt.timedelta(seconds=30),
    )
    with engine.begin() as conn:
        for _ in range(3):  # free: no delay at all
            assert _try(conn, passwords, "wrong", T, policy=policy).outcome is SignInOutcome.BAD_CREDENTIALS
        # The third failure asks for 1 s; each further failure doubles it: 2, 4, 8, 16, then 30 (the cap).
        at, waits = T, []
        for _ in range(7):
            refused = _try(conn, passwords, "wrong", at, policy=policy)
            assert refused.outcome is SignInOutcome.THROTTLED and refused.retry_after is not None
            waits.append(refused.retry_after.total_seconds())
            at += refused.retry_after
            assert _try(conn, passwords, "wrong", at, policy=policy).outcome is SignInOutcome.BAD_CREDENTIALS
        assert waits == [1, 2, 4, 8, 16, 30, 30]
        # The owner is never locked out for longer than the cap: the right password works once it has passed,
        # and the refusals were not recorded, so they did not lengthen the wait.
        assert _try(conn, passwords, PASSWORD, at, policy=policy).outcome is SignInOutcome.THROTTLED
        assert _try(conn, passwords, PASSWORD, at + dt.timedelta(seconds=30), policy=policy).outcome is (
            SignInOutcome.OK
        )
        attempts = conn.execute(select(LoginAttempt.succeeded)).scalars().all()
    assert attempts == [False] * 10 + [True]


def test_failures_older_than_the_window_are_forgotten(
    engine: Engine, passwords: Passwords, user: int
) -> None:
    policy = ThrottlePolicy(max_failures_per_account=2, window=dt.timedelta(minutes=10))
    with engine.begin() as conn:
        for i in range(6):
            _try(conn, passwords, "wrong", dt.timedelta(minutes=i), policy=policy)
        assert _try(conn, passwords, PASSWORD, dt.timedelta(minutes=5), policy=policy).outcome is (
            SignInOutcome.THROTTLED
        )
        assert _try(conn, passwords, PASSWORD, dt.timedelta(minutes=16), policy=policy).outcome is (
            SignInOutcome.OK
        )


def test_a_success_clears_the_account_count(engine: Engine, passwords: Passwords, user: int) -> None:
    policy = ThrottlePolicy(max_failures_per_account=2, window=dt.timedelta(minutes=10))
    with engine.begin() as conn:
        authenticate(conn, passwords, "ann@example.org", "wrong", ip=None, policy=policy, now=T0)
        assert (
            authenticate(
                conn,
                passwords,
                "ann@example.org",
                PASSWORD,
                ip=None,
                policy=policy,
                now=T0 + dt.timedelta(seconds=1),
            ).outcome
            is SignInOutcome.OK
        )
        authenticate(
            conn,
            passwords,
            "ann@example.org",
            "wrong",
            ip=None,
            policy=policy,
            now=T0 + dt.timedelta(seconds=2),
        )
        again = authenticate(
            conn,
            passwords,
            "ann@example.org",
            PASSWORD,
            ip=None,
            policy=policy,
            now=T0 + dt.timedelta(seconds=3),
        )
    assert again.outcome is SignInOutcome.OK


def test_one_address_guessing_many_accounts_is_slowed_not_locked_out(
    engine: Engine, passwords: Passwords, user: int
) -> None:
    policy = ThrottlePolicy(
        max_failures_per_account=100,
        max_failures_per_address=4,
        window=dt.timedelta(minutes=10),
        max_delay=dt.timedelta(seconds=60),
    )
    with engine.begin() as conn:
        # One guess a second for ten minutes from one address (a proxy not configured as trusted looks so).
        for k in range(600):
            at = dt.timedelta(seconds=k)
            _try(conn, passwords, "x", at, email=f"guess{k}@example.org", ip="6.6.6.6", policy=policy)
        blocked = _try(conn, passwords, PASSWORD, dt.timedelta(seconds=600), ip="6.6.6.6", policy=policy)
        elsewhere = _try(conn, passwords, PASSWORD, dt.timedelta(seconds=600), ip="7.7.7.7", policy=policy)
        assert blocked.retry_after is not None
        later = _try(
            conn,
            passwords,
            PASSWORD,
            dt.timedelta(seconds=600) + blocked.retry_after,
            ip="6.6.6.6",
            policy=policy,
        )
        recorded = conn.execute(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ip == "6.6.6.6")
        ).scalar_one()
    assert blocked.outcome is SignInOutcome.THROTTLED
    assert dt.timedelta(0) < blocked.retry_after <= dt.timedelta(seconds=60)
    assert 4 < recorded < 30  # slowed: a few guesses a minute once the free ones are spent
    assert elsewhere.outcome is SignInOutcome.OK and later.outcome is SignInOutcome.OK


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "12 characters or more"),
        ("password1234", "too common"),
        ("aaaaaaaaaaaaaaa", "too easy to guess"),
        ("ann@example.org", "must not be your email address"),
        ("x" * 257, "256 characters or fewer"),
    ],
)
def test_password_rules(password: str, problem: str) -> None:
    assert problem in password_problems(password, "ann@example.org")[0]
    assert password_problems("three random words here", "ann@example.org") == []


def test_bad_accounts_are_refused_field_by_field(engine: Engine, passwords: Passwords, user: int) -> None:
    with engine.begin() as conn, pytest.raises(AccountError) as info:
        create_user(
            conn, passwords, email="ann@example.org", display_name=" ", password="short", role=Role.MEMBER
        )
    assert set(info.value.problems) == {"email", "display_name", "password", "organisation_id"}


def test_the_last_administrator_cannot_be_demoted(engine: Engine, passwords: Passwords) -> None:
    with engine.begin() as conn:
        admin = create_user(
            conn, passwords, email="boss@example.org", display_name="Boss", password=PASSWORD, role=Role.ADMIN
        )
        with pytest.raises(AccountError, match="last active administrator"):
            update_user(conn, admin, role=Role.ANALYST, organisation_id=None, is_active=True)


def test_argon2_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="memory_cost"):
        Argon2Parameters(time_cost=1, memory_cost=4, parallelism=1)


@pytest.mark.parametrize("password", ["Password123!", "qwerty123456", "Qwerty123456!", "P@ssw0rd2024!"])
def test_common_and_breached_passwords_are_refused(password: str) -> None:
    problems = password_problems(password, "ann@example.org")
    assert problems and "too common" in problems[0], problems


def test_weak_passwords_are_refused_with_the_reason_and_the_name_counts() -> None:
    problems = password_problems("annsmith2024", "ann.smith@example.org", "Ann Smith")
    assert problems and "easy to guess" in problems[0], problems
    assert password_problems("annsmith2024", "bob@example.org", "Bob") == []
