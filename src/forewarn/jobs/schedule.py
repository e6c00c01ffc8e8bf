"""What ``forewarn worker`` queues by itself, on a schedule: maintenance every hour, and the digest once per
period (``FOREWARN_DIGEST_EVERY``: a calendar month or an ISO week, UTC) when a mail server is set. The jobs page
shows these schedules (:func:`schedules`).

The digest is queued when no digest job for the current period exists yet. Two workers checking at once may both
queue it; that is harmless, because sending is guarded per message (:mod:`forewarn.views.digest_send`): the second
job finds every message claimed and sends nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from forewarn.jobs import queue
from forewarn.settings import Settings
from forewarn.store.models_jobs import Job

DIGEST_LOOKBACK = dt.timedelta(days=40)  # a period's job is younger than this (a month and a margin)


def current_period(every: str, now: dt.datetime) -> str:
    from forewarn.views.digest_send import digest_period

    return digest_period(every, now)


def next_period_start(every: str, now: dt.datetime) -> dt.datetime:
    """When the period after the current one begins (UTC midnight)."""
    today = now.astimezone(dt.UTC).date()
    if every == "weekly":
        start = today + dt.timedelta(days=7 - today.weekday())
    else:
        start = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC)


def digest_jobs_for(conn: Connection, period: str, now: dt.datetime) -> list[queue.JobRecord]:
    """The digest jobs queued for ``period`` (looked for among the recent ones: the payload is JSON)."""
    recent = conn.execute(
        select(Job.id, Job.payload).where(Job.kind == "digest", Job.created_at > now - DIGEST_LOOKBACK)
    ).all()
    ids = [int(i) for i, payload in recent if isinstance(payload, dict) and payload.get("period") == period]
    return [j for j in queue.recent_jobs(conn, limit=1000) if j.id in ids] if ids else []


def enqueue_digest_if_due(
    conn: Connection, settings: Settings, *, now: dt.datetime | None = None
) -> int | None:
    """Queue the digest for the current period unless it is off, no mail server is set, or a digest job for the
    period exists already (whatever its status: a failed one is for an administrator to look at); its id, or
    None."""
    now = now or queue.utc_now()
    if settings.digest_every == "off" or not settings.smtp_host:
        return None
    period = current_period(settings.digest_every, now)
    if digest_jobs_for(conn, period, now):
        return None
    return queue.enqueue(conn, "digest", {"period": period, "queued_by": "schedule"}, now=now)


MAINTENANCE_EVERY = dt.timedelta(hours=1)
"""How often a waiting worker queues maintenance (expired sessions, old uploads)."""


@dataclass(frozen=True)
class Schedule:
    kind: str
    every: str
    state: str


def schedules(conn: Connection, settings: Settings, *, now: dt.datetime | None = None) -> list[Schedule]:
    """The worker's schedules as the jobs page shows them."""
    from forewarn.store.models_peers import DigestSend

    now = now or queue.utc_now()
    hours = MAINTENANCE_EVERY.total_seconds() / 3600
    out = [Schedule("maintenance", f"every {hours:g} hour(s)", "queued by any running worker")]
    every = settings.digest_every
    if every == "off":
        return [
            *out,
            Schedule("digest", "off", "FOREWARN_DIGEST_EVERY=off: only `forewarn digest send` sends it"),
        ]
    period = current_period(every, now)
    following = next_period_start(every, now).strftime("%-d %B %Y")
    if not settings.smtp_host:
        state = "not sent: FOREWARN_SMTP_HOST is not set"
    else:
        jobs = digest_jobs_for(conn, period, now)
        sent = conn.execute(
            select(func.count())
            .select_from(DigestSend)
            .where(DigestSend.period == period, DigestSend.status == "sent")
        ).scalar_one()
        status = f"job {jobs[0].id} {jobs[0].status.value}" if jobs else "not queued yet"
        state = f"period {period}: {status}, {sent} message(s) sent; the next period begins {following}"
    return [*out, Schedule("digest", every, state)]


__all__ = ["Schedule", "current_period", "enqueue_digest_if_due", "next_period_start", "schedules"]
