"""The digest as a job of ``forewarn worker`` with its duplicate-send guard (``digest_sends``): the job sends each
reader their message once for a period; running it again, running ``forewarn digest send`` for the same period,
or two senders at the same moment (threads; on PostgreSQL with ``FOREWARN_TEST_DATABASE=postgresql``, where the
claims race on the unique key) send nothing more; a refused send releases its claims; the schedule queues the
digest once per period only with a mail server, and the jobs page shows it. Mail goes to a local aiosmtpd server
started by the test (as ``test_digest.py``)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.jobs import queue
from forewarn.jobs.schedule import enqueue_digest_if_due, next_period_start, schedules
from forewarn.jobs.worker import run_one
from forewarn.settings import Settings, get_settings
from forewarn.store.database import read_connection, write_connection
from forewarn.store.models_jobs import Job, JobStatus
from forewarn.store.models_peers import DigestSend
from forewarn.store.models_web import AuditEntry
from forewarn.views.digest_send import digest_period, send_digest
from tests.peers.test_digest import Inbox, _free_port, runner, smtp_server  # noqa: F401
from tests.web.conftest import SignedIn
from tests.web.world import World

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


def _settings(engine: Engine, tmp_path: Path, port: int | None, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        data_dir=tmp_path,
        database_url=engine.url.render_as_string(hide_password=False),
        smtp_host="127.0.0.1" if port else None,
        smtp_port=port or 25,
        smtp_tls="none",
        public_url="https://forewarn.example",
        **extra,
    )


def _sends(engine: Engine) -> list[tuple[str, str, str, str]]:
    with read_connection(engine) as conn:
        rows = conn.execute(
            select(DigestSend.period, DigestSend.recipient, DigestSend.scope, DigestSend.status)
        ).all()
    return sorted((str(p), str(r), str(s), str(t)) for p, r, s, t in rows)


def test_periods_are_calendar_months_or_iso_weeks() -> None:
    assert digest_period("monthly", NOW) == "2026-12"
    assert digest_period("weekly", NOW) == "2026-W50"  # 7 December 2026 is the Monday of ISO week 50
    assert digest_period("weekly", dt.datetime(2027, 1, 1, tzinfo=dt.UTC)) == "2026-W53"  # a Friday
    assert next_period_start("monthly", NOW) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert next_period_start("weekly", NOW) == dt.datetime(2026, 12, 14, tzinfo=dt.UTC)


def test_the_worker_sends_the_digest_once_per_period(
    runner: CliRunner,  # noqa: F811  (adds the drift and the practice note)
    smtp_server: tuple[Inbox, int],  # noqa: F811
    engine: Engine,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp_server
    settings = _settings(engine, tmp_path, port)
    for _ in range(2):  # the same period queued twice (two workers' schedules, or by hand)
        with write_connection(engine) as conn:
            queue.enqueue(conn, "digest", {"period": "2026-12"})
        assert run_one(engine, settings, "w1")
    with read_connection(engine) as conn:
        errors = conn.execute(select(Job.error).where(Job.kind == "digest")).scalars().all()
    assert len(inbox.messages) == 2, errors  # the member of the drifting trust and the analyst, once each
    with read_connection(engine) as conn:
        statuses = conn.execute(select(Job.status).where(Job.kind == "digest")).scalars().all()
    assert [JobStatus(s) for s in statuses] == [JobStatus.DONE, JobStatus.DONE]
    assert _sends(engine) == sorted(
        [
            ("2026-12", world.emails["member"], f"organisation:{world.ids['OWN']}", "sent"),
            ("2026-12", world.emails["analyst"], "summary", "sent"),
        ]
    )
    # The command for the same period sends nothing and says so; for the next period it sends again.
    monkeypatch.setenv("FOREWARN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FOREWARN_SMTP_PORT", str(port))
    monkeypatch.setenv("FOREWARN_SMTP_TLS", "none")
    get_settings.cache_clear()
    again = runner.invoke(app, ["digest", "send", "--period", "2026-12"])
    assert again.exit_code == 0, again.output
    assert "sent 0 member message(s) and 0 analyst summary(ies); 2 already sent" in again.output
    assert len(inbox.messages) == 2
    dry = runner.invoke(app, ["digest", "send", "--period", "2026-12", "--dry-run"])
    assert "would send 0 member message(s)" in dry.output and "2 already sent" in dry.output
    following = runner.invoke(app, ["digest", "send", "--period", "2027-01"])
    assert following.exit_code == 0 and len(inbox.messages) == 4
    bad = runner.invoke(app, ["digest", "send", "--period", "December"])
    assert bad.exit_code == 1 and "--period: expected a month" in bad.output
    with read_connection(engine) as conn:
        audited = conn.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "send")
        ).scalar_one()
    assert audited == 4


def test_two_senders_at_once_send_each_message_once(
    runner: CliRunner,  # noqa: F811
    smtp_server: tuple[Inbox, int],  # noqa: F811
    engine: Engine,
    tmp_path: Path,
) -> None:
    inbox, port = smtp_server
    settings = _settings(engine, tmp_path, port)
    barrier = threading.Barrier(3)
    runs: list[Any] = []

    def sender(name: str) -> None:
        barrier.wait()
        runs.append(send_digest(engine, settings, period="2026-W50", sender=name))

    threads = [threading.Thread(target=sender, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(runs) == 3
    assert len(inbox.messages) == 2
    assert sum(len(r.sent) for r in runs) == 2 and sum(len(r.already_sent) for r in runs) == 4
    assert len(_sends(engine)) == 2


def test_a_refused_send_releases_its_claims(
    runner: CliRunner,  # noqa: F811
    engine: Engine,
    tmp_path: Path,
) -> None:
    settings = _settings(engine, tmp_path, _free_port())  # nothing listens there
    with pytest.raises(OSError):
        send_digest(engine, settings, period="2026-12", sender="w1")
    assert _sends(engine) == []  # so a later run sends them


def test_the_schedule_queues_the_digest_once_per_period_with_a_mail_server(
    engine: Engine, world: World, tmp_path: Path
) -> None:
    with write_connection(engine) as conn:
        assert enqueue_digest_if_due(conn, _settings(engine, tmp_path, None), now=NOW) is None  # no server
        off = _settings(engine, tmp_path, 2525, digest_every="off")
        assert enqueue_digest_if_due(conn, off, now=NOW) is None
        monthly = _settings(engine, tmp_path, 2525)
        first = enqueue_digest_if_due(conn, monthly, now=NOW)
        assert first is not None
        assert enqueue_digest_if_due(conn, monthly, now=NOW + dt.timedelta(days=20)) is None
        following = enqueue_digest_if_due(conn, monthly, now=dt.datetime(2027, 1, 1, 0, 5, tzinfo=dt.UTC))
        assert following is not None and following != first
        payloads = (
            conn.execute(select(Job.payload).where(Job.kind == "digest").order_by(Job.id)).scalars().all()
        )
        assert [p["period"] for p in payloads] == ["2026-12", "2027-01"]
        shown = {s.kind: s for s in schedules(conn, monthly, now=NOW)}
    assert shown["digest"].every == "monthly"
    assert "period 2026-12: job" in shown["digest"].state and "1 January 2027" in shown["digest"].state


def test_the_jobs_page_shows_the_schedule_and_queues_the_digest(signed_in: dict[str, SignedIn]) -> None:
    admin = signed_in["admin"]
    page = admin.client.get("/jobs")
    assert page.status_code == 200
    assert "Scheduled" in page.text and "Digest" in page.text and "FOREWARN_SMTP_HOST is not set" in page.text
    queued = admin.client.post(
        "/jobs", data={"kind": "digest"}, headers=admin.headers(), follow_redirects=False
    )
    assert queued.status_code == 303
    assert "digest" in admin.client.get("/jobs").text
