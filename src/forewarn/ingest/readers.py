"""Read CSV, Excel and Parquet extracts as text columns, keeping the row number a person would see."""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forewarn.ingest.mapping import FileSpec
from forewarn.ingest.problems import Problem

ROW = "__row"
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")


class UnreadableFile(Exception):
    """A file that cannot be read at all (wrong encoding, empty, no such file, header mismatch)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RawTable:
    """The file as text columns plus ``__row``, the row number in the file (the header is row 1)."""

    frame: pl.DataFrame
    source: str


def detect_format(path: Path, spec: FileSpec) -> str:
    if spec.format is not None:
        return spec.format
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def _decode(data: bytes, encoding: str, name: str) -> bytes:
    """UTF-8 bytes for Polars, or a problem naming the line of the first undecodable byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        hint = (
            " (the file may be Windows-1252: set `file: {encoding: cp1252}` in the mapping)"
            if encoding.lower().replace("-", "") == "utf8"
            else ""
        )
        raise UnreadableFile(
            [
                Problem(
                    name, line, None, f"0x{byte}", f"wrong encoding: this byte is not valid {encoding}{hint}"
                )
            ]
        ) from exc
    except LookupError as exc:
        raise UnreadableFile(
            [Problem(name, None, None, encoding, "unknown encoding in the mapping")]
        ) from exc
    return data if encoding.lower().replace("-", "") == "utf8" else text.encode("utf-8")


def _read_csv(path: Path, spec: FileSpec, name: str) -> pl.DataFrame:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile([Problem(name, None, None, None, "empty file: it has no header and no rows")])
    data = _decode(data, spec.encoding, name)
    try:
        return pl.read_csv(
            io.BytesIO(data),
            infer_schema=False,
            separator=spec.delimiter,
            null_values=spec.missing_values,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise UnreadableFile([Problem(name, None, None, None, f"not a readable CSV file: {exc}")]) from exc


def _read_excel(path: Path, spec: FileSpec, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_excel(path, sheet_name=spec.sheet, infer_schema_length=0, engine="calamine")
    except Exception as exc:  # the Excel engines raise many kinds; all mean "cannot read this workbook"
        raise UnreadableFile(
            [Problem(name, None, None, None, f"not a readable Excel workbook: {exc}")]
        ) from exc
    frame = frame.select(pl.all().cast(pl.String))
    if spec.missing_values:
        frame = frame.with_columns(
            pl.when(pl.all().is_in(spec.missing_values)).then(None).otherwise(pl.all()).name.keep()
        )
    return frame


def _read_parquet(path: Path, name: str) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # pyarrow/polars raise several kinds for a damaged file
        raise UnreadableFile(
            [Problem(name, None, None, None, f"not a readable Parquet file: {exc}")]
        ) from exc
    # Dates written by Polars come back as dates; turn everything into text so one validator serves all formats.
    return frame.select(
        [
            pl.col(c).dt.strftime("%Y-%m-%d")
            if frame.schema[c] in (pl.Date, pl.Datetime)
            else pl.col(c).cast(pl.String)
            for c in frame.columns
        ]
    )


def read_table(path: Path, spec: FileSpec, required_columns: list[str]) -> RawTable:
    """Read ``path`` as text columns, checking the header has every column the mapping reads."""
    name = path.name
    if not path.exists():
        raise UnreadableFile([Problem(name, None, None, None, f"file not found: {path}")])
    kind = detect_format(path, spec)
    if kind == "excel":
        frame = _read_excel(path, spec, name)
    elif kind == "parquet":
        frame = _read_parquet(path, name)
    else:
        frame = _read_csv(path, spec, name)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in required_columns if c not in frame.columns]
    if missing:
        problems = []
        for column in missing:
            close = difflib.get_close_matches(column, frame.columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                Problem(
                    name,
                    1,
                    column,
                    None,
                    f"header does not match the mapping: column {column!r} is missing "
                    f"(the file has {', '.join(repr(c) for c in frame.columns)}){hint}",
                )
            )
        raise UnreadableFile(problems)
    if frame.height == 0:
        raise UnreadableFile(
            [Problem(name, None, None, None, "empty file: the header is there but no data rows")]
        )
    # Header is row 1 in CSV and Excel alike; Parquet has no header row, but one numbering keeps messages uniform.
    frame = (
        frame.select(required_columns).with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    )
    return RawTable(frame=frame, source=name)
