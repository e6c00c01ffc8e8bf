"""The ``forewarn`` command. Progress goes to stderr; ``--json`` puts machine-readable results on stdout.

Start-up stays fast: at import this module and the command modules it registers load Typer and Rich only. Each
command imports the services it uses (SQLAlchemy, Alembic, Polars, SciPy, FastAPI...) when it runs, and the web
app's commands, defined in :mod:`forewarn.web.commands`, are loaded only when one of them is invoked or asked
for its help (tests/cli/test_cli_startup.py).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from typer import _click  # Typer vendors Click: its groups take these classes, not the `click` package's
from typer.core import TyperCommand, TyperGroup

from forewarn.cli_analyst import cusum_command, ewma_command, funnel_command, ranks_command, spc_command
from forewarn.cli_db import backup_command, restore_command
from forewarn.cli_risk import risk_app
from forewarn.cli_survey import psychometrics_command, survey_app
from forewarn.cli_worker import maintain_command

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy import Engine

    from forewarn.ingest.importer import ImportResult
    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import Settings


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
        "forewarn.web.commands:serve_command",
        "Serve the web app (migrating the store first) until Ctrl+C.",
    ),
    "users": ("forewarn.web.commands:users_app", "Accounts of the web app."),
    "worker": (
        "forewarn.cli_worker:worker_command",
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
app.add_typer(survey_app, name="survey")
app.add_typer(risk_app, name="risk")
db_app = typer.Typer(help="The store: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("backup")(backup_command)
db_app.command("restore")(restore_command)
db_app.command("maintain")(maintain_command)

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _engine(settings: Settings) -> Engine:
    from forewarn.store.database import make_engine

    return make_engine(settings.resolved_database_url)


def _migrated_engine(settings: Settings) -> Engine:
    """The store's engine, migrated to the newest schema first."""
    from forewarn.store import migrate

    engine = _engine(settings)
    migrate.upgrade(engine)
    return engine


def _emit_json(payload: Any) -> None:
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


def _print_rejection(exc: ImportRejected, as_json: bool) -> None:
    report = exc.report
    if as_json:
        _emit_json({"ok": False, "report": report.to_dict()})
    for problem in report.problems:
        err.print(str(problem), highlight=False, markup=False)
    err.print(f"[bold red]{report.summary()}[/]", highlight=False)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV, Excel or Parquet file, as published.")],
    mapping: Annotated[
        Path, typer.Option("--mapping", "-m", help="Mapping file (YAML) for this file's layout.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who is importing (recorded on the batch).")] = None,
) -> None:
    """Validate FILE against MAPPING and import it: all or nothing, and idempotent."""
    from forewarn.ingest.importer import import_file
    from forewarn.ingest.mapping import MappingError
    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import get_settings

    settings = get_settings()
    engine = _migrated_engine(settings)
    try:
        with progress_stages() as stage:
            result = import_file(
                engine,
                file,
                mapping,
                imported_by=by or settings.imported_by,
                chunk_rows=settings.import_chunk_rows,
                max_listed=settings.import_max_reported_errors,
                stage=stage,
            )
    except MappingError as exc:
        if as_json:
            _emit_json({"ok": False, "mapping_problems": [p.to_dict() for p in exc.problems]})
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False)
        raise fail("the mapping file cannot be used; nothing was imported", 2) from None
    except ImportRejected as exc:
        _print_rejection(exc, as_json)
        raise typer.Exit(1) from None
    _report_import(result, as_json)


def _report_import(result: ImportResult, as_json: bool) -> None:
    if as_json:
        _emit_json({"ok": True, "result": result.to_dict()})
    err.print(result.summary(), highlight=False)
    for reason, count in result.skipped_reasons.items():
        err.print(f"  skipped {count}: {reason}", highlight=False)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@app.command("export")
