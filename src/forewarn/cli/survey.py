"""``forewarn survey ...`` and ``forewarn psychometrics``: the command line of the soft-measures surveys.

:mod:`forewarn.cli` wires these in with ``app.add_typer(survey_app, name="survey")`` and
``app.command("psychometrics")(psychometrics_command)``. Messages go to stderr; ``--json`` puts results on stdout.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from forewarn.cli.output import emit_json, err, fail, print_rejection
from forewarn.cli.store import migrated_engine

if TYPE_CHECKING:
    # The services pull in SQLAlchemy, NumPy, SciPy and Polars: each command imports what it uses, so that
    # `forewarn --help` stays fast (tests/cli/test_cli_startup.py).

    from forewarn.ingest.problems import ImportRejected
    from forewarn.settings import Settings
    from forewarn.surveys.result_types import GroupAnalysis

survey_app = typer.Typer(
    help="Learning-capacity surveys: create a wave, issue tokens, take uploads, publish results.",
    no_args_is_help=True,
)

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
By = Annotated[str | None, typer.Option("--by", help="Who is doing this (recorded on the wave or upload).")]
WaveArg = Annotated[str, typer.Argument(help="Wave name or id.")]

DEFAULT_RESAMPLES = 1000
"""``forewarn.surveys.results.DEFAULT_RESAMPLES``, repeated so this module need not import the statistics."""


def _rejected(exc: ImportRejected, as_json: bool) -> typer.Exit:
    print_rejection(exc, as_json)
    return typer.Exit(1)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for text in values or [] for v in text.split(",") if v.strip()]


def _settings() -> Settings:
    """The process's settings: the commands give the survey services the values they need from them (the
    minimum group size, the name recorded for an action)."""
    from forewarn.settings import get_settings

    return get_settings()


def _floor() -> int:
    """The ``FOREWARN_MIN_GROUP_SIZE`` setting: no wave's threshold goes below it."""
    return _settings().min_group_size


def _by(by: str | None) -> str | None:
    """Who is doing this: ``--by``, else the ``FOREWARN_IMPORTED_BY`` setting (the service falls back to the
    operating-system user)."""
    return by or _settings().imported_by


