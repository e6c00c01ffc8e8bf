"""Where the ``forewarn`` commands write: messages and progress on stderr, results (``--json``) on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from forewarn.ingest.problems import ImportRejected

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def progress_stages() -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """Rich progress bars on a terminal; plain lines on stderr otherwise (so logs and tests can follow).

    A stage of unknown length (``total`` None) shows a spinner and a pulsing bar, without a count."""
    if err.is_terminal:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            _CountColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:

            def stage(name: str, total: int | None) -> Callable[[int], None]:
                task = progress.add_task(name, total=total)
                return lambda n: progress.advance(task, n)

            yield stage
        return

    def plain_stage(name: str, total: int | None) -> Callable[[int], None]:
        suffix = f" {total} rows" if total is not None else ""
        print(f"forewarn: {name.lower()}{suffix}", file=sys.stderr, flush=True)
        return lambda _n: None

    yield plain_stage


class _CountColumn(ProgressColumn):
    """``completed/total`` for a stage of known length; nothing while the length is unknown (the bar pulses)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{task.completed:,.0f}/{task.total:,.0f}", style="progress.download")


def print_rejection(exc: ImportRejected, as_json: bool) -> None:
    report = exc.report
    if as_json:
        emit_json({"ok": False, "report": report.to_dict()})
    for problem in report.problems:
        err.print(str(problem), highlight=False, markup=False)
    err.print(f"[bold red]{report.summary()}[/]", highlight=False)