def export_command(
    indicator: Annotated[str, typer.Argument(help="Indicator code (see `forewarn datasets --indicators`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[
        ExportFormat | None, typer.Option("--format", help="csv or parquet (default: from suffix).")
    ] = None,
) -> None:
    """Write every observation of INDICATOR to CSV or Parquet."""
    from forewarn.settings import get_settings
    from forewarn.store.queries import indicator_codes, observations_frame, spreadsheet_safe

    engine = _migrated_engine(get_settings())
    with engine.connect() as conn:
        known = indicator_codes(conn)
        if indicator not in known:
            raise fail(
                f"unknown indicator {indicator!r}; known: {', '.join(known) or '(none: import data first)'}"
            )
        frame = observations_frame(conn, indicator)
    kind = fmt.value if fmt else ("parquet" if output.suffix.lower() in (".parquet", ".pq") else "csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.write_parquet(output)
    else:
        spreadsheet_safe(frame).write_csv(output)
    err.print(f"wrote {frame.height} observations of {indicator} to {output}", highlight=False)


@app.command("datasets")
def datasets_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON on stdout.")] = False,
) -> None:
    """What the store holds, per dataset."""
    from forewarn.settings import get_settings
    from forewarn.store.queries import dataset_summaries

    engine = _migrated_engine(get_settings())
    with engine.connect() as conn:
        summaries = dataset_summaries(conn)
    if as_json:
        _emit_json([s.__dict__ for s in summaries])
        return
    out.print(_summary_table(summaries))


def _summary_table(summaries: list[Any]) -> Table:
    from rich.table import Table

    table = Table(title="Datasets in the store")
    for column in ("dataset", "organisations", "indicators", "periods", "observations", "from", "to"):
        table.add_column(column, justify="right" if column not in ("dataset",) else "left")
    for s in summaries:
        label = s.code + (" (SIMULATED)" if s.simulated else "")
        table.add_row(
            label,
            f"{s.organisations:,}",
            f"{s.indicators:,}",
            f"{s.periods:,}",
            f"{s.observations:,}",
            str(s.first_period or "-"),
            str(s.last_period or "-"),
        )
    return table


@app.command("scan")
def scan_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the scan result as JSON on stdout.")] = False,
    fdr: Annotated[float, typer.Option("--fdr", help="False-discovery rate for funnel outliers.")] = 0.05,
    false_alarms: Annotated[
        float,
        typer.Option(
            "--cusum-false-alarms",
            help="Share of in-control series allowed a CUSUM alarm by chance over the whole window.",
        ),
    ] = 0.05,
    rate_ratio: Annotated[
        float, typer.Option("--cusum-ratio", help="Odds/rate ratio the CUSUM detects.")
    ] = 2.0,
) -> None:
    """Run every surveillance method over every organisation and indicator; store the signals."""
    from forewarn.settings import get_settings
    from forewarn.surveillance.options import ScanOptions
    from forewarn.surveillance.scan import run_scan

    engine = _migrated_engine(get_settings())
    try:
        options = ScanOptions(
            fdr_alpha=fdr, cusum_false_alarm_share=false_alarms, cusum_rate_ratio=rate_ratio
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with progress_stages() as stage:
        result = run_scan(engine, options, stage=stage)
    if as_json:
        _emit_json(result.to_dict())
    _print_scan(result)


def _print_scan(result: Any) -> None:
    summary = result.summary
    err.print(
        f"scan {result.scan_id}: {result.series_scanned} series, {result.series_changed} changed, "
        f"{result.signals_written} signals written; funnel outliers after FDR "
        f"{summary.get('funnel_flags_after_fdr', 0)} of {summary.get('funnel_tests', 0)} tests "
        f"({summary.get('funnel_expected_by_chance', 0):.1f} expected by chance at the limits alone); "
        f"current CUSUM alarms {summary.get('cusum_current', 0)} "
        f"({summary.get('cusum_current_expected', 0):.1f} expected by chance); latest SPC points of concern "
        f"{summary.get('spc_current_concern', 0)} ({summary.get('spc_current_concern_expected', 0):.1f} expected "
        "by chance of stable processes)",
        highlight=False,
    )


@app.command("simulate")
def simulate_command(
    orgs: Annotated[int, typer.Option("--orgs", help="Organisations.")] = 200,
    years: Annotated[int, typer.Option("--years", help="Years of monthly data.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default: DATA_DIR/simulated).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="parquet or csv.")] = ExportFormat.parquet,
    load_store: Annotated[bool, typer.Option("--load", help="Import into the store.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")] = False,
) -> None:
    """Simulate organisations with known truth (SIMULATED data); --load imports the observable part."""
    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import get_settings
    from forewarn.simulate import SimulationParameters, load, simulate

    settings = get_settings()
    target = out or settings.data_dir / "simulated"
    try:
        params = SimulationParameters(n_organisations=orgs, n_years=years, seed=seed)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with progress_stages() as stage:
        summary = simulate(target, params, file_format=fmt.value, stage=stage)
    err.print(summary.summary(), highlight=False)
    loaded = None
    if load_store:
        engine = _migrated_engine(settings)
        try:
            with progress_stages() as stage:
                loaded = load(
                    engine,
                    target,
                    imported_by=settings.imported_by,
                    chunk_rows=settings.import_chunk_rows,
                    stage=stage,
                )
        except ImportRejected as exc:
            _print_rejection(exc, as_json)
            raise typer.Exit(1) from None
        for result in (loaded.organisations, loaded.indicators, loaded.events):
            err.print(result.summary(), highlight=False)
    if as_json:
        _emit_json({"ok": True, "simulation": summary.to_dict(), "load": loaded and loaded.to_dict()})


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store to the newest schema."""
    from forewarn.settings import get_settings
    from forewarn.store import migrate

    engine = _migrated_engine(get_settings())
    err.print(
        f"store at revision {migrate.current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}"
    )


@app.command("demo")
def demo_command(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the web app afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data", help="Folder holding the bundled datasets.")
    ] = None,
    no_simulation: Annotated[
        bool, typer.Option("--no-simulation", help="Skip the simulated region loaded beside the real data.")
    ] = False,
) -> None:
    """Set up the store, import the bundled real data and a small SIMULATED region, scan, and summarise."""
    from forewarn.demo import run_demo
    from forewarn.settings import get_settings
    from forewarn.web.commands import finish_demo

    settings = get_settings()
    engine = _engine(settings)
    with progress_stages() as stage:
        report = run_demo(
            engine,
            data_dir,
            imported_by=settings.imported_by,
            stage=stage,
            chunk_rows=settings.import_chunk_rows,
            simulated_dir=None if no_simulation else settings.data_dir / "simulated",
        )
    for result in report.imports:
        err.print(result.summary(), highlight=False)
    _print_scan(report.scan)
    where = engine.url.render_as_string(hide_password=True)
    if as_json:
        _emit_json(
            {
                "database": where,
                "imports": [r.to_dict() for r in report.imports],
                "datasets": [s.__dict__ for s in report.summaries],
                "scan": report.scan.to_dict(),
            }
        )
    else:
        out.print(_summary_table(report.summaries))
        out.print(f"Database: {where}")
        out.print("Look further with: forewarn datasets, forewarn export INDICATOR -o FILE.csv")
    finish_demo(settings, engine, serving=serve)


def main() -> None:  # pragma: no cover - console entry point
    app()
