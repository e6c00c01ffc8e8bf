"""The web app's commands, through Typer's test runner (``serve`` itself is exercised by the browser tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from forewarn.cli import web as commands
from forewarn.settings import get_settings
from forewarn.store.models import Organisation

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
