"""Background jobs for administrators: what the worker has queued, run, retried and failed; queue a scan or
maintenance by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.access.policy import Permission
from forewarn.access.principal import Principal
from forewarn.jobs import queue
from forewarn.store.database import write_connection
from forewarn.web.deps import AppState, read_connection, record, require
from forewarn.web.errors import BadRequestError
from forewarn.web.rendering import render
from forewarn.web.routes.helpers import form_text

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.VIEW_AUDIT_LOG))]
QUEUED_BY_HAND = ("scan", "maintenance")


@router.get("/jobs")
def jobs_page(request: Request, state: AppState, principal: Admin) -> Response:
    with read_connection(state.engine) as conn:
        jobs = queue.recent_jobs(conn, limit=200)
        counts = queue.status_counts(conn)
    return render(
        request,
        "jobs.html",
        {"title": "Background jobs", "jobs": jobs, "counts": counts, "kinds": QUEUED_BY_HAND},
    )


@router.post("/jobs")
async def queue_job(request: Request, state: AppState, principal: Admin) -> Response:
    kind = form_text(dict(await request.form()), "kind")
    if kind not in QUEUED_BY_HAND:
        raise BadRequestError(f"Choose one of: {', '.join(QUEUED_BY_HAND)}")
    with write_connection(state.engine) as conn:
        job_id = queue.enqueue(conn, kind, {"queued_by": principal.email})
    record(state, request, principal, "create", "job", job_id, detail={"kind": kind})
    return RedirectResponse("/jobs", status_code=303)
