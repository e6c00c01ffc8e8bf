"""Where a tool's rows come from: a CSV, Excel or Parquet file (read by :mod:`forewarn.ingest.readers`, the one
reader), or a DataFrame already in memory; read as text with ``__row`` (the row number a person sees) and only the
columns the tool's options name."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import MISSING_VALUES, FileSpec
from forewarn.ingest.problems import Problem
from forewarn.ingest.readers import ROW, WINDOWS_1252, UnreadableFile, closest_column, read_text
from forewarn.tools.problems import AnalystInputError, usage_error

_HEADER_SHOWN = 30
_NO_LIMITS = Limits(
    max_file_bytes=sys.maxsize,
    max_rows=sys.maxsize,
    max_line_bytes=sys.maxsize,
    max_inflated_bytes=sys.maxsize,
)
"""The analyst's own files on their own machine: the import limits guard the web app, not the tools."""


def read_input(path: Path, columns: Mapping[str, str], *, sheet: str | None = None) -> pl.DataFrame:
    """Read ``path`` as text columns, keeping ``__row``, the row number a person sees (header = row 1).

    Parameters
    ----------
    path
        A CSV (UTF-8, or Windows-1252 as Excel saves it), Excel (by suffix) or Parquet file.
    columns
        The columns needed, keyed by the option that named them (e.g. ``{"--unit-col": "provnum"}``).
    sheet
        Excel sheet name (default: the first).

    Returns
    -------
    polars.DataFrame
        The needed columns as stripped text (null where empty or NA), plus ``__row``.

    Raises
    ------
    AnalystInputError
        For a missing file or column (usage, with a did-you-mean), an unreadable or empty file (data).
    """
    name = path.name
    if not path.is_file():
        raise usage_error(name, f"file not found: {path}")
    try:
        table = read_text(path, FileSpec(sheet=sheet), _NO_LIMITS, fallback_encoding=WINDOWS_1252)
    except UnreadableFile as exc:
        raise AnalystInputError(exc.problems) from None
    return needed_text(table.frame, columns, name, header="header")


def frame_input(frame: pl.DataFrame, columns: Mapping[str, str], *, name: str = "data") -> pl.DataFrame:
    """What :func:`read_input` gives for a file, from a DataFrame already in memory.

    Every column is read as text, as a Parquet file's are (dates as ``YYYY-MM-DD``, numbers in their shortest
    exact form), so a frame and the same data written to a file give the same numbers. Options are named as
    the Python API names them (``unit_col``, not ``--unit-col``), and ``__row`` is the row's position in the
    frame, counted from 0 as pandas' ``iloc`` counts.
    """
    named = {option.lstrip("-").replace("-", "_"): column for option, column in columns.items()}
    check_columns(frame.columns, named, name, header="frame")
    wanted = set(named.values())
    text = frame.select(
        pl.col(c).dt.strftime("%Y-%m-%d")
        if frame.schema[c] in (pl.Date, pl.Datetime)
        else pl.col(c).cast(pl.String)
        for c in frame.columns
        if c in wanted
    )
    numbered = text.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    return needed_text(numbered, named, name, header="frame")


def column_problems(
    available: Sequence[str], named: Iterable[tuple[str, str]], name: str, *, header: str
) -> list[Problem]:
    """A problem for each (option, column) whose column is not in the header (or frame), with a did-you-mean."""
    shown = ", ".join(repr(c) for c in available[:_HEADER_SHOWN])
    if len(available) > _HEADER_SHOWN:
        shown += f", ... ({len(available)} columns)"
    problems = []
    for option, column in named:
        if column in available:
            continue
        close = closest_column(column, available)
        hint = f"; did you mean {close!r}?" if close else ""
        has = f" (the {header} has {shown})" if available else ""
        problems.append(
            Problem(
                name,
                1 if header == "header" else None,
                column,
                None,
                f"{option} names a column that is not in the {header}{hint}{has}",
            )
        )
    return problems


def check_columns(available: Sequence[str], columns: Mapping[str, str], name: str, *, header: str) -> None:
    """Every column an option names that is not in the header (or frame), reported at once (a usage problem)."""
    problems = column_problems(available, columns.items(), name, header=header)
    if problems:
        raise AnalystInputError(problems, usage=True)


def needed_text(frame: pl.DataFrame, columns: Mapping[str, str], name: str, *, header: str) -> pl.DataFrame:
    """The needed columns of a text frame with ``__row``, stripped (null where empty or NA)."""
    check_columns([c for c in frame.columns if c != ROW], columns, name, header=header)
    if frame.height == 0:
        what = "file" if header == "header" else "frame"
        raise AnalystInputError(
            [Problem(name, None, None, None, f"empty {what}: the {header} is there but no data rows")]
        )
    needed = list(dict.fromkeys(columns.values()))
    return frame.select(*(_stripped_or_null(pl.col(c)).alias(c) for c in needed), ROW)


@dataclass(frozen=True)
class FileInput:
    """A file to read (CSV, Excel or Parquet), named in messages by its file name."""

    path: Path
    sheet: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, columns: Mapping[str, str]) -> pl.DataFrame:
        return read_input(self.path, columns, sheet=self.sheet)


@dataclass(frozen=True)
class FrameInput:
    """A Polars DataFrame already in memory, named ``name`` in messages."""

    frame: pl.DataFrame
    name: str = "data"

    def read(self, columns: Mapping[str, str]) -> pl.DataFrame:
        return frame_input(self.frame, columns, name=self.name)


AnalystInput = FileInput | FrameInput
"""Where a tool's rows come from: each tool checks its options, then reads only the columns they name."""


def as_input(data: AnalystInput | pl.DataFrame) -> AnalystInput:
    return FrameInput(data) if isinstance(data, pl.DataFrame) else data


def _stripped_or_null(column: pl.Expr) -> pl.Expr:
    text = column.cast(pl.String).str.strip_chars()
    return pl.when(text.is_in(list(MISSING_VALUES))).then(None).otherwise(text)