@survey_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="A name for the wave, e.g. 'Spring 2026'.")],
    orgs: Annotated[
        list[str] | None, typer.Option("--orgs", help="Organisation codes, comma-separated.")
    ] = None,
    orgs_file: Annotated[
        Path | None, typer.Option("--orgs-file", help="A text file of organisation codes, one a line.")
    ] = None,
    instrument: Annotated[
        str, typer.Option("--instrument", "-i", help="Built-in code[@version] or a YAML file.")
    ] = "forewarn_lc",
    min_group_size: Annotated[
        int | None, typer.Option("--min-group-size", help="Raise the suppression threshold for this wave.")
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Create a draft wave of an instrument for one or many organisations."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.instrument import InstrumentError
    from forewarn.surveys.waves import create_wave

    codes = _split(orgs)
    if orgs_file is not None:
        codes += [line.strip() for line in orgs_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        info = create_wave(
            migrated_engine(),
            name,
            codes,
            instrument=instrument,
            created_by=_by(by),
            min_group_size=min_group_size,
            floor=_floor(),
        )
    except InstrumentError as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False)
        raise fail("the instrument cannot be used; no wave was created", 2) from None
    except SurveyError as exc:
        raise fail(str(exc)) from None
    if as_json:
        emit_json(info.to_dict())
    err.print(
        f"wave {info.id} {info.name!r} created (draft) for {len(info.organisations)} organisation(s), "
        f"instrument {info.instrument}, groups under {info.min_group_size} suppressed",
        highlight=False,
    )


@survey_app.command("open")
def open_command(wave: WaveArg, by: By = None) -> None:
    """Open a draft wave for answers."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.waves import open_wave

    try:
        info = open_wave(migrated_engine(), wave, floor=_floor(), by=_by(by))
    except SurveyError as exc:
        raise fail(str(exc)) from None
    err.print(f"wave {info.name!r} is open", highlight=False)


@survey_app.command("close")
def close_command(wave: WaveArg, by: By = None) -> None:
    """Close an open wave for good (no more answers), and reseal its storage."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.waves import close_wave

    try:
        info = close_wave(migrated_engine(), wave, floor=_floor(), by=_by(by))
    except SurveyError as exc:
        raise fail(str(exc)) from None
    err.print(
        f"wave {info.name!r} is closed; results: forewarn survey results {info.name!r}", highlight=False
    )


@survey_app.command("tokens")
def tokens_command(
    wave: WaveArg,
    per_org: Annotated[int, typer.Option("--per-org", "-n", help="Tokens to issue for each organisation.")],
    orgs: Annotated[
        list[str] | None, typer.Option("--orgs", help="Only these organisations (comma-separated).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write org_code,token to this new CSV file instead of stdout."),
    ] = None,
) -> None:
    """Issue single-use anonymous tokens. They are shown this once: only their hashes are stored."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.tokens import issue_tokens

    if output is not None and output.exists():
        raise fail(f"{output} exists; tokens are never written over an existing file")
    try:
        issued = issue_tokens(migrated_engine(), wave, per_org, _split(orgs) or None)
    except SurveyError as exc:
        raise fail(str(exc)) from None
    handle = output.open("x", newline="", encoding="utf-8") if output is not None else sys.stdout
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["org_code", "token"])
        for code, texts in issued.items():
            writer.writerows([code, text] for text in texts)
    finally:
        if output is not None:
            handle.close()
    total = sum(len(t) for t in issued.values())
    where = f" to {output}" if output is not None else ""
    err.print(
        f"{total} tokens issued for {len(issued)} organisation(s){where}. They cannot be shown again: "
        "hand them out now, one per person.",
        highlight=False,
    )


@survey_app.command("import")
def import_command(
    wave: WaveArg,
    file: Annotated[Path, typer.Argument(help="CSV or Excel export: org_code and one column per item.")],
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel sheet (default: the first).")] = None,
    map_column: Annotated[
        list[str] | None,
        typer.Option("--map-column", help="FILE_COLUMN=ITEM_CODE, repeatable or comma-separated."),
    ] = None,
    ignore_column: Annotated[
        list[str] | None,
        typer.Option("--ignore-column", help="A column that is not an answer (never stored)."),
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Add an organisation's own survey export to an open wave: all or nothing, and idempotent."""
    from forewarn.ingest.problems import ImportRejected
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.uploads import import_responses

    column_map: dict[str, str] = {}
    for pair in _split(map_column):
        source, sep, target = pair.partition("=")
        if not sep:
            raise fail(f"--map-column {pair!r}: write FILE_COLUMN=ITEM_CODE", 2)
        column_map[source.strip()] = target.strip()
    settings = _settings()
    try:
        result = import_responses(
            migrated_engine(),
            wave,
            file,
            imported_by=_by(by),
            column_map=column_map,
            ignore_columns=_split(ignore_column),
            sheet=sheet,
            max_listed=settings.import_max_reported_errors,
        )
    except ImportRejected as exc:
        raise _rejected(exc, as_json) from None
    except SurveyError as exc:
        raise fail(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "result": result.to_dict()})
    err.print(result.summary(), highlight=False)


@survey_app.command("list")
def list_command(as_json: Json = False) -> None:
    """Every wave, with its state and instrument."""
    from forewarn.surveys.waves import list_waves

    waves = list_waves(migrated_engine(), floor=_floor())
    if as_json:
        emit_json([w.to_dict() for w in waves])
        return
    table = Table(title="Survey waves")
    for column in ("id", "name", "status", "instrument", "organisations", "min group"):
        table.add_column(column)
    for w in waves:
        table.add_row(
            str(w.id), w.name, w.status, w.instrument, str(len(w.organisations)), str(w.min_group_size)
        )
    out.print(table)


