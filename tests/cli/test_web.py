"""The web app's commands, through Typer's test runner (``serve`` itself is exercised by the browser tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from forewarn.access.principal import utc_now
from forewarn.accounts.totp import begin_enrolment, code_for_step, confirm_enrolment, needs_code, time_step
from forewarn.cli import web as commands
from forewarn.settings import get_settings
from forewarn.store.models import Organisation
from forewarn.store.models_web import User

app = typer.Typer()
app.command("serve")(commands.serve_command)
app.add_typer(commands.users_app, name="users")


@pytest.fixture
def store(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(code="RF4", name="Barking"))
    yield engine
    get_settings.cache_clear()


def test_users_create_and_list(store: Engine) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["users", "create", "m@example.org", "--role", "member", "--organisation", "RF4"],
        env={"FOREWARN_NEW_PASSWORD": "a long enough password"},
    )
    assert made.exit_code == 0, made.output
    assert "created member m@example.org of Barking" in made.output
    refused = runner.invoke(
        app, ["users", "create", "x@example.org", "--role", "member", "--password", "short"]
    )
    assert refused.exit_code == 1
    assert "password: Password must be 12 characters or more" in refused.output
    assert "organisation_code: a member needs the code of their organisation" in refused.output
    listed = runner.invoke(app, ["users", "list", "--json"])
    assert [u["email"] for u in json.loads(listed.stdout)] == ["m@example.org"]


def test_users_two_step_off_for_a_lost_device(store: Engine) -> None:
    """An administrator turns off an analyst's two-step sign-in; an unknown email names the problem."""
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["users", "create", "a@example.org", "--role", "analyst"],
        env={"FOREWARN_NEW_PASSWORD": "a long enough password"},
    )
    assert made.exit_code == 0, made.output
    with store.begin() as conn:
        user = conn.execute(select(User.id).where(User.email == "a@example.org")).scalar_one()
        secret = begin_enrolment(conn, user)
        assert confirm_enrolment(conn, user, code_for_step(secret, time_step(utc_now())))
    done = runner.invoke(app, ["users", "two-step-off", "A@example.org"])
    assert done.exit_code == 0 and "two-step sign-in turned off for A@example.org" in done.output
    with store.connect() as conn:
        assert not needs_code(conn, user)
    again = runner.invoke(app, ["users", "two-step-off", "a@example.org"])
    assert again.exit_code == 0 and "was not on" in again.output
    unknown = runner.invoke(app, ["users", "two-step-off", "nobody@example.org"])
    assert (
        unknown.exit_code == 1
        and "email: there is no account with the email 'nobody@example.org'" in unknown.output
    )
