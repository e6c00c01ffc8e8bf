"""``forewarn digest send``: against a local SMTP server started by the test (aiosmtpd). The member whose trust
drifts gets who to learn from as the organisation page shows it to them (neighbours they may not open unnamed);
the analyst gets the summary with names; a member whose organisation does not drift, and the administrator, get
nothing; ``--dry-run`` sends nothing; an unset server is refused."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.settings import get_settings
from forewarn.store.models_web import AuditEntry
from tests.peers.test_learn_from_web import add_practice_note, add_rising_risk
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def runner(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[CliRunner]:
    add_rising_risk(engine, world.ids["OWN"])
    add_practice_note(engine, "HIDE1")
    monkeypatch.setenv("FOREWARN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FOREWARN_PUBLIC_URL", "https://forewarn.example")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def test_the_digest_reaches_each_reader_with_what_they_may_see(
    runner: CliRunner,
    smtp_server: tuple[Inbox, int],
    engine: Engine,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp_server
    monkeypatch.setenv("FOREWARN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FOREWARN_SMTP_PORT", str(port))
    monkeypatch.setenv("FOREWARN_SMTP_TLS", "none")
    monkeypatch.setenv("FOREWARN_SMTP_FROM", "digest@forewarn.example")
    get_settings.cache_clear()
    done = runner.invoke(app, ["digest", "send"])
    assert done.exit_code == 0, done.output
    member = inbox.to(world.emails["member"])
    assert len(member) == 1
    body = _body(member[0])
    assert member[0]["From"] == "digest@forewarn.example"
    assert member[0]["Subject"] == "Forewarn: who to learn from now (Alpha Own Trust)"
    assert "The risk score rose to 20.0%" in body and "Seen within four hours" in body
    assert "Neighbour 1: improving" in body
    assert "Triage at the door (everyone)" in body
    assert f"https://forewarn.example/organisations/{world.ids['OWN']}/neighbours?indicator=perf" in body
    for secret in SECRET_WORDS_FOR_MEMBER:
        assert secret not in body and secret not in member[0]["Subject"]
    analyst = inbox.to(world.emails["analyst"])
    assert len(analyst) == 1
    summary = _body(analyst[0])
    assert (
        "Organisations with a leading signal drifting towards concern: 1; with positive deviants" in summary
    )
    assert "Alpha Own Trust" in summary and "Charlie Hidden Trust: improving" in summary
    assert inbox.to(world.emails["other_member"]) == [] and inbox.to(world.emails["admin"]) == []
    assert len(inbox.messages) == 2
    with engine.connect() as conn:
        sent = conn.execute(
            select(AuditEntry.object_id, AuditEntry.organisation_id).where(AuditEntry.action == "send")
        ).all()
    assert sorted(sent, key=str) == sorted(
        [(world.emails["member"], world.ids["OWN"]), (world.emails["analyst"], None)], key=str
    )


def test_a_dry_run_sends_nothing_and_no_server_is_refused(
    runner: CliRunner, smtp_server: tuple[Inbox, int], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = smtp_server
    monkeypatch.delenv("FOREWARN_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    refused = runner.invoke(app, ["digest", "send"])
    assert refused.exit_code == 1 and "FOREWARN_SMTP_HOST is not set" in refused.output
    dry = runner.invoke(app, ["digest", "send", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert '"sent": false' in dry.stdout and "Alpha Own Trust" in dry.stdout
    assert inbox.messages == []
    with engine.connect() as conn:
        assert conn.execute(select(AuditEntry.id).where(AuditEntry.action == "send")).first() is None
