"""``forewarn db backup`` and ``forewarn db restore``: the whole store to one file and back (docs/deploy.md).

Loaded by :mod:`forewarn.cli` at start-up, so this module imports Typer and Rich only; each command imports the
store's code when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)


def _url() -> str:
    from forewarn.settings import get_settings

    return get_settings().resolved_database_url


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def backup_command(
    file: Annotated[Path, typer.Argument(help="File to write (replaced if it exists).")],
) -> None:
    """Back up the whole store to FILE: SQLite's online backup, or pg_dump for PostgreSQL."""
    from forewarn.store.backup import BackupError, backup

    url = _url()
    try:
        result = backup(url, file)
    except BackupError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    err.print(
        f"backed up the {result.kind} store {_where(url)} to {file} ({result.bytes:,} bytes)", highlight=False
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="A file written by `forewarn db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the store without asking.")] = False,
) -> None:
    """Replace the whole store with the backup in FILE (every table; what the store holds now is lost)."""
    from forewarn.store.backup import BackupError, restore

    url = _url()
    if not yes and not typer.confirm(f"Replace everything in {_where(url)} with {file}?", err=True):
        err.print("nothing was restored", highlight=False)
        raise typer.Exit(1)
    try:
        kind = restore(url, file)
    except BackupError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    err.print(
        f"restored the {kind} store {_where(url)} from {file}; run `forewarn db upgrade` if the backup is older "
        "than this version of Forewarn",
        highlight=False,
    )
