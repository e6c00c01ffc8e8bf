"""The one file reader: CSV, Excel and Parquet as text columns, keeping the row number a person would see.

Every input of Forewarn is read here (imports, survey uploads, the analyst's tools), with one policy:

- missing values: a cell holding exactly one of :data:`~forewarn.ingest.mapping.MISSING_VALUES` ("", NA,
  N/A, n/a, NULL, null) is missing, unless a mapping names its own list in ``file.missing_values``;
- encoding: UTF-8 (a byte-order mark is dropped), or the encoding the mapping names; a caller that has no mapping
  to name one (the analyst's tools take a bare file) may accept Windows-1252 as a fallback, as Excel on Windows
  saves "CSV" that way;
- errors: one type, :class:`UnreadableFile`, whose problems each name the file and, where known, the row, the
  field (column) and what is wrong.
"""

from __future__ import annotations

import csv
import difflib
import io
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from forewarn.ingest.limits import Limits, megabytes
from forewarn.ingest.mapping import FileSpec
from forewarn.ingest.problems import Problem

ROW = "__row"
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")
WINDOWS_1252 = "cp1252"


class UnreadableFile(Exception):
    """A file that cannot be read at all (wrong encoding, empty, no such file, header mismatch)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RawTable:
    """The file as text columns plus ``__row``, the row number in the file (the header is row 1); or, read with
    ``typed=True``, a Parquet file's columns with the types it stores."""

    frame: pl.DataFrame
    source: str
    numbers_as_text: bool = True
    """True when numbers were typed as text (CSV), so the mapping's ``decimal`` applies; False when the file
    stored them as numbers (Excel, Parquet), so they are read with a decimal point whatever the mapping says."""


def detect_format(path: Path, spec: FileSpec) -> str:
    if spec.format is not None:
        return spec.format
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    return "csv"