@survey_app.command("status")
def status_command(wave: WaveArg, as_json: Json = False) -> None:
    """Answers received so far per organisation (small counts shown as "<5")."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.results import wave_progress

    try:
        progress = wave_progress(migrated_engine(), wave, floor=_floor())
    except SurveyError as exc:
        raise fail(str(exc)) from None
    if as_json:
        emit_json(progress.to_dict())
        return
    table = Table(title=f"Wave {progress.wave['name']} ({progress.wave['status']})")
    table.add_column("organisation")
    table.add_column("responses", justify="right")
    for code, n in progress.responses.items():
        table.add_row(code, str(n))
    out.print(table)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _print_analysis(
    analysis: GroupAnalysis, title: str, groups: Console | None = out, scales_to: Console = out
) -> None:
    if groups is not None:
        _print_groups(analysis, title, groups)
    _print_scales(analysis, scales_to)


def _print_groups(analysis: GroupAnalysis, title: str, console: Console) -> None:
    table = Table(title=title)
    columns = [
        "group",
        "dimension",
        "n",
        "mean",
        "95% CI",
        *[f"rwg(j) {n}" for n in analysis.null_names],
        "awg",
        "verdict",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column in ("group", "dimension", "verdict") else "right")
    for c in analysis.cells:
        if c.suppressed:
            table.add_row(
                c.group, c.dimension, str(c.n), "suppressed", "", *[""] * len(analysis.null_names), "", ""
            )
            continue
        rwg = [_fmt(None if c.rwg_j is None else c.rwg_j.get(n)) for n in analysis.null_names]
        verdict = c.verdict or ""
        if c.reason:
            verdict += f" ({c.reason})"
        table.add_row(
            c.group,
            c.dimension,
            str(c.n),
            _fmt(c.mean),
            f"{_fmt(c.ci_lower)} to {_fmt(c.ci_upper)}",
            *rwg,
            _fmt(c.awg),
            verdict,
        )
    console.print(table)


def _print_scales(analysis: GroupAnalysis, console: Console) -> None:
    scales = Table(title="Reliability and aggregation, per dimension (published groups only)")
    for column in (
        "dimension",
        "groups",
        "respondents",
        "alpha",
        "alpha 95% CI",
        "omega",
        "ICC(1)",
        "ICC(2)",
    ):
        scales.add_column(column, justify="left" if column == "dimension" else "right")
    for d in analysis.dimensions:
        scales.add_row(
            d.dimension,
            f"{d.groups_shown} (+{d.groups_suppressed} suppressed)",
            str(d.respondents),
            _fmt(d.alpha),
            f"{_fmt(d.alpha_ci_lower)} to {_fmt(d.alpha_ci_upper)}",
            _fmt(d.omega),
            _fmt(d.icc1),
            _fmt(d.icc2),
        )
    console.print(scales)
    items = Table(title="Items")
    for column in ("dimension", "item", "n", "mean", "sd", "item-total r", "alpha if deleted"):
        items.add_column(column, justify="left" if column in ("dimension", "item") else "right")
    for d in analysis.dimensions:
        for i in d.items:
            label = i.item + (" (reversed)" if i.reverse_keyed else "")
            items.add_row(
                d.dimension,
                label,
                str(i.n),
                _fmt(i.mean),
                _fmt(i.sd),
                _fmt(i.item_total_r),
                _fmt(i.alpha_if_deleted),
            )
    console.print(items)


def _write_csv(rows: list[dict[str, object]], handle: TextIO) -> None:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["group"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _write_rows(rows: list[dict[str, object]], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        _write_csv(rows, handle)


@survey_app.command("results")
def results_command(
    wave: WaveArg,
    compare_with: Annotated[
        str | None,
        typer.Option(
            "--compare-with", help="An earlier closed wave: show each change and whether it is beyond noise."
        ),
    ] = None,
    region_orgs: Annotated[
        list[str] | None, typer.Option("--pool", help="Also pool these organisations (comma-separated).")
    ] = None,
    resamples: Annotated[
        int,
        typer.Option("--resamples", min=0, help="Random-group resamples behind the aggregation verdicts."),
    ] = DEFAULT_RESAMPLES,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the per-group table as CSV.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Results of a closed wave, with groups under the minimum size suppressed everywhere."""
    from forewarn.surveys.errors import SurveyError
    from forewarn.surveys.results import cell_rows, pooled_summary, wave_results

    engine = migrated_engine()
    try:
        floor = _floor()
        results = wave_results(engine, wave, floor=floor, compare_with=compare_with, n_resamples=resamples)
        pooled = pooled_summary(engine, wave, _split(region_orgs), floor=floor) if region_orgs else None
    except SurveyError as exc:
        raise fail(str(exc)) from None
    if output is not None:
        _write_rows(cell_rows(results.analysis), output)
        err.print(f"wrote {len(results.analysis.cells)} rows to {output}", highlight=False)
    if as_json:
        payload = results.to_dict()
        if pooled is not None:
            payload["pooled"] = pooled.to_dict()
        emit_json(payload)
        return
    _print_analysis(results.analysis, f"Wave {results.wave['name']} ({results.instrument})")
    if results.compared_with is not None:
        table = Table(title=f"Change since {results.compared_with} (Welch t, 95% CI)")
        for column in ("group", "dimension", "before", "after", "change", "95% CI", "p", "beyond noise"):
            table.add_column(column, justify="left" if column in ("group", "dimension") else "right")
        for c in results.changes:
            if c.suppressed:
                table.add_row(c.group, c.dimension, str(c.n_before), str(c.n_after), "suppressed", "", "", "")
                continue
            table.add_row(
                c.group,
                c.dimension,
                _fmt(c.mean_before),
                _fmt(c.mean_after),
                _fmt(c.difference),
                f"{_fmt(c.ci_lower)} to {_fmt(c.ci_upper)}",
                _fmt(c.p_value),
                "yes" if c.changed else "no",
            )
        out.print(table)
    if pooled is not None:
        table = Table(title=f"Pooled: {', '.join(pooled.organisations)}")
        for column in ("dimension", "n", "mean", "sd", "95% CI"):
            table.add_column(column)
        for d in pooled.dimensions:
            table.add_row(
                d.dimension, str(d.n), _fmt(d.mean), _fmt(d.sd), f"{_fmt(d.ci_lower)} to {_fmt(d.ci_upper)}"
            )
        out.print(table)
    for note in results.notes:
        err.print(note, highlight=False)


