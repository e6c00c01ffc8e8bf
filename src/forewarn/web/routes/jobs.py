"""Background jobs for administrators: what the worker has queued, run, retried and failed, and what it queues
on a schedule (maintenance, the digest); queue a scan, maintenance or the digest by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.access.policy import Permission
from forewarn.access.principal import Principal
from forewarn.jobs import queue
from forewarn.jobs.schedule import current_period, schedules
from forewarn.web.deps import AppState, ReadConnection, WriteConnection, record, require
from forewarn.web.errors import BadRequestError
from forewarn.web.forms import JobForm
from forewarn.web.rendering import render

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.VIEW_AUDIT_LOG))]
QUEUED_BY_HAND = ("scan", "maintenance", "digest")


@router.get("/jobs")
def jobs_page(request: Request, state: AppState, principal: Admin, conn: ReadConnection) -> Response:
    jobs = queue.recent_jobs(conn, limit=200)
    counts = queue.status_counts(conn)
    return render(
        request,
        "jobs.html",
        {
            "title": "Background jobs",
            "jobs": jobs,
            "counts": counts,
            "kinds": QUEUED_BY_HAND,
            "schedules": schedules(conn, state.settings),
        },
    )


@router.post("/jobs")
def queue_job(
    request: Request,
    state: AppState,
    principal: Admin,
    form: Annotated[JobForm, Form()],
    conn: WriteConnection,
) -> Response:
    kind = form.kind
    if kind not in QUEUED_BY_HAND:
        raise BadRequestError(f"Choose one of: {', '.join(QUEUED_BY_HAND)}")
    payload: dict[str, object] = {"queued_by": principal.email}
    if kind == "digest":  # this period's: a message already sent for it is not sent again
        every = state.settings.digest_every if state.settings.digest_every != "off" else "monthly"
        payload["period"] = current_period(every, queue.utc_now())
    job_id = queue.enqueue(conn, kind, payload)
    record(conn, request, principal, "create", "job", job_id, detail={"kind": kind})
    return RedirectResponse("/jobs", status_code=303)
