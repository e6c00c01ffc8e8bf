"""The second factor: codes are RFC 6238's (its Appendix B test vectors), accepted within one step of drift, never
twice, and only for analysts and administrators."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import Engine, insert

from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.totp import (
    TwoStepError,
    accepted_step,
    begin_enrolment,
    check_code,
    code_for_step,
    confirm_enrolment,
    needs_code,
    provisioning_uri,
    time_step,
    turn_off,
    two_step_of,
)
from forewarn.accounts.users import create_user
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role

# RFC 6238 Appendix B: the SHA-1 key is the ASCII string "12345678901234567890"; its eight-digit codes at these
# Unix times. A six-digit code is the same value modulo 10**6 (RFC 4226 section 5.3), i.e. its last six digits.
RFC_KEY = base64.b32encode(b"12345678901234567890").decode("ascii")
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
FAST = Passwords(Argon2Parameters(time_cost=1, memory_cost=8, parallelism=1))


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


@pytest.mark.parametrize(("seconds", "eight_digits"), RFC_VECTORS)
def test_codes_are_rfc_6238s(seconds: int, eight_digits: str) -> None:
    step = time_step(at(seconds))
    assert step == seconds // 30
    assert code_for_step(RFC_KEY, step) == eight_digits[-6:]
    assert accepted_step(RFC_KEY, eight_digits[-6:], at(seconds), None) == step


def test_one_step_of_drift_either_side_and_no_more() -> None:
    now = at(1234567890)
    step = time_step(now)
    for offset, accepted in [(-2, False), (-1, True), (0, True), (1, True), (2, False)]:
        code = code_for_step(RFC_KEY, step + offset)
        assert (accepted_step(RFC_KEY, code, now, None) == step + offset) is accepted, offset


def test_spaces_are_ignored_and_anything_but_six_digits_is_refused() -> None:
    now = at(1234567890)
    code = code_for_step(RFC_KEY, time_step(now))
    assert accepted_step(RFC_KEY, f"{code[:3]} {code[3:]}", now, None) == time_step(now)
    for bad in ["", "12345", "1234567", "abcdef", code + "0"]:
        assert accepted_step(RFC_KEY, bad, now, None) is None


def test_a_step_at_or_before_the_last_accepted_is_refused() -> None:
    now = at(1234567890)
    step = time_step(now)
    code = code_for_step(RFC_KEY, step)
    assert accepted_step(RFC_KEY, code, now, step) is None
    assert accepted_step(RFC_KEY, code, now, step - 1) == step


def test_the_provisioning_uri_carries_the_key_and_the_issuer() -> None:
    uri = provisioning_uri(RFC_KEY, "ana@example.org")
    assert uri.startswith("otpauth://totp/Forewarn:ana%40example.org?")
    assert f"secret={RFC_KEY}" in uri and "issuer=Forewarn" in uri


def _user(engine: Engine, role: Role, email: str) -> int:
    with engine.begin() as conn:
        organisation = None
        if role is Role.MEMBER:
            organisation = int(
                conn.execute(
                    insert(Organisation).values(code="ORG1", name="Org").returning(Organisation.id)
                ).scalar_one()
            )
        return create_user(
            conn,
            FAST,
            email=email,
            display_name="Someone",
            password="correct horse battery staple 42",
            role=role,
            organisation_id=organisation,
        )


def test_enrol_confirm_sign_in_once_per_code_then_turn_off(engine: Engine) -> None:
    user = _user(engine, Role.ANALYST, "ana@example.org")
    now = at(1_800_000_000)
    with engine.begin() as conn:
        secret = begin_enrolment(conn, user)
        assert not needs_code(conn, user)  # not in force until a code confirms it
        wrong = "000000" if code_for_step(secret, time_step(now)) != "000000" else "111111"
        assert not confirm_enrolment(conn, user, wrong, now)
        assert confirm_enrolment(conn, user, code_for_step(secret, time_step(now)), now)
        assert needs_code(conn, user)
        with pytest.raises(TwoStepError, match="already on"):
            begin_enrolment(conn, user)
    later = now + dt.timedelta(seconds=60)
    code = code_for_step(secret, time_step(later))
    with engine.begin() as conn:
        assert not check_code(
            conn, user, code_for_step(secret, time_step(now)), later
        )  # the enrolment code: used
        assert check_code(conn, user, code, later)
        assert not check_code(conn, user, code, later)  # never twice
        found = two_step_of(conn, user)
        assert found is not None and found.last_counter == time_step(later)
        turn_off(conn, user)
        assert not needs_code(conn, user) and not check_code(conn, user, code, later)


def test_members_cannot_enrol(engine: Engine) -> None:
    user = _user(engine, Role.MEMBER, "member@example.org")
    with engine.begin() as conn, pytest.raises(TwoStepError, match="analysts and administrators"):
        begin_enrolment(conn, user)
