"""Liveness for a load balancer: answers without touching accounts, and says whether the store answers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from forewarn.web.deps import AppState, read_connection

router = APIRouter()


class Health(BaseModel):
    status: str
    database: bool


@router.get("/healthz", response_model=Health, tags=["service"])
def health(state: AppState) -> Health:
    """Whether the app is up and its database answers."""
    try:
        with read_connection(state.engine) as conn:
            conn.execute(text("SELECT 1"))
        ok = True
    except Exception:
        ok = False
    return Health(status="ok" if ok else "degraded", database=ok)
