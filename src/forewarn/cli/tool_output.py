"""What every analyst command shares: its file, output and JSON options, running the tool (every problem listed on
stderr, exit 1 for the data and 2 for the options) and delivering its tables (``--output``, ``--json`` or CSV on
stdout; messages, summaries and warnings on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from forewarn.cli.output import emit_json

if TYPE_CHECKING:
    # The tools pull in Polars, NumPy and SciPy: each command imports what it uses, so that `forewarn --help`
    # stays fast (tests/cli/test_cli_startup.py).
    from forewarn.tools.output import AnalystResult

err = Console(stderr=True, soft_wrap=True, highlight=False)

# Above this many series the per-series table is not drawn on stderr (use --json or --series-output).
_MAX_SERIES_SHOWN = 20

FileArg = Annotated[
    Path,
    typer.Argument(
        help="CSV, Excel (.xlsx) or Parquet file, one row per unit or per period.", dir_okay=False
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the table here: CSV, or Parquet for .parquet (default: stdout CSV)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the summary and rows as JSON on stdout.")]
Sheet = Annotated[str | None, typer.Option("--sheet", help="Excel sheet (default: the first).")]
SeriesOutput = Annotated[
    Path | None,
    typer.Option(
        "--series-output", help="Write the per-series summary table here (CSV, or Parquet by suffix)."
    ),
]


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "bold yellow"), message))


def compute(run: Callable[[], AnalystResult], as_json: bool) -> AnalystResult:
    """Run a service call; on bad input list every problem on stderr (and as JSON) and exit 1 or 2."""
    import polars as pl

    from forewarn.tools.problems import AnalystInputError

    try:
        return run()
    except AnalystInputError as exc:
        if as_json:
            emit_json(exc.to_dict())
        for problem in exc.problems:
            err.print(Text(str(problem)))
        err.print(Text.assemble(("error: ", "bold red"), exc.summary()))
        raise typer.Exit(exc.exit_code) from None
    except (ValueError, pl.exceptions.PolarsError) as exc:
        # Inputs are validated before any statistic runs; this is the last guard against a traceback.
        if as_json:
            emit_json({"ok": False, "exit_code": 1, "error": str(exc)})
        err.print(Text.assemble(("error: ", "bold red"), f"could not compute: {exc}"))
        raise typer.Exit(1) from None


def deliver(
    command: str,
    result: AnalystResult,
    *,
    output: Path | None,
    as_json: bool,
    series_output: Path | None = None,
) -> None:
    from forewarn.tools.output import csv_text, json_rows, write_table

    for warning in result.warnings:
        warn(warning)
    if output is not None:
        write_table(result.table, output)
        err.print(Text(f"wrote {result.table.height} rows to {output}"))
    if series_output is not None and result.series_table is not None:
        write_table(result.series_table, series_output)
        err.print(Text(f"wrote {result.series_table.height} series rows to {series_output}"))
    if as_json:
        payload: dict[str, Any] = {
            "ok": True,
            "command": command,
            "summary": result.summary,
            "warnings": list(result.warnings),
        }
        if output is not None:
            payload["output"] = str(output)
        payload["rows"] = json_rows(result.table)
        if result.series_table is not None:
            payload["series"] = json_rows(result.series_table)
        emit_json(payload)
    elif output is None:
        sys.stdout.write(csv_text(result.table))


def show(value: Any, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def print_series_table(result: AnalystResult, title: str, columns: list[str]) -> None:
    """A few columns of the per-series table on stderr, when there are few series (the rest: --json)."""
    if result.series_table is None or not 0 < result.series_table.height <= _MAX_SERIES_SHOWN:
        return
    frame = result.series_table.select(c for c in columns if c in result.series_table.columns)
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.rows():
        table.add_row(*(show(v, 5) for v in row))
    err.print(table)


# ----------------------------------------------------------------------------------------------------------
# funnel
