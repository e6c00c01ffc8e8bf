"""``forewarn worker`` and ``forewarn db maintain``. Importing this module loads Typer only; each command imports
the store and the jobs when it runs (``forewarn --help`` stays fast)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from forewarn.cli.store import migrated_engine

KIND_HELP = "scan, import or maintenance"


def worker_command(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run the jobs that are due, then stop (instead of waiting for more)."),
    ] = False,
    enqueue: Annotated[
        list[str] | None,
        typer.Option("--enqueue", help=f"Queue a job of this kind first ({KIND_HELP}, without payload)."),
    ] = None,
) -> None:
    """Run queued jobs (scans, imports, maintenance) until stopped (SIGTERM or Ctrl+C).

    Run several on PostgreSQL (each claims jobs with FOR UPDATE SKIP LOCKED); on SQLite run one.
    """
    from forewarn.jobs import queue
    from forewarn.jobs.worker import run_worker
    from forewarn.settings import get_settings
    from forewarn.store.database import write_connection

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = migrated_engine(settings)
    for kind in enqueue or []:
        try:
            with write_connection(engine) as conn:
                job_id = queue.enqueue(conn, kind)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"queued job {job_id} ({kind})", err=True)
    ran = run_worker(engine, settings, once=once)
    typer.echo(f"worker stopped after {ran} job(s)", err=True)


def maintain_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was removed as JSON on stdout.")
    ] = False,
) -> None:
    """Run maintenance once: purge expired web sessions, uploads older than a day and jobs finished long ago."""
    from forewarn.jobs.maintenance import run_maintenance
    from forewarn.settings import get_settings

    settings = get_settings()
    engine = migrated_engine(settings)
    result = run_maintenance(engine, settings.data_dir / "uploads")
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        typer.echo(
            f"purged {result.sessions_purged} expired session(s), {result.uploads_removed} old upload(s), "
            f"{result.jobs_removed} finished job(s)",
            err=True,
        )
