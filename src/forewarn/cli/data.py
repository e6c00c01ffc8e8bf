"""``forewarn import``, ``export``, ``datasets``, ``scan``, ``simulate``, ``demo`` and ``db upgrade``: the data in
the store. :mod:`forewarn.cli` registers them; each imports the services it uses when it runs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.output import emit_json, err, fail, out, print_rejection, progress_stages
from forewarn.cli.store import migrated_engine, store_engine

if TYPE_CHECKING:
    from rich.table import Table

    from forewarn.ingest.importer import ImportResult


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
    from forewarn.ingest.limits import Limits
    from forewarn.ingest.mapping import MappingError
    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import get_settings

    settings = get_settings()
    engine = migrated_engine(settings)
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
                limits=Limits.from_settings(settings),
            )
    except MappingError as exc:
        if as_json:
            emit_json({"ok": False, "mapping_problems": [p.to_dict() for p in exc.problems]})
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False)
        raise fail("the mapping file cannot be used; nothing was imported", 2) from None
    except ImportRejected as exc:
        print_rejection(exc, as_json)
        raise typer.Exit(1) from None
    _report_import(result, as_json)


def _report_import(result: ImportResult, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": True, "result": result.to_dict()})
    err.print(result.summary(), highlight=False)
    for reason, count in result.skipped_reasons.items():
        err.print(f"  skipped {count}: {reason}", highlight=False)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


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

    engine = migrated_engine(get_settings())
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


def datasets_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON on stdout.")] = False,
) -> None:
    """What the store holds, per dataset."""
    from forewarn.settings import get_settings
    from forewarn.store.queries import dataset_summaries

    engine = migrated_engine(get_settings())
    with engine.connect() as conn:
        summaries = dataset_summaries(conn)
    if as_json:
        emit_json([s.__dict__ for s in summaries])
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
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Recompute everything, even when nothing changed since the last scan with these options.",
        ),
    ] = False,
) -> None:
    """Run every surveillance method over every organisation and indicator; store the signals."""
    from forewarn.settings import get_settings
    from forewarn.surveillance.options import ScanOptions
    from forewarn.surveillance.scan import run_scan

    settings = get_settings()
    engine = migrated_engine(settings)
    try:
        options = ScanOptions(
            fdr_alpha=fdr, cusum_false_alarm_share=false_alarms, cusum_rate_ratio=rate_ratio
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with progress_stages() as stage:
        result = run_scan(engine, options, full=full, stage=stage, scheduler=settings.scheduler)
    if as_json:
        emit_json(result.to_dict())
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


def _print_risk(runs: list[Any]) -> None:
    """Each dataset's backtest (with whether soft measures help), the model stored and the riskiest now."""
    from forewarn.cli.risk import print_backtest

    for run in runs:
        err.print(f"early warning on {run.dataset}:", highlight=False)
        print_backtest(run.backtest)
        err.print(
            f"  stored model {run.model_version}; {run.scored} organisations scored as of {run.as_of} "
            "(forewarn risk score; /risk in the web app), the riskiest:",
            highlight=False,
        )
        for row in run.riskiest:
            err.print(
                f"    {row['code']:<12} {row['probability']:.1%} ({row['lower']:.1%} to {row['upper']:.1%}): "
                + ("; ".join(row["reasons"]) or "no reason stands out"),
                highlight=False,
            )


def simulate_command(
    orgs: Annotated[int, typer.Option("--orgs", help="Organisations.")] = 200,
    years: Annotated[int, typer.Option("--years", help="Years of monthly data.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default: DATA_DIR/simulated).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="parquet or csv.")] = ExportFormat.parquet,
    load_store: Annotated[bool, typer.Option("--load", help="Import into the store.")] = False,
    surveys: Annotated[
        bool,
        typer.Option("--surveys", help="With --load, also load the staff survey waves (as the demo does)."),
    ] = False,
    pulse_months: Annotated[
        str,
        typer.Option(
            "--pulse-months",
            help="Months of quarterly pulse survey waves beside the annual one, e.g. 1,4,7 (none by default).",
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")] = False,
) -> None:
    """Simulate organisations with known truth (SIMULATED data); --load imports the observable part."""
    from forewarn.ingest.limits import Limits
    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import get_settings
    from forewarn.simulate import SimulationParameters, load, simulate

    settings = get_settings()
    target = out or settings.data_dir / "simulated"
    try:
        pulse = tuple(int(month) for month in pulse_months.split(",") if month.strip())
    except ValueError:
        raise fail(
            f"Invalid value for '--pulse-months': {pulse_months!r} is not a list of months such as 1,4,7", 2
        ) from None
    try:
        params = SimulationParameters(
            n_organisations=orgs, n_years=years, seed=seed, survey_pulse_months=pulse
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with progress_stages() as stage:
        summary = simulate(target, params, file_format=fmt.value, stage=stage)
    err.print(summary.summary(), highlight=False)
    loaded = None
    if load_store:
        engine = migrated_engine(settings)
        try:
            with progress_stages() as stage:
                loaded = load(
                    engine,
                    target,
                    imported_by=settings.imported_by,
                    chunk_rows=settings.import_chunk_rows,
                    stage=stage,
                    limits=Limits.from_settings(settings),
                )
        except ImportRejected as exc:
            print_rejection(exc, as_json)
            raise typer.Exit(1) from None
        for result in (loaded.organisations, loaded.indicators, loaded.events):
            err.print(result.summary(), highlight=False)
        if surveys:
            from forewarn.demo import load_simulated_surveys

            waves = load_simulated_surveys(
                engine,
                target,
                settings.imported_by,
                params.survey_month,
                min_group_size=settings.min_group_size,
            )
            err.print(f"{len(waves)} staff survey waves loaded", highlight=False)
    if as_json:
        emit_json({"ok": True, "simulation": summary.to_dict(), "load": loaded and loaded.to_dict()})


def db_upgrade() -> None:
    """Create or migrate the store to the newest schema."""
    from forewarn.settings import get_settings
    from forewarn.store import migrate

    engine = migrated_engine(get_settings())
    err.print(
        f"store at revision {migrate.current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}"
    )


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
    from forewarn.cli.web import finish_demo
    from forewarn.demo import run_demo
    from forewarn.ingest.limits import Limits
    from forewarn.settings import get_settings

    settings = get_settings()
    engine = store_engine(settings)
    with progress_stages() as stage:
        report = run_demo(
            engine,
            data_dir,
            imported_by=settings.imported_by,
            stage=stage,
            chunk_rows=settings.import_chunk_rows,
            simulated_dir=None if no_simulation else settings.data_dir / "simulated",
            min_group_size=settings.min_group_size,
            limits=Limits.from_settings(settings),
        )
    for result in report.imports:
        err.print(result.summary(), highlight=False)
    _print_scan(report.scan)
    _print_risk(report.risk)  # issue 11: both backtests, with the soft-measures sentence, and the riskiest
    where = engine.url.render_as_string(hide_password=True)
    if as_json:
        emit_json(
            {
                "database": where,
                "imports": [r.to_dict() for r in report.imports],
                "datasets": [s.__dict__ for s in report.summaries],
                "scan": report.scan.to_dict(),
                "risk": [run.to_dict() for run in report.risk],
            }
        )
    else:
        out.print(_summary_table(report.summaries))
        out.print(f"Database: {where}")
        out.print("Look further with: forewarn datasets, forewarn export INDICATOR -o FILE.csv")
    finish_demo(settings, engine, serving=serve)