def _decode(data: bytes, encoding: str, name: str, fallback: str | None = None) -> tuple[bytes, str]:
    """UTF-8 bytes for Polars and the text, or a problem naming the line of the first undecodable byte.

    ``fallback`` (Windows-1252 for the analyst's tools) is tried when the bytes are not valid ``encoding``."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if fallback is not None:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            try:
                return _decode(data.decode(fallback).encode("utf-8"), "utf-8", name)
            except UnicodeDecodeError:
                pass  # neither: report the first byte that is not valid in the encoding asked for
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
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            hint = " (the file is UTF-16: set `file: {encoding: utf-16}` in the mapping)"
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
    return (data if encoding.lower().replace("-", "") == "utf8" else text.encode("utf-8")), text


def _check_lines(path: Path, name: str, limits: Limits, block: int = 1024 * 1024) -> None:
    """Refuse a file with a line longer than the limit, reading it in blocks (never the whole line at once)."""
    current = 0  # length of the line being read so far
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            # The line feeds of a block at once: each line's length, the first carrying what came before.
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n"))
            if ends.size:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += current
                over = np.flatnonzero(lengths > limits.max_line_bytes)
                if over.size:
                    line += int(over[0])
                else:
                    line += int(ends.size)
                    current = len(chunk) - int(ends[-1]) - 1
                    if current <= limits.max_line_bytes:
                        continue
            else:
                current += len(chunk)
                if current <= limits.max_line_bytes:
                    continue
            raise UnreadableFile(
                [
                    Problem(
                        name,
                        line,
                        None,
                        None,
                        f"line longer than {limits.max_line_bytes // 1024:,} KB, the most an import reads "
                        "(FOREWARN_IMPORT_MAX_LINE_KB); nothing after it was read",
                    )
                ]
            )


def _duplicate_header(columns: list[str], name: str) -> None:
    """Refuse a header naming a column twice (after trimming spaces): which of them would the mapping mean?"""
    seen = Counter(c.strip() for c in columns)
    twice = [c for c, n in seen.items() if n > 1]
    if twice:
        raise UnreadableFile(
            [
                Problem(
                    name,
                    1,
                    column,
                    None,
                    f"duplicate column in the header: {column!r} appears {seen[column]} times",
                )
                for column in twice
            ]
        )


def _all_rows_of_width(data: bytes, delimiter: str, width: int) -> bool:
    """True when every line after the first is blank or has ``width`` fields, counted without parsing.

    Only for text the CSV module would split on delimiters and line feeds alone (no quote, carriage return or NUL):
    the fields of a line are then its delimiters plus one, counted for all lines at once. Anything else, or any
    line of another width, goes to the row-by-row reader, which names the rows."""
    if len(delimiter) != 1 or not delimiter.isascii() or any(c in data for c in (b'"', b"\r", b"\x00")):
        return False
    codes = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(codes == ord("\n"))
    if codes.size and codes[-1] != ord("\n"):
        ends = np.append(ends, codes.size)
    if ends.size <= 1:
        return True
    blank = np.diff(ends, prepend=-1) == 1
    # The delimiters before each line's end, by one search per line (not per delimiter); per line, their difference.
    before = np.searchsorted(np.flatnonzero(codes == ord(delimiter)), ends)
    fields = np.diff(before, prepend=0) + 1
    return bool(np.all(blank[1:] | (fields[1:] == width)))


def _ragged_rows(text: str, delimiter: str, name: str, data: bytes | None = None) -> None:
    """Check the header for duplicates and every row for the header's number of fields, naming the rows.

    ``data``: the same text as UTF-8, for the quick count that spares the row-by-row reader a well-formed file."""
    csv.field_size_limit(sys.maxsize)  # lines are already bounded by _check_lines
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    problems: list[Problem] = []
    try:
        header = next(reader)
        _duplicate_header(header, name)
        width = len(header)
        if data is not None and _all_rows_of_width(data, delimiter, width):
            return
        for row_number, fields in enumerate(reader, start=2):
            if fields and len(fields) != width:
                open_quote = any("\n" in f for f in fields)
                hint = " (a quote left open takes in the lines after it)" if open_quote else ""
                problems.append(
                    Problem(
                        name,
                        row_number,
                        None,
                        None,
                        f"row has {len(fields)} fields where the header has {width}{hint}",
                    )
                )
    except csv.Error as exc:
        problems.append(Problem(name, reader.line_num, None, None, f"not a readable CSV file: {exc}"))
    except StopIteration:
        return
    if problems:
        raise UnreadableFile(problems)


def _read_csv(
    path: Path, spec: FileSpec, name: str, limits: Limits, fallback_encoding: str | None
) -> pl.DataFrame:
    _check_lines(path, name, limits)
    data = path.read_bytes()
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise UnreadableFile([Problem(name, None, None, None, "empty file: it has no header and no rows")])
    data, text = _decode(data, spec.encoding, name, fallback_encoding)
    _ragged_rows(text, spec.delimiter, name, data)
    del text
    try:
        return pl.read_csv(
            io.BytesIO(data),
            infer_schema=False,
            separator=spec.delimiter,
            null_values=spec.missing_values,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise UnreadableFile([Problem(name, None, None, None, f"not a readable CSV file: {exc}")]) from exc


def _check_inflation(path: Path, name: str, limits: Limits) -> None:
    """Refuse a workbook whose zip members would inflate beyond the limit, from the zip directory alone."""
    if not zipfile.is_zipfile(path):
        return  # .xls and .xlsb are not zips; the Excel engine reports a damaged file
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(
            [Problem(name, None, None, None, f"not a readable Excel workbook: {exc}")]
        ) from exc
    if inflated > limits.max_inflated_bytes:
        raise UnreadableFile(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"workbook inflates to {megabytes(inflated)} when unzipped, more than the "
                    f"{megabytes(limits.max_inflated_bytes)} an import reads (FOREWARN_IMPORT_MAX_INFLATED_MB)",
                )
            ]
        )


def _excel_header(path: Path, spec: FileSpec) -> list[str]:
    import fastexcel

    sheet = fastexcel.read_excel(path).load_sheet(
        spec.sheet if spec.sheet is not None else 0, header_row=None, n_rows=1
    )
    return ["" if v is None else str(v) for v in sheet.to_polars().row(0)] if sheet.height else []


def _read_excel(path: Path, spec: FileSpec, name: str, limits: Limits) -> pl.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".ods") and not zipfile.is_zipfile(path):
        raise UnreadableFile(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"not a readable Excel workbook: a {path.suffix.lower()} file is a zip archive, and this is not",
                )
            ]
        )
    _check_inflation(path, name, limits)
    try:
        _duplicate_header(_excel_header(path, spec), name)
        frame = pl.read_excel(path, sheet_name=spec.sheet, infer_schema_length=0, engine="calamine")
    except UnreadableFile:
        raise
    except Exception as exc:  # the Excel engines raise many kinds; all mean "cannot read this workbook"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(
            [Problem(name, None, None, None, f"not a readable Excel workbook: {first_line}")]
        ) from exc
    return _missing_as_null(frame.select(pl.all().cast(pl.String)), spec)


def _too_many_rows(name: str, rows: int, limits: Limits) -> Problem:
    return Problem(
        name,
        None,
        None,
        None,
        f"{rows:,} rows, more than the {limits.max_rows:,} an import accepts (FOREWARN_IMPORT_MAX_ROWS)",
    )


def _read_parquet(path: Path, spec: FileSpec, name: str, limits: Limits, typed: bool = False) -> pl.DataFrame:
    try:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        if rows > limits.max_rows:
            raise UnreadableFile([_too_many_rows(name, rows, limits)])
        frame = pl.read_parquet(path)
    except UnreadableFile:
        raise
    except Exception as exc:  # pyarrow/polars raise several kinds for a damaged file
        raise UnreadableFile(
            [Problem(name, None, None, None, f"not a readable Parquet file: {exc}")]
        ) from exc
    if typed:
        return _typed_missing_as_null(frame, spec)
    # Dates written by Polars come back as dates; turn everything into text so one validator serves all formats.
    return _missing_as_null(
        frame.select(
            [
                pl.col(c).dt.strftime("%Y-%m-%d")
                if frame.schema[c] in (pl.Date, pl.Datetime)
                else pl.col(c).cast(pl.String)
                for c in frame.columns
            ]
        ),
        spec,
    )


def _typed_missing_as_null(frame: pl.DataFrame, spec: FileSpec) -> pl.DataFrame:
    """:func:`_missing_as_null` for a frame that keeps the file's types: a cell is missing when its text (as
    the text reader gives it) is a missing-value marker. Checked on the distinct values of dictionary-encoded
    text, and on other columns only where a marker could be their text (a number, a date)."""
    markers = spec.missing_values
    if not markers:
        return frame
    numeric = [m for m in markers if _is_number(m)]
    dated = [m for m in markers if _is_date(m)]
    changes = []
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.Categorical | pl.Enum):
            present = frame.select(pl.col(column).is_in(markers).any()).item()  # compared by dictionary code
            wanted = markers if present else []
        elif dtype == pl.String:
            wanted = markers
        elif dtype.is_integer() or dtype.is_float() or dtype.is_decimal():
            wanted = numeric
        elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
            wanted = dated
        else:
            wanted = markers
        if not wanted:
            continue
        text = (
            pl.col(column).dt.strftime("%Y-%m-%d")
            if dtype == pl.Date or isinstance(dtype, pl.Datetime)
            else pl.col(column).cast(pl.String)
        )
        changes.append(pl.when(text.is_in(wanted)).then(None).otherwise(pl.col(column)).alias(column))
    return frame.with_columns(changes) if changes else frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def _missing_as_null(frame: pl.DataFrame, spec: FileSpec) -> pl.DataFrame:
    """Cells of a typed format (Excel, Parquet) holding a missing-value marker, as null (CSV: at parsing)."""
    if not spec.missing_values:
        return frame
    return frame.with_columns(
        pl.when(pl.all().is_in(spec.missing_values)).then(None).otherwise(pl.all()).name.keep()
    )


def _check_file(path: Path, limits: Limits) -> None:
    """Refuse a missing file or one over the size limit."""
    name = path.name
    if not path.is_file():
        raise UnreadableFile([Problem(name, None, None, None, f"file not found: {path}")])
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise UnreadableFile(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"file of {megabytes(size)} is larger than the {megabytes(limits.max_file_bytes)} an "
                    "import reads (FOREWARN_IMPORT_MAX_FILE_MB)",
                )
            ]
        )


def read_text(
    path: Path,
    spec: FileSpec | None = None,
    limits: Limits | None = None,
    *,
    fallback_encoding: str | None = None,
    typed: bool = False,
) -> RawTable:
    """Read every column of ``path`` as text, with ``__row`` (the header is row 1), header names trimmed.

    ``typed``: a Parquet file keeps the types it stores (numbers, dates, dictionary-encoded text as Categorical)
    instead of being turned into text, for a caller that checks typed columns as they are
    (:func:`forewarn.ingest.columns.typed_columns`); CSV and Excel are text either way.

    Raises :class:`UnreadableFile` for a missing, oversized, empty, undecodable, ragged or damaged file and for a
    header naming a column twice. Which columns are needed, and whether there are data rows, is for the caller
    to check (:func:`select_columns`), as a tool names its columns by its options and a mapping by its own.
    """
    spec = spec or FileSpec()
    limits = limits or Limits()
    name = path.name
    _check_file(path, limits)
    kind = detect_format(path, spec)
    if kind == "excel":
        frame = _read_excel(path, spec, name, limits)
    elif kind == "parquet":
        frame = _read_parquet(path, spec, name, limits, typed)
    else:
        frame = _read_csv(path, spec, name, limits, fallback_encoding)
    if frame.height > limits.max_rows:
        raise UnreadableFile([_too_many_rows(name, frame.height, limits)])
    _duplicate_header(frame.columns, name)
    # Header is row 1 in CSV and Excel alike; Parquet has no header row, but one numbering keeps messages uniform.
    frame = (
        frame.rename({c: c.strip() for c in frame.columns})
        .with_row_index(ROW, offset=2)
        .with_columns(pl.col(ROW).cast(pl.Int64))
    )
    return RawTable(frame=frame, source=name, numbers_as_text=kind == "csv")


def columns_of(table: RawTable) -> list[str]:
    """The file's column names, as its header gives them (trimmed)."""
    return [c for c in table.frame.columns if c != ROW]


