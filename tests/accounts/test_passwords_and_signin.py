"""Passwords (Argon2id through pwdlib), the dummy-hash defence, rehash on sign-in, and throttling.

References: OWASP Password Storage Cheat Sheet (Argon2id); NIST SP 800-63B section 5.1.1.2 (length, no
composition rules, a blocklist); full-stack-fastapi-template (dummy hash, rehash on login).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from forewarn.accounts.passwords import Argon2Parameters, Passwords, password_problems
from forewarn.accounts.signin import SignInOutcome, ThrottlePolicy, authenticate
from forewarn.accounts.users import AccountError, create_user, update_user
from forewarn.store.models_web import LoginAttempt, Role, User

CHEAP = Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


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


def test_throttling_per_account_lifts_after_the_window(
    engine: Engine, passwords: Passwords, user: int
) -> None:
    policy = ThrottlePolicy(
        max_failures_per_account=3, max_failures_per_address=100, window=dt.timedelta(minutes=10)
    )
    with engine.begin() as conn:
        for i in range(3):
            bad = authenticate(
                conn,
                passwords,
                "ann@example.org",
                "wrong",
                ip="1.1.1.1",
                policy=policy,
                now=T0 + dt.timedelta(seconds=i),
            )
            assert bad.outcome is SignInOutcome.BAD_CREDENTIALS
        locked = authenticate(
            conn,
            passwords,
            "ann@example.org",
            PASSWORD,
            ip="2.2.2.2",
            policy=policy,
            now=T0 + dt.timedelta(minutes=5),
        )
        assert locked.outcome is SignInOutcome.THROTTLED
        assert locked.retry_after == dt.timedelta(minutes=5)
        # The refusal was not recorded, so the lock ends one window after the failures.
        later = authenticate(
            conn,
            passwords,
            "ann@example.org",
            PASSWORD,
            ip="2.2.2.2",
            policy=policy,
            now=T0 + dt.timedelta(minutes=10, seconds=3),
        )
        assert later.outcome is SignInOutcome.OK
        attempts = conn.execute(select(LoginAttempt.succeeded)).scalars().all()
    assert attempts == [False, False, False, True]


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


def test_one_address_guessing_many_accounts_is_throttled(
    engine: Engine, passwords: Passwords, user: int
) -> None:
    policy = ThrottlePolicy(
        max_failures_per_account=100, max_failures_per_address=4, window=dt.timedelta(minutes=10)
    )
    with engine.begin() as conn:
        for i in range(4):
            authenticate(conn, passwords, f"guess{i}@example.org", "x", ip="6.6.6.6", policy=policy, now=T0)
        blocked = authenticate(
            conn, passwords, "ann@example.org", PASSWORD, ip="6.6.6.6", policy=policy, now=T0
        )
        elsewhere = authenticate(
            conn, passwords, "ann@example.org", PASSWORD, ip="7.7.7.7", policy=policy, now=T0
        )
    assert blocked.outcome is SignInOutcome.THROTTLED and elsewhere.outcome is SignInOutcome.OK


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
