"""The ``forewarn`` command. Progress goes to stderr; ``--json`` puts machine-readable results on stdout.

This package assembles the Typer ``app`` from one module per command group: :mod:`~forewarn.cli.data` (import,
export, datasets, scan, simulate, demo, db upgrade), :mod:`~forewarn.cli.analyst` (funnel, spc, cusum, ewma,
ranks), :mod:`~forewarn.cli.survey` (survey ..., psychometrics), :mod:`~forewarn.cli.risk`,
:mod:`~forewarn.cli.db` (backup, restore), :mod:`~forewarn.cli.peers` (neighbours, deviants, library ...), :mod:`~forewarn.cli.worker` (worker, db maintain) and
:mod:`~forewarn.cli.web` (serve, users). They share :mod:`~forewarn.cli.output` (stderr, ``--json``, progress),
:mod:`~forewarn.cli.store` (the migrated engine) and, for the analyst's tools, :mod:`~forewarn.cli.tool_output`.

Start-up stays fast: at import this package and the command modules it registers load Typer and Rich only. Each
command imports the services it uses (SQLAlchemy, Alembic, Polars, SciPy, FastAPI...) when it runs, and the web
app's commands (:mod:`forewarn.cli.web`) and the worker are loaded only when one of them is invoked or asked for
its help (tests/cli/test_cli_startup.py).
"""

from __future__ import annotations

import importlib

import typer
from typer import _click  # Typer vendors Click: its groups take these classes, not the `click` package's
from typer.core import TyperCommand, TyperGroup

from forewarn.cli.analyst import cusum_command, ewma_command, funnel_command, ranks_command, spc_command
from forewarn.cli.cases import case_app, report_app
from forewarn.cli.data import (
    datasets_command,
    db_upgrade,
    demo_command,
    export_command,
    import_command,
    scan_command,
    simulate_command,
)
from forewarn.cli.db import backup_command, restore_command
from forewarn.cli.digest import digest_app
from forewarn.cli.experiment import experiment_app
from forewarn.cli.peers import deviants_command, library_app, neighbours_command
from forewarn.cli.risk import risk_app
from forewarn.cli.survey import psychometrics_command, survey_app
from forewarn.cli.worker import maintain_command


class _LazyCommand(TyperCommand):
    """A command defined in a module too heavy to import for ``forewarn --help``: listed with its one-line help,
    and imported only when invoked (or asked for its own help)."""

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, help=short_help, short_help=short_help)
        self.target = target

    def load(self) -> _click.Command:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            return typer.main.get_group(found)
        single = typer.Typer()
        single.command(self.name)(found)
        return typer.main.get_command(single)


class _Commands(TyperGroup):
    """Forewarn's top-level group: the commands registered on ``app``, then the lazily imported ones."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            target, short_help = LAZY_COMMANDS[cmd_name]
            return _LazyCommand(cmd_name, target, short_help)
        return found

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _LazyCommand):
            command = command.load()
        return name, command, rest


LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:attribute", the one-line help `forewarn --help` shows; a test checks it is the real one)
    "serve": (
        "forewarn.cli.web:serve_command",
        "Serve the web app (migrating the store first) until Ctrl+C.",
    ),
    "users": ("forewarn.cli.web:users_app", "Accounts of the web app."),
    "worker": (
        "forewarn.cli.worker:worker_command",
        "Run queued jobs (scans, imports, maintenance) until stopped (SIGTERM or Ctrl+C).",
    ),
}
"""Commands imported only when used: the web app's pull in FastAPI, uvicorn and the accounts."""

app = typer.Typer(
    cls=_Commands,
    help="Forewarn: spot failure early in public services and learn the way out of it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("funnel")(funnel_command)
app.command("spc")(spc_command)
app.command("cusum")(cusum_command)
app.command("ewma")(ewma_command)
app.command("ranks")(ranks_command)
app.command("psychometrics")(psychometrics_command)
app.command("import")(import_command)
app.command("export")(export_command)
app.command("datasets")(datasets_command)
app.command("scan")(scan_command)
app.command("simulate")(simulate_command)
app.command("demo")(demo_command)
app.add_typer(survey_app, name="survey")
app.add_typer(risk_app, name="risk")
app.add_typer(experiment_app, name="experiment")  # issue 15
app.add_typer(case_app, name="case")  # issue 14: case files
app.add_typer(report_app, name="report")  # issue 14: reports
app.command("neighbours")(neighbours_command)
app.command("deviants")(deviants_command)
app.add_typer(library_app, name="library")
app.add_typer(digest_app, name="digest")  # issue 13: who to learn from now, by email
db_app = typer.Typer(help="The store: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("backup")(backup_command)
db_app.command("restore")(restore_command)
db_app.command("maintain")(maintain_command)
db_app.command("upgrade")(db_upgrade)


def main() -> None:  # pragma: no cover - console entry point
    app()
