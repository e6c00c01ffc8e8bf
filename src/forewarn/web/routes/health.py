"""Liveness for a load balancer. ``GET /healthz`` is answered by the load guard (forewarn.web.load) before the
routes, the session lookup and the database, so it answers within milliseconds however busy the app is; this
route documents it (and answers should the guard be absent)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter()


class Health(BaseModel):
    status: str
    in_flight: int  # requests this process is working on
    max_in_flight: int  # more than this are refused with 503 and Retry-After
    shed: int  # refused so since start
    timed_out: int  # answered 503 for taking too long, since start


@router.get("/healthz", response_model=Health, tags=["service"])
async def health(request: Request) -> Health:
    """Whether this web process is up, and how busy it is. It does not touch the database."""
    return Health.model_validate(request.app.state.load.health())
