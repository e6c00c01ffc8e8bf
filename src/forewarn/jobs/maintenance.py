"""Maintenance: what the store and the upload folder shed over time. ``forewarn db maintain`` runs it once; the
worker runs it as a job."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine, delete

from forewarn.accounts.sessions import purge_expired_sessions
from forewarn.jobs.queue import utc_now
from forewarn.store.database import write_connection
from forewarn.store.models_jobs import Job, JobStatus

UPLOAD_TTL = dt.timedelta(hours=24)  # an upload no longer confirmable (the web app's WebOptions.upload_ttl)
JOB_RETENTION = dt.timedelta(days=90)


@dataclass(frozen=True)
class MaintenanceResult:
    sessions_purged: int
    uploads_removed: int
    jobs_removed: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _upload_created(folder: Path) -> dt.datetime:
    """When an upload waiting in ``folder`` was made: its meta.json, else the folder's modification time."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        created = dt.datetime.fromisoformat(meta["created"])
        return created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)


def purge_old_uploads(
    upload_dir: Path, *, ttl: dt.timedelta = UPLOAD_TTL, now: dt.datetime | None = None
) -> int:
    """Remove uploads that waited longer than ``ttl``: rejected by validation, or never confirmed. A confirmed
    upload is removed by the import itself; one this old can no longer be confirmed (the web app refuses it)."""
    now = now or utc_now()
    if not upload_dir.is_dir():
        return 0
    removed = 0
    for folder in upload_dir.iterdir():
        if folder.is_dir() and not folder.is_symlink() and now - _upload_created(folder) > ttl:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def run_maintenance(
    engine: Engine,
    upload_dir: Path,
    *,
    upload_ttl: dt.timedelta = UPLOAD_TTL,
    job_retention: dt.timedelta = JOB_RETENTION,
    now: dt.datetime | None = None,
) -> MaintenanceResult:
    """Purge expired web sessions, uploads older than ``upload_ttl`` and finished jobs older than
    ``job_retention``."""
    now = now or utc_now()
    with write_connection(engine) as conn:
        sessions = purge_expired_sessions(conn, now)
        jobs = conn.execute(
            delete(Job).where(
                Job.status.in_([JobStatus.DONE, JobStatus.FAILED]), Job.finished_at < now - job_retention
            )
        ).rowcount
    uploads = purge_old_uploads(upload_dir, ttl=upload_ttl, now=now)
    return MaintenanceResult(sessions_purged=sessions, uploads_removed=uploads, jobs_removed=int(jobs))
