"""``forewarn worker``: run queued jobs until stopped.

A job's kind names its handler; a handler that raises fails the attempt, and the job is retried after a backoff
until its attempts run out (:mod:`forewarn.jobs.queue`). SIGTERM and SIGINT stop the worker after the job in hand.
A worker that waits for jobs also queues maintenance every :data:`MAINTENANCE_EVERY` (expired sessions, old
uploads and finished jobs go), so they are purged without anyone running ``forewarn db maintain``, and, checking
as often, the digest once per period (:mod:`forewarn.jobs.schedule`; each message sent at most once per period).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from forewarn.jobs import queue
from forewarn.jobs.maintenance import run_maintenance
from forewarn.jobs.schedule import MAINTENANCE_EVERY, enqueue_digest_if_due
from forewarn.settings import Settings
from forewarn.store.database import write_connection
from forewarn.store.models_jobs import JobStatus

logger = logging.getLogger("forewarn.worker")

Handler = Callable[[Engine, Settings, dict[str, Any]], dict[str, object] | None]


def _scan(engine: Engine, settings: Settings, payload: dict[str, Any]) -> dict[str, object] | None:
    from forewarn.surveillance.scan import run_scan

    run_scan(engine, scheduler=settings.scheduler)
    return None


def _import(engine: Engine, settings: Settings, payload: dict[str, Any]) -> dict[str, object] | None:
    from forewarn.ingest.importer import import_file
    from forewarn.ingest.limits import Limits

    path = Path(str(payload["path"]))
    mapping = payload.get("mapping")
    result = import_file(
        engine,
        path,
        Path(str(mapping)) if mapping else None,
        mapping_text=payload.get("mapping_text"),
        imported_by=payload.get("imported_by") or settings.imported_by,
        chunk_rows=settings.import_chunk_rows,
        limits=Limits.from_settings(settings),
    )
    return {"batch_id": result.batch_id, "summary": result.summary()}


def _maintenance(engine: Engine, settings: Settings, payload: dict[str, Any]) -> dict[str, object] | None:
    return dict(run_maintenance(engine, settings.upload_dir).to_dict())


def _digest(engine: Engine, settings: Settings, payload: dict[str, Any]) -> dict[str, object] | None:
    from forewarn.jobs.schedule import current_period
    from forewarn.views.digest_send import send_digest

    period = str(payload.get("period") or current_period(settings.digest_every, queue.utc_now()))
    run = send_digest(
        engine, settings, period=period, sender=f"worker {worker_name()}", actor="forewarn worker"
    )
    logger.info(
        "digest %s: %d message(s) sent, %d already sent", period, len(run.sent), len(run.already_sent)
    )
    return run.to_dict()


HANDLERS: dict[str, Handler] = {
    "scan": _scan,
    "import": _import,
    "maintenance": _maintenance,
    "digest": _digest,
}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_one(
    engine: Engine, settings: Settings, worker: str, handlers: dict[str, Handler] | None = None
) -> bool:
    """Claim and run one due job; False when none was due."""
    job = queue.claim(engine, worker)
    if job is None:
        return False
    handler = (handlers or HANDLERS).get(job.kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for jobs of kind {job.kind!r}")
        logger.info("job %d (%s), attempt %d of %d", job.id, job.kind, job.attempts, job.max_attempts)
        handler(engine, settings, dict(job.payload or {}))
    except Exception as exc:
        status = queue.fail(engine, job, "".join(traceback.format_exception_only(exc)).strip())
        logger.warning("job %d (%s) failed: %s; %s", job.id, job.kind, exc, status.value)
        if status is JobStatus.FAILED:
            logger.debug("%s", traceback.format_exc())
        return True
    queue.finish(engine, job.id)
    logger.info("job %d (%s) done", job.id, job.kind)
    return True


def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    handlers: dict[str, Handler] | None = None,
    maintenance_every: dt.timedelta = MAINTENANCE_EVERY,
) -> int:
    """Run jobs until ``stop`` is set (or, with ``once``, until none is due); returns how many ran. Unless
    ``once``, queue maintenance when none was queued within ``maintenance_every``, checking that often."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    name = worker_name()
    ran = 0
    next_maintenance = time.monotonic()
    while not stop.is_set():
        if not once and time.monotonic() >= next_maintenance:
            with write_connection(engine) as conn:
                queue.enqueue_unless_recent(conn, "maintenance", maintenance_every)
                enqueue_digest_if_due(conn, settings)
            next_maintenance = time.monotonic() + maintenance_every.total_seconds()
        if run_one(engine, settings, name, handlers):
            ran += 1
            continue
        if once:
            break
        stop.wait(settings.worker_poll_seconds)
    return ran
