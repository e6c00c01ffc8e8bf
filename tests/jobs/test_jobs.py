"""The jobs queue and ``forewarn worker`` (issue 16): jobs run once, failures are retried after a backoff until
their attempts run out, concurrent claims never take the same job, and maintenance purges expired sessions and
old uploads (``purge_expired_sessions`` had no caller: expired sessions were never deleted)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from typer.testing import CliRunner

from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.sessions import start_session
from forewarn.accounts.users import create_user
from forewarn.jobs import queue
from forewarn.jobs.maintenance import run_maintenance
from forewarn.jobs.worker import Handler, run_one, run_worker
from forewarn.settings import Settings
from forewarn.store.database import write_connection
from forewarn.store.models_jobs import Job, JobStatus
from forewarn.store.models_web import Role, WebSession

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        worker_poll_seconds=0.01,
    )


def _queue(engine: Engine, kind: str = "scan", **kwargs: Any) -> int:
    with write_connection(engine) as conn:
        return queue.enqueue(conn, kind, {"n": 1}, **kwargs)


def _job(engine: Engine, job_id: int) -> queue.JobRecord:
    with engine.connect() as conn:
        return next(j for j in queue.recent_jobs(conn) if j.id == job_id)


def test_a_job_runs_once_and_is_done(engine: Engine, tmp_path: Path, database_url: str) -> None:
    seen: list[dict[str, Any]] = []
    handlers: dict[str, Handler] = {"scan": lambda e, s, payload: seen.append(payload)}  # type: ignore[func-returns-value, dict-item]
    job_id = _queue(engine)
    assert run_worker(engine, _settings(tmp_path, database_url), once=True, handlers=handlers) == 1
    assert seen == [{"n": 1}]
    job = _job(engine, job_id)
    assert job.status is JobStatus.DONE and job.attempts == 1 and job.finished_at is not None
    assert not run_one(engine, _settings(tmp_path, database_url), "w", handlers)


def test_a_failing_job_is_retried_after_a_backoff_then_fails_for_good(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    def broken(e: Engine, s: Settings, payload: dict[str, Any]) -> None:
        raise RuntimeError("the store was away")

    settings = _settings(tmp_path, database_url)
    job_id = _queue(engine, max_attempts=2)
    assert run_one(engine, settings, "w", {"scan": broken})
    job = _job(engine, job_id)
    assert job.status is JobStatus.QUEUED and job.attempts == 1 and "the store was away" in (job.error or "")
    assert job.run_after - queue.utc_now() > dt.timedelta(seconds=25)  # backoff: not due again at once
    assert not run_one(engine, settings, "w", {"scan": broken})
    assert queue.claim(engine, "w", now=job.run_after + dt.timedelta(seconds=1)) is not None  # due later
    status = queue.fail(engine, _job(engine, job_id), "again")
    assert status is JobStatus.FAILED
    job = _job(engine, job_id)
    assert job.status is JobStatus.FAILED and job.attempts == 2 and job.finished_at is not None


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [queue.backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert queue.backoff(50) == dt.timedelta(hours=1)


def test_an_unknown_kind_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown job kind"):
        _queue(engine, kind="mine bitcoin")


def test_concurrent_workers_never_claim_the_same_job(engine: Engine) -> None:
    ids = {_queue(engine) for _ in range(12)}
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (job := queue.claim(engine, name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claimed) == sorted(ids)


def test_a_job_whose_worker_died_is_claimed_again(engine: Engine) -> None:
    job_id = _queue(engine)
    start = queue.utc_now() + dt.timedelta(seconds=1)
    assert queue.claim(engine, "dead", now=start) is not None
    assert queue.claim(engine, "alive", now=start + dt.timedelta(minutes=5)) is None
    again = queue.claim(engine, "alive", now=start + queue.LEASE + dt.timedelta(seconds=1))
    assert again is not None and again.id == job_id and again.attempts == 2


def _upload(root: Path, name: str, created: dt.datetime) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("a,b\n", encoding="utf-8")
    (folder / "meta.json").write_text(
        json.dumps({"user_id": 1, "created": created.isoformat()}), encoding="utf-8"
    )
    return folder


def test_maintenance_purges_expired_sessions_old_uploads_and_old_jobs(engine: Engine, tmp_path: Path) -> None:
    with write_connection(engine) as conn:
        user = create_user(
            conn,
            Passwords(Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)),
            email="a@test.forewarn",
            display_name="A",
            password="a long and unusual passphrase",
            role=Role.ANALYST,
        )
        start_session(conn, user, now=NOW - dt.timedelta(days=2))  # expired a day and more ago
        live = start_session(conn, user, now=NOW)
        conn.execute(
            insert(Job).values(
                kind="scan",
                status=JobStatus.DONE,
                attempts=1,
                max_attempts=3,
                run_after=NOW - dt.timedelta(days=200),
                created_at=NOW - dt.timedelta(days=200),
                finished_at=NOW - dt.timedelta(days=200),
            )
        )
    uploads = tmp_path / "uploads"
    old = _upload(uploads, "old-rejected-upload", NOW - dt.timedelta(days=3))
    fresh = _upload(uploads, "fresh-upload-waiting", NOW - dt.timedelta(hours=1))
    result = run_maintenance(engine, uploads, now=NOW)
    assert result.to_dict() == {"sessions_purged": 1, "uploads_removed": 1, "jobs_removed": 1}
    assert not old.exists() and fresh.exists()
    with engine.connect() as conn:
        assert conn.execute(select(WebSession.id)).scalars().all() == [live.session_id]
        assert conn.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def test_maintenance_is_queued_unless_queued_recently(engine: Engine) -> None:
    hour = dt.timedelta(hours=1)
    with write_connection(engine) as conn:
        first = queue.enqueue_unless_recent(conn, "maintenance", hour, now=NOW)
        assert first is not None
        assert (
            queue.enqueue_unless_recent(conn, "maintenance", hour, now=NOW + dt.timedelta(minutes=59)) is None
        )
        assert queue.enqueue_unless_recent(conn, "maintenance", hour, now=NOW + dt.timedelta(minutes=61))


def test_a_waiting_worker_runs_maintenance_by_itself(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    stop = threading.Event()
    ran: list[str] = []

    def maintenance(*_: object) -> None:
        ran.append("maintenance")
        stop.set()

    handlers: dict[str, Handler] = {"maintenance": maintenance}
    worker = threading.Thread(
        target=run_worker,
        args=(engine, _settings(tmp_path, database_url)),
        kwargs={"stop": stop, "handlers": handlers},
    )
    worker.start()
    worker.join(timeout=30)
    stop.set()
    assert ran == ["maintenance"]
    with engine.connect() as conn:
        assert [(j.kind, j.status) for j in queue.recent_jobs(conn)] == [("maintenance", JobStatus.DONE)]


def test_forewarn_db_maintain_and_worker_once(
    engine: Engine, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forewarn import cli
    from forewarn.settings import get_settings

    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        _upload(tmp_path / "uploads", "old-upload", queue.utc_now() - dt.timedelta(days=3))
        result = CliRunner().invoke(cli.app, ["db", "maintain", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"sessions_purged": 0, "uploads_removed": 1, "jobs_removed": 0}
        result = CliRunner().invoke(cli.app, ["worker", "--once", "--enqueue", "maintenance"])
        assert result.exit_code == 0, result.output
        with engine.connect() as conn:
            assert [(j.kind, j.status) for j in queue.recent_jobs(conn)] == [("maintenance", JobStatus.DONE)]
    finally:
        get_settings.cache_clear()
