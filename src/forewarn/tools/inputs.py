"""Where a tool's rows come from: a CSV, Excel or Parquet file, or a DataFrame already in memory, read as text
with ``__row`` (the row number a person sees) and only the columns the tool's options name."""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forewarn.ingest.problems import Problem
from forewarn.ingest.readers import EXCEL_SUFFIXES, ROW
from forewarn.tools.problems import AnalystInputError, usage_error

PARQUET_SUFFIXES = (".parquet", ".pq")
MISSING_VALUES = ["", "NA", "N/A", "n/a", "NULL", "null"]
_HEADER_SHOWN = 30


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
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, name, sheet)
    elif suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path, name)
    else:
        frame = _read_csv(path, name)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return needed_text(frame, columns, name, first_row=2, header="header")


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
    return needed_text(text, named, name, first_row=0, header="frame")


def check_columns(available: Sequence[str], columns: Mapping[str, str], name: str, *, header: str) -> None:
    """Every column an option names that is not in the header (or frame), reported at once with a did-you-mean."""
    problems = []
    for option, column in columns.items():
        if column in available:
            continue
        close = difflib.get_close_matches(column, available, n=1, cutoff=0.6)
        if not close:
            lowered = {c.lower(): c for c in available}
            close = [lowered[column.lower()]] if column.lower() in lowered else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(repr(c) for c in available[:_HEADER_SHOWN])
        if len(available) > _HEADER_SHOWN:
            shown += f", ... ({len(available)} columns)"
        problems.append(
            Problem(
                name,
                1 if header == "header" else None,
                column,
                None,
                f"{option} names a column that is not in the {header}{hint} (the {header} has {shown})",
            )
        )
    if problems:
        raise AnalystInputError(problems, usage=True)


def needed_text(
    frame: pl.DataFrame, columns: Mapping[str, str], name: str, *, first_row: int, header: str
) -> pl.DataFrame:
    """The needed columns of a text frame, stripped (null where empty or NA), with ``__row``."""
    check_columns(frame.columns, columns, name, header=header)
    if frame.height == 0:
        what = "file" if header == "header" else "frame"
        raise AnalystInputError(
            [Problem(name, None, None, None, f"empty {what}: the {header} is there but no data rows")]
        )
    needed = list(dict.fromkeys(columns.values()))
    text = [_stripped_or_null(pl.col(c)).alias(c) for c in needed]
    return frame.select(text).with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))


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
    return pl.when(text.is_in(MISSING_VALUES)).then(None).otherwise(text)


def _read_csv(path: Path, name: str) -> pl.DataFrame:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise AnalystInputError([Problem(name, None, None, None, "empty file: it has no header and no rows")])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:
            # Excel on Windows saves "CSV" as Windows-1252.
            data = data.decode("cp1252").encode("utf-8")
        except UnicodeDecodeError:
            line = data[: exc.start].count(b"\n") + 1
            byte = data[exc.start : exc.start + 1].hex()
            raise AnalystInputError(
                [Problem(name, line, None, f"0x{byte}", "wrong encoding: save the file as UTF-8 CSV")]
            ) from exc
    try:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, null_values=MISSING_VALUES)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise AnalystInputError([Problem(name, None, None, None, f"not a readable CSV file: {exc}")]) from exc


def _read_excel(path: Path, name: str, sheet: str | None) -> pl.DataFrame:
    try:
        frame = pl.read_excel(path, sheet_name=sheet, infer_schema_length=0, engine="calamine")
    except Exception as exc:  # the engine raises many kinds; all mean "cannot read this workbook"
        raise AnalystInputError(
            [Problem(name, None, None, sheet, f"not a readable Excel workbook or sheet: {exc}")]
        ) from exc
    return frame.select(pl.all().cast(pl.String))


def _read_parquet(path: Path, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # pyarrow/polars raise several kinds for a damaged file
        raise AnalystInputError(
            [Problem(name, None, None, None, f"not a readable Parquet file: {exc}")]
        ) from exc
    return frame.select(
        [
            pl.col(c).dt.strftime("%Y-%m-%d")
            if frame.schema[c] in (pl.Date, pl.Datetime)
            else pl.col(c).cast(pl.String)
            for c in frame.columns
        ]
    )
