"""The jobs table as a queue: enqueue, claim, finish, retry with backoff, list.

Claiming is safe with several workers on PostgreSQL (``FOR UPDATE SKIP LOCKED``: a worker skips rows another has
locked rather than waiting for them) and with one or more on SQLite (the claim is a ``BEGIN IMMEDIATE``
transaction, so claims are serialised by the database's write lock; run one worker: SQLite has one writer at a
time anyway). A job whose worker died (still running after ``lease``) is claimed again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from forewarn.store.database import write_connection
from forewarn.store.models_jobs import Job, JobStatus

KINDS = ("scan", "import", "maintenance", "digest")
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=1)
LEASE = dt.timedelta(hours=2)  # a running job older than this lost its worker


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    payload: dict[str, object] | None
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    locked_by: str | None
    locked_at: dt.datetime | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None


_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.status,
    Job.attempts,
    Job.max_attempts,
    Job.run_after,
    Job.locked_by,
    Job.locked_at,
    Job.created_at,
    Job.finished_at,
    Job.error,
)


def _record(row: Sequence[Any]) -> JobRecord:
    r = tuple(row)
    return JobRecord(
        id=int(r[0]),
        kind=r[1],
        payload=r[2],
        status=JobStatus(r[3]),
        attempts=int(r[4]),
        max_attempts=int(r[5]),
        run_after=_utc(r[6]),  # type: ignore[arg-type]
        locked_by=r[7],
        locked_at=_utc(r[8]),
        created_at=_utc(r[9]),  # type: ignore[arg-type]
        finished_at=_utc(r[10]),
        error=r[11],
    )


def backoff(attempts: int) -> dt.timedelta:
    """The wait before retrying a job that has failed ``attempts`` times: 30 s, 1 min, 2 min... at most 1 h."""
    wait: dt.timedelta = BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 16))
    return min(wait, BACKOFF_MAX)


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, object] | None = None,
    *,
    max_attempts: int = 3,
    run_after: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Queue a job; returns its id. Runs in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}: one of {', '.join(KINDS)}")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = now or utc_now()
    result = conn.execute(
        insert(Job)
        .values(
            kind=kind,
            payload=payload,
            status=JobStatus.QUEUED,
            attempts=0,
            max_attempts=max_attempts,
            run_after=run_after or now,
            created_at=now,
        )
        .returning(Job.id)
    )
    return int(result.scalar_one())


def enqueue_unless_recent(
    conn: Connection, kind: str, every: dt.timedelta, *, now: dt.datetime | None = None
) -> int | None:
    """Queue a job of ``kind`` unless one was queued within ``every``; returns its id, or None. Several workers
    doing this at once queue it about once (at worst twice: the job is harmless to repeat)."""
    now = now or utc_now()
    recent = conn.execute(
        select(Job.id).where(Job.kind == kind, Job.created_at > now - every).limit(1)
    ).first()
    return None if recent is not None else enqueue(conn, kind, {"queued_by": "worker"}, now=now)


def claim(engine: Engine, worker: str, *, now: dt.datetime | None = None) -> JobRecord | None:
    """Take the next due job for ``worker`` (marking it running and counting the attempt), or None."""
    now = now or utc_now()
    due = or_(
        (Job.status == JobStatus.QUEUED) & (Job.run_after <= now),
        (Job.status == JobStatus.RUNNING) & (Job.locked_at < now - LEASE),
    )
    query = select(Job.id).where(due).order_by(Job.run_after, Job.id).limit(1)
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job_id = conn.execute(query).scalar_one_or_none()
        if job_id is None:
            return None
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.RUNNING, attempts=Job.attempts + 1, locked_by=worker[:200], locked_at=now
            )
        )
        return _record(conn.execute(select(*_COLUMNS).where(Job.id == job_id)).one())


def finish(engine: Engine, job_id: int, *, now: dt.datetime | None = None) -> None:
    with write_connection(engine) as conn:
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.DONE, finished_at=now or utc_now(), locked_by=None, error=None)
        )


def fail(engine: Engine, job: JobRecord, error: str, *, now: dt.datetime | None = None) -> JobStatus:
    """Record a failed attempt: queued again after a backoff, or failed for good after the last attempt."""
    now = now or utc_now()
    last = job.attempts >= job.max_attempts
    values: dict[str, object] = {"error": error[-4000:], "locked_by": None, "locked_at": None}
    if last:
        values |= {"status": JobStatus.FAILED, "finished_at": now}
    else:
        values |= {"status": JobStatus.QUEUED, "run_after": now + backoff(job.attempts)}
    with write_connection(engine) as conn:
        conn.execute(update(Job).where(Job.id == job.id).values(**values))
    return JobStatus.FAILED if last else JobStatus.QUEUED


def recent_jobs(conn: Connection, *, limit: int = 200, status: JobStatus | None = None) -> list[JobRecord]:
    """The latest jobs, newest first."""
    query = select(*_COLUMNS).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    return [_record(row) for row in conn.execute(query).all()]


def status_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    found = {JobStatus(s).value: int(n) for s, n in rows}
    return {s.value: found.get(s.value, 0) for s in JobStatus}