def closest_column(column: str, available: Sequence[str]) -> str | None:
    """The column of ``available`` a misspelt ``column`` most likely means (or the same name in another case)."""
    close = difflib.get_close_matches(column, available, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in available}
    return lowered.get(column.lower())


def require_rows(table: RawTable) -> None:
    """Refuse a file with a header but no data rows."""
    if table.frame.height == 0:
        raise UnreadableFile(
            [Problem(table.source, None, None, None, "empty file: the header is there but no data rows")]
        )


def select_columns(table: RawTable, required_columns: list[str], spec: FileSpec | None = None) -> RawTable:
    """The columns a mapping reads, with ``__row``: every one missing from the header is reported (with the
    closest name, or a hint at the delimiter), then a file without data rows."""
    spec = spec or FileSpec()
    name = table.source
    header = columns_of(table)
    missing = [c for c in required_columns if c not in header]
    if missing:
        problems = []
        for column in missing:
            close = difflib.get_close_matches(column, header, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if len(header) == 1 and not close:
                other = next(
                    (d for d in (";", "\t", ",", "|") if d in header[0] and d != spec.delimiter), None
                )
                if other is not None:
                    hint = f"; the header looks separated by {other!r}: set `file: {{delimiter: {other!r}}}`"
            problems.append(
                Problem(
                    name,
                    1,
                    column,
                    None,
                    f"header does not match the mapping: column {column!r} is missing "
                    f"(the file has {', '.join(repr(c) for c in header)}){hint}",
                )
            )
        raise UnreadableFile(problems)
    require_rows(table)
    return RawTable(
        frame=table.frame.select(*required_columns, ROW),
        source=name,
        numbers_as_text=table.numbers_as_text,
    )


def read_table(
    path: Path, spec: FileSpec, required_columns: list[str], limits: Limits | None = None
) -> RawTable:
    """Read ``path`` for an import, checking the header has every column the mapping reads: CSV and Excel as
    text, Parquet with the types it stores (checked as such by :func:`forewarn.ingest.columns.typed_columns`,
    with no round trip through text)."""
    return select_columns(read_text(path, spec, limits, typed=True), required_columns, spec)


def parquet_rows(path: Path) -> int | None:
    """The rows of a Parquet file, from its footer; None when it cannot be read (the reader then says why)."""
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except Exception:  # pyarrow/polars raise several kinds for a damaged file
        return None


def parquet_chunks(
    path: Path, spec: FileSpec, required_columns: list[str], chunk_rows: int, limits: Limits | None = None
) -> Iterator[RawTable]:
    """:func:`read_table` of a Parquet file ``chunk_rows`` rows at a time, so that the whole file is never in
    memory: each chunk keeps the file's types and its rows' numbers in the whole file (``__row``), and the same
    checks apply (size, rows, header) before the first chunk is given."""
    limits = limits or Limits()
    name = path.name
    _check_file(path, limits)
    rows = parquet_rows(path)
    if rows is None:
        _read_parquet(path, spec, name, limits, typed=True)  # raises the reader's own problem
        rows = 0
    if rows > limits.max_rows:
        raise UnreadableFile([_too_many_rows(name, rows, limits)])
    for start in range(0, max(rows, 1), chunk_rows):
        try:
            frame = pl.scan_parquet(path).slice(start, chunk_rows).collect()
        except Exception as exc:  # pyarrow/polars raise several kinds for a damaged file
            raise UnreadableFile(
                [Problem(name, None, None, None, f"not a readable Parquet file: {exc}")]
            ) from exc
        _duplicate_header(frame.columns, name)
        frame = (
            _typed_missing_as_null(frame, spec)
            .rename({c: c.strip() for c in frame.columns})
            .with_row_index(ROW, offset=2 + start)
            .with_columns(pl.col(ROW).cast(pl.Int64))
        )
        yield select_columns(
            RawTable(frame=frame, source=name, numbers_as_text=False), required_columns, spec
        )
