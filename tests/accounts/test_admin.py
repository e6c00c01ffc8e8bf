"""Accounts from the command line, and the demo's sign-in instructions."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert

from forewarn.accounts.admin import accounts, create_account
from forewarn.accounts.audit import recent_entries
from forewarn.accounts.demo import DemoUser
from forewarn.accounts.passwords import Argon2Parameters
from forewarn.accounts.users import AccountError
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role
from forewarn.web.server import sign_in_instructions

CHEAP = Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)


def test_create_account_finds_the_organisation_by_code_and_audits(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(code="RF4", name="Barking"))
    made = create_account(
        engine,
        email="m@example.org",
        display_name="",
        password="a long password here",
        role=Role.MEMBER,
        organisation_code="RF4",
        argon2=CHEAP,
    )
    assert (made.display_name, made.organisation_name, made.role) == ("m", "Barking", Role.MEMBER)
    assert [a.email for a in accounts(engine)] == ["m@example.org"]
    with engine.connect() as conn:
        entry = recent_entries(conn)[0]
    assert (entry.action, entry.channel, entry.actor) == ("create", "cli", "command line")
    with pytest.raises(AccountError, match="no organisation with the code"):
        create_account(
            engine,
            email="x@example.org",
            display_name="X",
            password="a long password here",
            role=Role.MEMBER,
            organisation_code="NOPE",
            argon2=CHEAP,
        )


def test_sign_in_instructions_name_every_demo_account() -> None:
    text = sign_in_instructions(
        [
            DemoUser("a@demo", "pw one two three", Role.ADMIN, "A"),
            DemoUser("m@demo", "pw four", Role.MEMBER, "M", "Trust"),
        ],
        "http://127.0.0.1:8000",
    )
    assert "http://127.0.0.1:8000" in text
    assert "admin    a@demo  password: pw one two three" in text
    assert "m@demo  password: pw four, Trust (and anonymised peers)" in text
