"""The queue of background work that ``forewarn worker`` runs: scans, imports and maintenance.

A row is a job: queued, then running (claimed by one worker), then done or, after its last attempt, failed.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (and for ``run_after``)
    RUNNING = "running"  # claimed by ``locked_by``
    DONE = "done"
    FAILED = "failed"  # every attempt failed; ``error`` says why the last did


def _status_enum() -> Enum:
    return Enum(
        JobStatus,
        name="job_status",
        native_enum=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_run_after", "status", "run_after"),
        Index("ix_jobs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # scan | import | maintenance
    payload: Mapped[dict[str, object] | None] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(_status_enum(), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


__all__ = ["Job", "JobStatus"]