def psychometrics_command(
    file: Annotated[Path, typer.Argument(help="CSV or Excel file, one row per respondent.")],
    group_col: Annotated[str, typer.Option("--group-col", help="Column naming each respondent's group.")],
    items: Annotated[str, typer.Option("--items", help="Item columns of the scale, comma-separated.")],
    scale_points: Annotated[int, typer.Option("--scale-points", help="Answers run from 1 to this.")] = 5,
    reverse: Annotated[
        str | None, typer.Option("--reverse", help="Reverse-keyed items, comma-separated.")
    ] = None,
    resamples: Annotated[
        int, typer.Option("--resamples", min=0, help="Random-group resamples (0: no aggregation verdicts).")
    ] = DEFAULT_RESAMPLES,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the per-group table as CSV.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Psychometrics of a file: per group n, mean, SD, CI, rwg(j), awg; alpha (CI), omega, ICC(1), ICC(2), items."""
    from forewarn.ingest.problems import ImportRejected
    from forewarn.surveys.results import cell_rows
    from forewarn.tools.psychometrics import OptionsDoNotFit, analyse_file

    try:
        result = analyse_file(
            file,
            group_column=group_col,
            items=_split([items]),
            scale_points=scale_points,
            reverse=_split([reverse] if reverse else []),
            floor=_floor(),
            n_resamples=resamples,
            max_listed=_settings().import_max_reported_errors,
        )
    except ImportRejected as exc:
        raise _rejected(exc, as_json) from None
    except OptionsDoNotFit as exc:
        # Options that do not fit the file exit 2, problems in its cells 1, as in the other analyst tools.
        if as_json:
            emit_json(exc.to_dict())
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False)
        raise fail(exc.summary(), 2) from None
    if as_json:
        if output is not None:
            _write_rows(cell_rows(result.analysis), output)
        emit_json(result.to_dict())
        return
    rows = cell_rows(result.analysis)
    if output is not None:
        _write_rows(rows, output)
        err.print(f"wrote {len(rows)} rows to {output}", highlight=False)
    else:
        _write_csv(rows, sys.stdout)
    _print_analysis(result.analysis, "", groups=None, scales_to=err)
    err.print(
        f"{result.file}: {len(result.items)} items, {result.respondents} respondents. Groups with fewer than "
        f"{result.analysis.min_group_size} respondents are suppressed and left out of the pooled figures.",
        highlight=False,
    )
