"""The analyst's tools: a funnel plot, SPC charts, a CUSUM or rank intervals from one CSV, Excel or Parquet file.

Each tool reads the file as text, checks every cell it needs at once (every problem is reported together, each
naming the row a person sees in a spreadsheet, the column and the value), arranges the data for the pure
statistics in :mod:`forewarn.stats` (all units or series in one vectorised call) and returns Polars frames and
a JSON-ready summary. Nothing here prints or exits: ``forewarn.cli_analyst`` does that.
"""

from __future__ import annotations

import difflib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.ingest.periods import period_bounds
from forewarn.ingest.problems import Problem
from forewarn.stats.arl.false_alarms import cusum_window_threshold, window_false_alarms
from forewarn.stats.cusum import (
    CusumThreshold,
    RiskAdjustedCusumOptions,
    llr_cusum_threshold,
    panel_cusum,
    risk_adjusted_cusum,
)
from forewarn.stats.ewma import EwmaOptions, ewma_chart
from forewarn.stats.funnel import FunnelOptions, FunnelResult, funnel_statistics
from forewarn.stats.incontrol import ScaleForm, own_baseline_model, scaled_counts, shift_in_sd
from forewarn.stats.multiplicity import expected_false_flags, fdr_adjust
from forewarn.stats.ranks import RankOptions, expected_ranks, rank_uncertainty
from forewarn.stats.runs import run_chart
from forewarn.stats.spc import AssuranceType, PointType, SpcOptions, xmr_chart
from forewarn.surveillance.questions import METHOD_QUESTIONS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ROW = "__row"
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")
MISSING_VALUES = ["", "NA", "N/A", "n/a", "NULL", "null"]
MAX_LISTED_PROBLEMS = 1000
FDR_ALPHA = 0.05
"""False-discovery rate at which the funnel summary counts flags (Benjamini-Hochberg q-values)."""

# "21,289" is a thousands separator; "0,95" (a decimal comma) is not read as 95.
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_HEADER_SHOWN = 30
_PERIOD_SAMPLE = 2000
_SERIES = "__series"
_PERIOD = "__period"
_KEY = "__key"


# ----------------------------------------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------------------------------------


class AnalystInputError(ValueError):
    """The input cannot be used. ``usage`` problems (columns or options that do not fit the file, exit 2) differ
    from data problems (cells that are wrong, exit 1); ``problems`` lists every one found (up to
    ``MAX_LISTED_PROBLEMS``; ``total`` counts them all)."""

    def __init__(self, problems: Sequence[Problem], *, usage: bool = False, total: int | None = None) -> None:
        self.problems = list(problems)
        self.usage = usage
        self.total = len(self.problems) if total is None else total
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def exit_code(self) -> int:
        return 2 if self.usage else 1

    def summary(self) -> str:
        source = self.problems[0].file if self.problems else "input"
        listed = "" if self.total == len(self.problems) else f" (first {len(self.problems)} listed)"
        return f"{source}: {self.total} problem(s) found{listed}; nothing was computed"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": False,
            "exit_code": self.exit_code,
            "total_problems": self.total,
            "problems": [p.to_dict() for p in self.problems],
        }


def usage_error(
    source: str, message: str, column: str | None = None, value: str | None = None
) -> AnalystInputError:
    """One usage problem (an option that does not fit the file), not tied to a row."""
    return AnalystInputError([Problem(source, None, column, value, message)], usage=True)


class _Checks:
    """Row-level problems found by vectorised checks, gathered so every one is reported together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames: list[pl.DataFrame] = []

    def add(
        self, rows: pl.DataFrame, column: str | None, value: pl.Expr | None, message: str | pl.Expr
    ) -> None:
        if rows.height == 0:
            return
        self.frames.append(
            rows.select(
                pl.col(ROW).cast(pl.Int64).alias("row"),
                pl.lit(column, dtype=pl.String).alias("column"),
                (value.cast(pl.String) if value is not None else pl.lit(None, dtype=pl.String)).alias(
                    "value"
                ),
                (message if isinstance(message, pl.Expr) else pl.lit(message))
                .cast(pl.String)
                .alias("message"),
            )
        )

    def raise_if_any(self) -> None:
        if not self.frames:
            return
        found = pl.concat(self.frames).unique(maintain_order=True).sort("row", "column", nulls_last=True)
        listed = found.head(MAX_LISTED_PROBLEMS)
        problems = [
            Problem(self.source, row, column, value, message) for row, column, value, message in listed.rows()
        ]
        raise AnalystInputError(problems, total=found.height)


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------


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
    return _needed_text(frame, columns, name, first_row=2, header="header")


def frame_input(frame: pl.DataFrame, columns: Mapping[str, str], *, name: str = "data") -> pl.DataFrame:
    """What :func:`read_input` gives for a file, from a DataFrame already in memory.

    Every column is read as text, as a Parquet file's are (dates as ``YYYY-MM-DD``, numbers in their shortest
    exact form), so a frame and the same data written to a file give the same numbers. Options are named as
    the Python API names them (``unit_col``, not ``--unit-col``), and ``__row`` is the row's position in the
    frame, counted from 0 as pandas' ``iloc`` counts.
    """
    named = {option.lstrip("-").replace("-", "_"): column for option, column in columns.items()}
    _check_columns(frame.columns, named, name, header="frame")
    wanted = set(named.values())
    text = frame.select(
        pl.col(c).dt.strftime("%Y-%m-%d")
        if frame.schema[c] in (pl.Date, pl.Datetime)
        else pl.col(c).cast(pl.String)
        for c in frame.columns
        if c in wanted
    )
    return _needed_text(text, named, name, first_row=0, header="frame")


def _check_columns(available: Sequence[str], columns: Mapping[str, str], name: str, *, header: str) -> None:
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


def _needed_text(
    frame: pl.DataFrame, columns: Mapping[str, str], name: str, *, first_row: int, header: str
) -> pl.DataFrame:
    """The needed columns of a text frame, stripped (null where empty or NA), with ``__row``."""
    _check_columns(frame.columns, columns, name, header=header)
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


def _as_input(data: AnalystInput | pl.DataFrame) -> AnalystInput:
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


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path``: Parquet for ``.parquet``/``.pq``, CSV otherwise (NaN as an empty cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


def csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV text (for stdout)."""
    return frame.write_csv()


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The frame as JSON-ready rows (NaN and infinities as null)."""
    rows = frame.to_dicts()
    return [{k: _json_value(v) for k, v in row.items()} for row in rows]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean_floats(frame: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).fill_nan(None)) if floats else frame


def _number(value: float | np.floating[Any]) -> float | None:
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


# ----------------------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------------------


def _parse_numbers(
    frame: pl.DataFrame, column: str, alias: str, checks: _Checks, *, required: bool
) -> pl.DataFrame:
    """Add ``alias``: the column as Float64 (null where empty). Reports text that is not a finite number, and
    empty cells when ``required``."""
    text = pl.col(column)
    cleaned = pl.when(text.str.contains(_THOUSANDS)).then(text.str.replace_all(",", "")).otherwise(text)
    frame = frame.with_columns(cleaned.cast(pl.Float64, strict=False).alias(alias))
    value = pl.col(alias)
    checks.add(frame.filter(text.is_not_null() & value.is_null()), column, text, "not a number")
    checks.add(frame.filter(value.is_not_null() & ~value.is_finite()), column, text, "not a finite number")
    if required:
        checks.add(frame.filter(text.is_null()), column, None, "empty: a number is needed here")
    return frame.with_columns(pl.when(value.is_finite()).then(value).otherwise(None).alias(alias))


def _require_text(frame: pl.DataFrame, column: str, what: str, checks: _Checks) -> None:
    checks.add(frame.filter(pl.col(column).is_null()), column, None, f"empty: every row needs {what}")


_PERIOD_FORMS: dict[str, str] = {
    "date": "a date YYYY-MM-DD",
    "uk_date": "a date DD/MM/YYYY",
    "month": "a month YYYY-MM",
    "year": "a year such as 2017, 2017/18 or 2019 - 21",
    "number": "a number",
}


def _iso_date(text: pl.Expr) -> pl.Expr:
    return text.str.extract(r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$", 1)


def _period_candidates(text: pl.Expr) -> dict[str, pl.Expr]:
    """Each way of reading a period label, as a sortable Float64 key (days since 1970 for dates)."""
    iso = _iso_date(text)
    month = pl.when(text.str.contains(r"^\d{4}-\d{2}$")).then(text + "-01").otherwise(None)
    number = text.cast(pl.Float64, strict=False)

    def days(date: pl.Expr) -> pl.Expr:
        return date.cast(pl.Int32).cast(pl.Float64)

    return {
        "date": days(iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False)),
        "uk_date": days(text.str.strptime(pl.Date, "%d/%m/%Y", strict=False)),
        "month": days(month.str.strptime(pl.Date, "%Y-%m-%d", strict=False)),
        "year": days(period_bounds(text, "fingertips", None)[0]),
        "number": pl.when(number.is_finite()).then(number).otherwise(None),
    }


def _parse_periods(frame: pl.DataFrame, column: str, checks: _Checks) -> tuple[pl.DataFrame, str]:
    """Add ``__key``, a sortable key of the period column, read the way most of its cells can be read."""
    candidates = _period_candidates(pl.col(column))
    # The form is judged on a sample spread over the file; the whole column is then read in that form only.
    labels = frame.select(pl.col(column).drop_nulls())
    sample = labels.gather_every(max(1, labels.height // _PERIOD_SAMPLE))
    counts = sample.select(*(expr.is_not_null().sum().alias(kind) for kind, expr in candidates.items())).row(
        0
    )
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    kind = list(candidates)[best]
    # Excel date cells read as "2017-03-01 00:00:00": the label shown is the date itself.
    label = _iso_date(pl.col(column)).fill_null(pl.col(column)) if kind == "date" else pl.col(column)
    frame = frame.with_columns(candidates[kind].alias(_KEY), label.alias(_PERIOD))
    unreadable = pl.col(column).is_not_null() & pl.col(_KEY).is_null()
    if counts[best] == 0:
        forms = ", ".join(_PERIOD_FORMS.values())
        message = f"not a period: expected {forms}"
    else:
        message = f"not a period in the form the other rows use ({_PERIOD_FORMS[kind]})"
    checks.add(frame.filter(unreadable), column, pl.col(column), message)
    _require_text(frame, column, "a period", checks)
    return frame, kind


def _period_key(label: str, kind: str) -> float | None:
    key = pl.DataFrame({"p": [label.strip()]}).select(_period_candidates(pl.col("p"))[kind]).item()
    return None if key is None else float(key)


def _check_duplicate_periods(
    frame: pl.DataFrame, period_col: str, series_col: str | None, checks: _Checks
) -> None:
    usable = frame.filter(pl.col(_KEY).is_not_null() & pl.col(_SERIES).is_not_null())
    if not usable.select(pl.struct(_SERIES, _KEY).is_duplicated().any()).item():
        return
    first = pl.col(ROW).min().over(_SERIES, _KEY)
    repeated = usable.with_columns(first.alias("__first")).filter(pl.col(ROW) != pl.col("__first"))
    where = "" if series_col is None else pl.format(" in series '{}'", pl.col(_SERIES))
    message = pl.concat_str(
        pl.lit("period appears more than once"),
        where if isinstance(where, pl.Expr) else pl.lit(where),
        pl.format(" (first at row {})", pl.col("__first")),
    )
    checks.add(repeated, period_col, pl.col(period_col), message)


def _with_series(frame: pl.DataFrame, series_col: str | None, checks: _Checks) -> pl.DataFrame:
    if series_col is None:
        return frame.with_columns(pl.lit("all", dtype=pl.String).alias(_SERIES))
    _require_text(frame, series_col, "a series", checks)
    return frame.with_columns(pl.col(series_col).alias(_SERIES))


def _panel_positions(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str], int]:
    """Series index (first appearance) and time index (dense rank of the period over all series) of each row."""
    series = frame.select(_SERIES).unique(maintain_order=True).with_row_index("__s")
    frame = frame.join(series, on=_SERIES, how="left", maintain_order="left").with_columns(
        pl.col("__s").cast(pl.Int64), (pl.col(_KEY).rank("dense").cast(pl.Int64) - 1).alias("__t")
    )
    width = int(frame["__t"].max() or 0) + 1  # type: ignore[arg-type]
    return frame, series[_SERIES].to_list(), width


def _scatter(frame: pl.DataFrame, column: str, n_series: int, width: int) -> FloatArray:
    panel = np.full((n_series, width), np.nan)
    panel[frame["__s"].to_numpy(), frame["__t"].to_numpy()] = frame[column].fill_null(np.nan).to_numpy()
    return panel


def _masked(values: NDArray[Any] | pl.Series, keep: NDArray[np.bool_]) -> pl.Series:
    """``values`` with null where ``keep`` is False (rows without a value)."""
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    return pl.DataFrame({"v": series, "k": keep}).select(pl.when(pl.col("k")).then(pl.col("v"))).to_series()


def _at_rows(values: NDArray[Any], frame: pl.DataFrame) -> NDArray[Any]:
    out: NDArray[Any] = values[frame["__s"].to_numpy(), frame["__t"].to_numpy()]
    return out


# ----------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalystResult:
    """What a tool returns: the main table (one row per unit or point), an optional per-series table, the
    summary (JSON-ready) and warnings for the user (printed, never raised)."""

    table: pl.DataFrame
    summary: dict[str, Any]
    series_table: pl.DataFrame | None = None
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------------
# Funnel
# ----------------------------------------------------------------------------------------------------------

FunnelDataType = Literal["SR", "PR", "RC"]
FunnelMethod = Literal["none", "cqc", "shmi"]


@dataclass(frozen=True)
class FunnelRequest:
    """Columns and options of ``forewarn funnel`` (see :class:`forewarn.stats.funnel.FunnelOptions`).

    ``unadjusted`` None takes exact limits, except under ``compat="funnelplotr"`` where it takes what that
    package draws: exact Poisson limits for SR, the normal approximation for PR and RC. Under that compat,
    proportions and ratios of counts are always winsorised (``"cqc"``), as FunnelPlotR ignores its
    ``sr_method`` for them: ``"shmi"`` is taken as ``"cqc"``, with a warning.
    """

    unit_col: str
    numerator_col: str
    denominator_col: str
    data_type: FunnelDataType = "SR"
    overdispersion: FunnelMethod = "cqc"
    trim: float = 0.1
    limit: float = 99.8
    target: float | None = None
    sr_scale: Literal["log", "sqrt"] | None = None
    unadjusted: Literal["exact", "approximate"] | None = None
    compat: Literal["funnelplotr"] | None = None
    sheet: str | None = None

    @property
    def winsorised_by_compat(self) -> bool:
        """True where FunnelPlotR would winsorise although ``"shmi"`` was asked for (PR and RC)."""
        return self.compat == "funnelplotr" and self.data_type != "SR" and self.overdispersion == "shmi"

    def options(self) -> FunnelOptions:
        """The funnel's options, with the SR scale resolved (so the unadjusted limits are on the same scale)."""
        unadjusted = self.unadjusted
        if unadjusted is None:
            unadjusted = "approximate" if self.compat == "funnelplotr" and self.data_type != "SR" else "exact"
        options = FunnelOptions(
            data_type=self.data_type,
            overdispersion="cqc" if self.winsorised_by_compat else self.overdispersion,
            limit=self.limit,
            trim=self.trim,
            sr_scale=self.sr_scale,
            unadjusted=unadjusted,
            compat=self.compat,
        )
        if self.data_type == "SR" and self.sr_scale is None:
            # The default scale follows the over-dispersion method (sqrt with cqc, else log); fix it here so
            # that the unadjusted limits, computed with overdispersion "none", do not fall back to log.
            options = replace(options, sr_scale="sqrt" if options.scale == "sqrt_sr" else "log")
        return options


def funnel_file(path: Path, request: FunnelRequest) -> AnalystResult:
    """:func:`funnel_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return funnel_frame(FileInput(path, request.sheet), request)


def funnel_frame(data: AnalystInput | pl.DataFrame, request: FunnelRequest) -> AnalystResult:
    """Funnel plot of one file: rows summed by unit (as FunnelPlotR does), then one row per unit.

    Returns
    -------
    AnalystResult
        ``table``: unit, numerator, denominator, rows (input rows summed), value (the ratio), z, z_adjusted,
        p_value, q_value (Benjamini-Hochberg over the units), trimmed, the unadjusted and adjusted 95% and
        99.8% limits at the unit's denominator, outlier and direction ("high", "low" or empty) at the chosen
        limit. ``summary``: target, phi, tau2, whether the limits are adjusted, units, outliers and the number
        expected by chance, flags at 5% false-discovery rate.
    """
    reader = _as_input(data)
    source = reader.name
    try:
        options = request.options()
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    frame = reader.read(
        {
            "--unit-col": request.unit_col,
            "--numerator-col": request.numerator_col,
            "--denominator-col": request.denominator_col,
        }
    )
    checks = _Checks(source)
    unit, num, den = request.unit_col, request.numerator_col, request.denominator_col
    _require_text(frame, unit, "a unit", checks)
    frame = _parse_numbers(frame, num, "__num", checks, required=True)
    frame = _parse_numbers(frame, den, "__den", checks, required=True)
    o, d = pl.col("__num"), pl.col("__den")
    checks.add(frame.filter(o < 0), num, pl.col(num), "must not be negative")
    if request.data_type == "RC":
        checks.add(frame.filter(d < 0), den, pl.col(den), "must not be negative (a count)")
    else:
        checks.add(frame.filter(d == 0), den, pl.col(den), "denominator is 0: the ratio is undefined")
        checks.add(frame.filter(d < 0), den, pl.col(den), "denominator must be positive")
    if request.data_type == "PR":
        checks.add(
            frame.filter(o > d),
            num,
            pl.col(num),
            pl.format(
                "numerator exceeds the denominator ({}): a proportion needs numerator <= denominator",
                pl.col(den),
            ),
        )
    checks.raise_if_any()

    units = frame.group_by(unit, maintain_order=True).agg(
        o.sum().alias("numerator"), d.sum().alias("denominator"), pl.len().alias("rows"), pl.col(ROW).first()
    )
    _check_units(units, request, options, checks)
    checks.raise_if_any()

    numerator = units["numerator"].to_numpy().astype(np.float64)
    denominator = units["denominator"].to_numpy().astype(np.float64)
    try:
        main = funnel_statistics(numerator, denominator, options=options, target=request.target)
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    limits: dict[str, FunnelResult] = {}
    for tag, coverage in (("95", 95.0), ("99_8", 99.8)):
        limits[f"adjusted_{tag}"] = funnel_statistics(
            numerator, denominator, options=replace(options, limit=coverage), target=request.target
        )
        limits[f"unadjusted_{tag}"] = funnel_statistics(
            numerator,
            denominator,
            options=replace(options, limit=coverage, overdispersion="none"),
            target=request.target,
        )
    q_values = fdr_adjust(main.p_value, alpha=FDR_ALPHA)
    direction = np.where(main.outlier_high, "high", np.where(main.outlier_low, "low", ""))
    table = pl.DataFrame(
        {
            "unit": units[unit],
            "numerator": numerator,
            "denominator": denominator,
            "rows": units["rows"].cast(pl.Int64),
            "value": main.ratio,
            "z": main.z,
            "z_adjusted": main.z_adjusted,
            "p_value": main.p_value,
            "q_value": q_values.adjusted,
            "trimmed": main.trimmed,
            "lower_95": limits["unadjusted_95"].lower,
            "upper_95": limits["unadjusted_95"].upper,
            "lower_99_8": limits["unadjusted_99_8"].lower,
            "upper_99_8": limits["unadjusted_99_8"].upper,
            "adjusted_lower_95": limits["adjusted_95"].lower,
            "adjusted_upper_95": limits["adjusted_95"].upper,
            "adjusted_lower_99_8": limits["adjusted_99_8"].lower,
            "adjusted_upper_99_8": limits["adjusted_99_8"].upper,
            "outlier": main.outlier,
            "direction": direction,
        }
    )
    n_units = int(main.n_units[0])
    alpha = (100.0 - float(request.limit)) / 100.0
    warnings: tuple[str, ...] = ()
    if request.winsorised_by_compat:
        kind = "proportions" if request.data_type == "PR" else "ratios of counts"
        warnings = (
            f"--compat funnelplotr: FunnelPlotR winsorises {kind} whatever its sr_method, "
            "so --od shmi is taken as cqc",
        )
    summary: dict[str, Any] = {
        "data_type": request.data_type,
        "overdispersion": options.overdispersion,
        "scale": options.scale,
        "limit": float(request.limit),
        "trim": float(request.trim),
        "compat": request.compat,
        "unadjusted_limits": options.unadjusted,
        "target": _number(main.target[0]),
        "phi": _number(main.phi[0]),
        "tau2": _number(main.tau2[0]),
        "adjusted": bool(main.adjusted[0]),
        "n_units": n_units,
        "n_rows": frame.height,
        "n_used": int(main.n_used[0]),
        "n_outliers": int(main.outlier.sum()),
        "n_high": int(main.outlier_high.sum()),
        "n_low": int(main.outlier_low.sum()),
        "expected_by_chance": float(expected_false_flags(n_units, alpha)),
        "fdr_alpha": FDR_ALPHA,
        "n_fdr_flags": int(q_values.n_rejected[0]),
        "outliers": table.filter(pl.col("outlier"))["unit"].to_list(),
    }
    return AnalystResult(table=_clean_floats(table), summary=summary, warnings=warnings)


def _check_units(
    units: pl.DataFrame, request: FunnelRequest, options: FunnelOptions, checks: _Checks
) -> None:
    """Problems only visible once rows are summed by unit (reported at the unit's first row)."""
    o, d = pl.col("numerator"), pl.col("denominator")
    if request.data_type == "RC":
        checks.add(
            units.filter((o == 0) & (d == 0)),
            request.denominator_col,
            None,
            pl.format(
                "unit '{}' has both counts 0: its ratio carries no information", pl.col(request.unit_col)
            ),
        )
    if options.scale == "log_sr" and options.compat is None:
        checks.add(
            units.filter(o == 0),
            request.numerator_col,
            None,
            pl.format(
                "unit '{}' has no events: a standardised ratio on the log scale (SHMI) needs at least one; "
                "use --scale sqrt (the CQC scale)",
                pl.col(request.unit_col),
            ),
        )


# ----------------------------------------------------------------------------------------------------------
# SPC
# ----------------------------------------------------------------------------------------------------------

Improvement = Literal["increase", "decrease", "neutral"]
SpcRules = Literal["mdc", "anhoej"]

SHORT_GROUP_MESSAGE = (
    "Some groups have 'n < 12' observations. These have trial limits, which will be revised with each "
    "additional observation until 'n = fix_after_n_points' has been reached."
)
"""NHSRplotthedots' short-group warning, word for word (its threshold is 13 points, whatever the text says)."""


@dataclass(frozen=True)
class SpcRequest:
    """Columns and options of ``forewarn spc``.

    ``rebase`` holds dates (a new chart segment starts at the first period on or after each) or
    ``SERIES=DATE`` for one series. ``fix_after`` fixes the limits (XmR, at least 12 points) or the median
    (run chart, qicharts2 ``freeze``) from the first points of each segment.
    """

    period_col: str
    value_col: str
    series_col: str | None = None
    improvement: Improvement = "increase"
    target: float | None = None
    fix_after: int | None = None
    rebase: tuple[str, ...] = ()
    rules: SpcRules = "mdc"
    shift_length: int = 7
    trend_length: int = 7
    screen_outliers: bool = True
    sheet: str | None = None


def spc_file(path: Path, request: SpcRequest) -> AnalystResult:
    """:func:`spc_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return spc_frame(FileInput(path, request.sheet), request)


def spc_frame(data: AnalystInput | pl.DataFrame, request: SpcRequest) -> AnalystResult:
    """SPC charts of every series in one file, all in one vectorised call.

    ``rules="mdc"``: XmR charts with the Making Data Count rules (NHSRplotthedots ``ptd_spc``); one row per
    point with its segment, centre line (mean), limits, rule flags, special-cause label and point type, and one
    row per series segment (mean, limits, counts, variation and assurance). ``rules="anhoej"``: run charts
    (qicharts2 ``qic(chart = "run")``); centre line = median and, per segment, the longest run, crossings and
    signal.
    """
    reader = _as_input(data)
    source = reader.name
    columns = {"--period-col": request.period_col, "--value-col": request.value_col}
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    options: SpcOptions | None = None
    try:
        if request.rules == "mdc":
            options = SpcOptions(
                improvement=request.improvement,
                fix_after_n_points=request.fix_after,
                shift_length=request.shift_length,
                trend_length=request.trend_length,
                screen_outliers=request.screen_outliers,
                target=request.target,
            )
        elif request.fix_after is not None and request.fix_after < 1:
            raise ValueError(f"--fix-after must be a positive number of points; got {request.fix_after}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    frame = reader.read(columns)
    checks = _Checks(source)
    frame = _with_series(frame, request.series_col, checks)
    frame, kind = _parse_periods(frame, request.period_col, checks)
    frame = _parse_numbers(frame, request.value_col, "__value", checks, required=False)
    _check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame = _with_phase(frame, request.rebase, kind, source, request.series_col)
    min_points = 2 if request.rules == "mdc" else 1
    _check_segment_lengths(frame, request, min_points, checks)
    checks.raise_if_any()

    frame, series_names, width = _panel_positions(frame)
    frame = frame.sort("__s", "__t")
    values = _scatter(frame, "__value", len(series_names), width)
    phase = _scatter(frame, "__phase", len(series_names), width)
    phase_panel = None if not request.rebase else np.nan_to_num(phase, nan=0.0).astype(np.int64)
    missing = int(frame["__value"].null_count())
    warnings: list[str] = []
    if missing:
        warnings.append(
            f"{missing} row(s) have no value: they are left out of the charts (the moving range bridges them)"
        )
    if options is not None:  # the XmR chart ("mdc"); the run chart has no SpcOptions
        result = _xmr_result(frame, values, phase_panel, options, series_names)
    else:
        result = _run_result(frame, values, phase_panel, request.fix_after, series_names)
    result.summary.update(
        {
            "rules": request.rules,
            "improvement": request.improvement,
            "target": request.target,
            "fix_after": request.fix_after,
            "rebase": list(request.rebase),
            "n_series": len(series_names),
            "n_rows": frame.height,
            "n_missing_values": missing,
        }
    )
    return replace(result, warnings=tuple(warnings) + result.warnings)


def _with_phase(
    frame: pl.DataFrame, rebase: Sequence[str], kind: str, source: str, series_col: str | None
) -> pl.DataFrame:
    """``__phase``: how many rebase dates (for all series, or for the row's series) are on or before the row."""
    if not rebase:
        return frame.with_columns(pl.lit(0.0).alias("__phase"))
    global_keys: list[float] = []
    per_series: list[tuple[str, float]] = []
    for item in rebase:
        series, _, label = item.rpartition("=")
        key = _period_key(label, kind)
        if key is None:
            raise usage_error(
                source,
                f"--rebase {item!r}: not a period in the form of the file's periods ({_PERIOD_FORMS[kind]})",
            )
        if series:
            if series_col is None:
                raise usage_error(source, f"--rebase {item!r} names a series, but no --series-col was given")
            per_series.append((series, key))
        else:
            global_keys.append(key)
    keys = frame[_KEY].to_numpy()
    phase = np.searchsorted(np.sort(np.asarray(global_keys, dtype=np.float64)), keys, side="right").astype(
        np.float64
    )
    frame = frame.with_columns(pl.Series("__phase", phase))
    if per_series:
        marks = pl.DataFrame(
            {_SERIES: [s for s, _ in per_series], _KEY: [k for _, k in per_series]},
            schema={_SERIES: pl.String, _KEY: pl.Float64},
        )
        known = set(frame[_SERIES].unique().to_list())
        unknown = [s for s, _ in per_series if s not in known]
        if unknown:
            raise usage_error(
                source, f"--rebase names a series that is not in the file: {unknown[0]!r}", series_col
            )
        # Each row meets its own series' few rebase marks; the marks on or before it add to its phase.
        own = (
            frame.select(ROW, _SERIES, _KEY)
            .join(marks.rename({_KEY: "__mark"}), on=_SERIES, how="inner")
            .group_by(ROW)
            .agg((pl.col("__mark") <= pl.col(_KEY)).sum().cast(pl.Float64).alias("__own"))
        )
        frame = (
            frame.join(own, on=ROW, how="left", maintain_order="left")
            .with_columns((pl.col("__phase") + pl.col("__own").fill_null(0.0)).alias("__phase"))
            .drop("__own")
        )
    return frame


def _check_segment_lengths(
    frame: pl.DataFrame, request: SpcRequest, min_points: int, checks: _Checks
) -> None:
    segments = frame.group_by(_SERIES, "__phase").agg(
        pl.col("__value").count().alias("__n"),
        pl.col(ROW).min(),
        pl.col(request.period_col).sort_by(_KEY).first().alias("__from"),
    )
    short = segments.filter(pl.col("__n") < min_points)
    what = "series 'all'" if request.series_col is None else None
    label = pl.lit(what) if what else pl.format("series '{}'", pl.col(_SERIES))
    rebased = (
        pl.when(pl.col("__phase") > 0)
        .then(pl.format(" from {} (after a rebase)", pl.col("__from")))
        .otherwise(pl.lit(""))
    )
    message = pl.concat_str(
        label,
        rebased,
        pl.format(
            " has {} point(s) with a value: too short for a chart, which needs at least {}",
            pl.col("__n"),
            pl.lit(min_points),
        ),
    )
    checks.add(short, request.value_col, None, message)


def _xmr_result(
    frame: pl.DataFrame,
    values: FloatArray,
    phase: IntArray | None,
    options: SpcOptions,
    series_names: list[str],
) -> AnalystResult:
    chart = xmr_chart(values, options, phase=phase)
    observed = frame["__value"].is_not_null().to_numpy()
    point_labels = np.array([p.label for p in PointType], dtype=object)
    cause_labels = np.array(chart.special_cause_labels, dtype=object)

    def at(values_: NDArray[Any]) -> NDArray[Any]:
        return _at_rows(values_, frame)

    def masked(values_: NDArray[Any]) -> pl.Series:
        return _masked(at(values_), observed)

    segment = at(chart.segment_index)
    summary_rows = chart.summary
    short = summary_rows.short_group_warning
    table = pl.DataFrame(
        {
            "series": frame[_SERIES],
            "period": frame[_PERIOD],
            "value": frame["__value"],
            "segment": masked(chart.segment),
            "short_group_warning": masked(chart.short_group_warning),
            "mean": masked(chart.mean),
            "lpl": masked(chart.lpl),
            "upl": masked(chart.upl),
            "outside_limits": masked(chart.outside_limits),
            "relative_to_mean": masked(chart.relative_to_mean.astype(np.int64)),
            "close_to_limits": masked(chart.close_to_limits),
            "shift": masked(chart.shift),
            "trend": masked(chart.trend),
            "two_in_three": masked(chart.two_in_three),
            "special_cause_type": masked(cause_labels[chart.special_cause_type]),
            "special_cause_flag": masked(chart.special_cause_flag),
            "point_type": masked(point_labels[chart.point_type]),
            "target": pl.Series(
                [options.target if isinstance(options.target, float) else None] * frame.height,
                dtype=pl.Float64,
            ),
        }
    )
    first_period = (
        pl.DataFrame({"__seg": segment, "__period": table["period"], _KEY: frame[_KEY]})
        .filter(pl.col("__seg") >= 0)
        # rows are in series-then-time order, so each segment's rows are in time order
        .group_by("__seg", maintain_order=True)
        .agg(pl.col("__period").first(), pl.col("__period").last().alias("__last"))
        .sort("__seg")
    )
    assurance_names = np.array([a.label for a in AssuranceType], dtype=object)
    series_table = pl.DataFrame(
        {
            "series": np.asarray(series_names, dtype=object)[summary_rows.series],
            "segment": summary_rows.segment,
            "from_period": first_period["__period"],
            "to_period": first_period["__last"],
            "mean": summary_rows.mean,
            "lpl": summary_rows.lpl,
            "upl": summary_rows.upl,
            "n": summary_rows.n,
            "common_cause": summary_rows.common_cause,
            "special_cause_improvement": summary_rows.special_cause_improvement,
            "special_cause_concern": summary_rows.special_cause_concern,
            "variation_type": point_labels[summary_rows.variation],
            "assurance_type": pl.Series(assurance_names[summary_rows.assurance], dtype=pl.String),
            "short_group_warning": short,
        }
    )
    last = series_table.filter(pl.Series(summary_rows.is_last))
    warnings: tuple[str, ...] = ()
    if short.any():
        listed = series_table.filter(pl.col("short_group_warning"))
        groups = "; ".join(
            f"{s} segment {g} ({n} points)"
            for s, g, n in listed.select("series", "segment", "n").head(10).rows()
        )
        more = "" if listed.height <= 10 else f"; and {listed.height - 10} more"
        warnings = (f"{SHORT_GROUP_MESSAGE} [{groups}{more}]",)
    summary: dict[str, Any] = {
        "variation": _counts(last["variation_type"]),
        "assurance": _counts(last["assurance_type"].fill_null("not_assessed")),
        "n_segments": series_table.height,
        "n_short_segments": int(short.sum()),
    }
    return AnalystResult(
        table=_clean_floats(table),
        summary=summary,
        series_table=_clean_floats(series_table),
        warnings=warnings,
    )


def _run_result(
    frame: pl.DataFrame,
    values: FloatArray,
    phase: IntArray | None,
    freeze: int | None,
    series_names: list[str],
) -> AnalystResult:
    chart = run_chart(values, phase=phase, freeze=freeze)
    observed = frame["__value"].is_not_null().to_numpy()
    segment_index = _at_rows(chart.segment_index, frame)
    centre = _at_rows(chart.centre_line, frame)
    segment = chart.segment[np.maximum(segment_index, 0)]
    table = pl.DataFrame(
        {
            "series": frame[_SERIES],
            "period": frame[_PERIOD],
            "value": frame["__value"],
            "segment": _masked(segment, observed),
            "centre": _masked(centre, observed),
        }
    )
    runs = chart.runs
    series_table = pl.DataFrame(
        {
            "series": [series_names[i] for i in chart.series],
            "segment": chart.segment,
            "centre": chart.centre,
            "n_obs": runs.n_obs,
            "n_useful": runs.n_useful,
            "longest_run": runs.longest_run,
            "longest_run_max": runs.longest_run_max,
            "n_crossings": runs.n_crossings,
            "n_crossings_min": runs.n_crossings_min,
            "runs_signal": runs.runs_signal,
        }
    )
    summary: dict[str, Any] = {
        "n_segments": series_table.height,
        "n_signals": int(runs.runs_signal.sum()),
    }
    return AnalystResult(
        table=_clean_floats(table), summary=summary, series_table=_clean_floats(series_table)
    )


def _counts(labels: pl.Series) -> dict[str, int]:
    counted = labels.value_counts(sort=True)
    return {str(k): int(v) for k, v in counted.rows()}


# ----------------------------------------------------------------------------------------------------------
# CUSUM
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CusumRequest:
    """Columns and options of ``forewarn cusum`` (see :func:`forewarn.stats.cusum.risk_adjusted_cusum`).

    ``baseline="own"`` (the default) asks "has each series got worse than its own first ``baseline_periods``
    periods?": the counts go on the funnel's variance-stabilised scale against the expected counts, each series
    is compared with its own baseline, the period-to-period over-dispersion of the file's series is allowed for
    (tau_w^2, unless ``overdispersion`` is False), and a one-sided CUSUM of the z-scores tuned to ``rate_ratio``
    runs with h set so that a share ``false_alarm_share`` of in-control series alarm over the file's window
    (:mod:`forewarn.stats.incontrol`, :mod:`forewarn.stats.false_alarms`). This is what the scan runs.

    ``baseline="given"`` is the classical risk-adjusted CUSUM (Steiner et al. 2000) against the expected counts
    as given, for expected counts from a case-mix model the user vouches for. With ``threshold`` None, h is
    chosen for ``target_arl`` by :func:`forewarn.stats.cusum.llr_cusum_threshold`; a target the chart cannot
    approach (counts so large that every h alarms on a single period's excess) is refused.
    """

    period_col: str
    observed_col: str
    expected_col: str
    series_col: str | None = None
    denominator_col: str | None = None
    rate_ratio: float = 2.0
    target_arl: float = 60.0
    form: Literal["poisson", "bernoulli"] = "poisson"
    threshold: float | None = None
    threshold_method: Literal["markov", "simulation"] = "markov"
    head_start: float = 0.0
    reset: Literal["zero", "head_start"] = "zero"
    seed: int = 20000441
    sheet: str | None = None
    baseline: Literal["own", "given"] = "own"
    baseline_periods: int = 12
    overdispersion: bool = True
    false_alarm_share: float = 0.05


def cusum_file(path: Path, request: CusumRequest) -> AnalystResult:
    """:func:`cusum_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return cusum_frame(FileInput(path, request.sheet), request)


def cusum_frame(data: AnalystInput | pl.DataFrame, request: CusumRequest) -> AnalystResult:
    """Risk-adjusted CUSUM of observed against expected counts for every series of one file.

    Returns
    -------
    AnalystResult
        ``table``: one row per period (series, period, observed, expected, [denominator], increment W,
        statistic S, alarm). ``series_table``: per series, periods, totals, O/E, alarms, first alarm and the
        last S. ``summary``: the threshold h, its in-control ARL and how it was found.
    """
    reader = _as_input(data)
    source = reader.name
    try:
        options = RiskAdjustedCusumOptions(
            rate_ratio=request.rate_ratio,
            form=request.form,
            head_start=request.head_start,
            reset=request.reset,
        )
        if request.form == "bernoulli" and request.denominator_col is None:
            raise ValueError("--form bernoulli needs --denominator-col (cases per period)")
        if request.threshold is not None and not (math.isfinite(request.threshold) and request.threshold > 0):
            raise ValueError(f"--threshold must be a positive number; got {request.threshold}")
        if request.baseline == "own" and request.threshold is not None:
            raise ValueError(
                "--threshold applies to --baseline given; --baseline own sets h from --false-alarms"
            )
        if not 0 < request.false_alarm_share < 1:
            raise ValueError(f"--false-alarms must be between 0 and 1; got {request.false_alarm_share}")
        if request.baseline_periods < 2:
            raise ValueError(f"--baseline-periods must be at least 2; got {request.baseline_periods}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    columns = {
        "--period-col": request.period_col,
        "--observed-col": request.observed_col,
        "--expected-col": request.expected_col,
    }
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    if request.denominator_col is not None:
        columns["--denominator-col"] = request.denominator_col
    frame = reader.read(columns)
    checks = _Checks(source)
    frame = _with_series(frame, request.series_col, checks)
    frame, _ = _parse_periods(frame, request.period_col, checks)
    frame = _parse_numbers(frame, request.observed_col, "__obs", checks, required=False)
    frame = _parse_numbers(frame, request.expected_col, "__exp", checks, required=False)
    o, e = pl.col("__obs"), pl.col("__exp")
    checks.add(
        frame.filter(o < 0), request.observed_col, pl.col(request.observed_col), "must not be negative"
    )
    checks.add(
        frame.filter(e < 0), request.expected_col, pl.col(request.expected_col), "must not be negative"
    )
    if request.denominator_col is not None:
        den = request.denominator_col
        frame = _parse_numbers(frame, den, "__den", checks, required=False)
        n = pl.col("__den")
        checks.add(
            frame.filter(n == 0),
            den,
            pl.col(den),
            "denominator is 0: leave the row out (or the cell empty) for a period without cases",
        )
        checks.add(frame.filter(n < 0), den, pl.col(den), "denominator must be positive")
        if request.form == "bernoulli":
            checks.add(
                frame.filter((o > n) & (n > 0)),
                request.observed_col,
                pl.col(request.observed_col),
                pl.format(
                    "observed exceeds the denominator ({}): deaths cannot outnumber cases", pl.col(den)
                ),
            )
            checks.add(
                frame.filter((e > n) & (n > 0)),
                request.expected_col,
                pl.col(request.expected_col),
                pl.format("expected exceeds the denominator ({})", pl.col(den)),
            )
    _check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame, series_names, width = _panel_positions(frame)
    frame = frame.sort("__s", "__t")
    n_series = len(series_names)
    observed = _scatter(frame, "__obs", n_series, width)
    expected = _scatter(frame, "__exp", n_series, width)
    # A period with either count missing adds nothing: S carries over.
    gap = np.isnan(observed) | np.isnan(expected)
    observed[gap] = np.nan
    expected[gap] = np.nan
    denominators = None
    if request.denominator_col is not None:
        denominators = _scatter(frame, "__den", n_series, width)
    if not np.isfinite(expected).any():
        raise AnalystInputError(
            [Problem(source, None, request.expected_col, None, "no period has both counts")]
        )
    if request.baseline == "own":
        return _own_baseline_cusum(
            source, request, frame, observed, expected, denominators, gap, n_series, width
        )
    try:
        if request.threshold is None:
            found = llr_cusum_threshold(
                request.target_arl,
                expected,
                rate_ratio=request.rate_ratio,
                form=request.form,
                denominators=denominators if request.form == "bernoulli" else None,
                method=request.threshold_method,
                seed=request.seed,
            )
        else:
            found = CusumThreshold(
                h=float(request.threshold),
                arl=math.nan,
                arl_standard_error=math.nan,
                method="given",
                expected=math.nan,
            )
        _refuse_degenerate_threshold(found, request)
        result = risk_adjusted_cusum(
            observed,
            expected,
            found.h,
            denominators=denominators if request.form == "bernoulli" else None,
            options=options,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    log_ratio = math.log(request.rate_ratio)
    if request.form == "poisson" or denominators is None:
        increment = observed * log_ratio - (request.rate_ratio - 1.0) * expected
    else:
        risk = np.divide(expected, denominators, out=np.zeros_like(expected), where=denominators > 0)
        increment = observed * log_ratio - denominators * np.log1p((request.rate_ratio - 1.0) * risk)
    has_value = ~_at_rows(gap, frame)
    columns_out: dict[str, Any] = {
        "series": frame[_SERIES],
        "period": frame[_PERIOD],
        "observed": frame["__obs"],
        "expected": frame["__exp"],
    }
    if request.denominator_col is not None:
        columns_out["denominator"] = frame["__den"]
    columns_out["increment"] = _at_rows(increment, frame)
    columns_out["statistic"] = _at_rows(result.statistic, frame)
    columns_out["alarm"] = _masked(_at_rows(result.alarm, frame), has_value)
    table = pl.DataFrame(columns_out)
    per_series = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().alias("periods"),
            pl.col("observed").filter(pl.col("alarm").is_not_null()).sum().alias("observed"),
            pl.col("expected").filter(pl.col("alarm").is_not_null()).sum().alias("expected"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("statistic").drop_nulls().drop_nans().last().alias("last_statistic"),
        )
        .with_columns((pl.col("observed") / pl.col("expected")).alias("observed_over_expected"))
    )
    series_table = per_series.with_columns(pl.lit(found.h).alias("threshold"))
    summary: dict[str, Any] = {
        "form": request.form,
        "rate_ratio": float(request.rate_ratio),
        "target_arl": None if request.threshold is not None else float(request.target_arl),
        "threshold": float(found.h),
        "threshold_method": found.method,
        "arl_at_threshold": _number(found.arl),
        "arl_standard_error": _number(found.arl_standard_error),
        "typical_expected": _number(found.expected),
        "n_series": n_series,
        "n_rows": frame.height,
        "n_series_alarmed": int((result.n_alarms > 0).sum()),
        "n_alarms": int(result.n_alarms.sum()),
    }
    warnings: tuple[str, ...] = ()
    missing = int(gap.sum() - (n_series * width - frame.height))
    if missing:
        warnings = (
            f"{missing} row(s) lack the observed or expected count: the CUSUM carries over those periods",
        )
    return AnalystResult(
        table=_clean_floats(table),
        summary=summary,
        series_table=_clean_floats(series_table),
        warnings=warnings,
    )


def _refuse_degenerate_threshold(found: CusumThreshold, request: CusumRequest) -> None:
    """A target ARL the chart cannot approach: even the smallest lattice h runs far longer in control, so
    any single period with ``O ln R > (R - 1) E`` alarms. Refuse it rather than print a collapsed h."""
    if request.threshold is None and not (math.isfinite(found.arl) and found.arl <= 10 * request.target_arl):
        arl = f"{found.arl:.3g}" if math.isfinite(found.arl) else "too long to compute"
        raise ValueError(
            f"no threshold gives an in-control ARL near {request.target_arl:g}: with about {found.expected:.4g} "
            f"expected events a period even the smallest h ({found.h:.3g}) gives an ARL of {arl}, so "
            "the chart would alarm on any single period's excess and over-dispersed data alarm all the time. "
            "Use --baseline own (against each series' own baseline, over-dispersion allowed for), or a rate "
            "ratio closer to 1"
        )


def _own_baseline_cusum(
    source: str,
    request: CusumRequest,
    frame: pl.DataFrame,
    observed: NDArray[np.float64],
    expected: NDArray[np.float64],
    denominators: NDArray[np.float64] | None,
    gap: NDArray[np.bool_],
    n_series: int,
    width: int,
) -> AnalystResult:
    """The scan's change detection on a file: z-scores against each series' own baseline, CUSUM upwards."""
    form: ScaleForm = "bernoulli" if request.form == "bernoulli" else "poisson"
    try:
        scaled = scaled_counts(observed, expected, form=form, denominators=denominators)
        model = own_baseline_model(
            scaled,
            np.zeros(n_series, dtype=np.int64),
            n_groups=1,
            baseline_periods=request.baseline_periods,
            min_baseline_points=min(4, request.baseline_periods),
            overdispersion=request.overdispersion,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    # A ratio below 1 watches for falls: turn the z-scores over so the chart always accumulates upwards.
    upward = request.rate_ratio > 1
    z = model.z if upward else -model.z
    ratio = request.rate_ratio if upward else 1.0 / request.rate_ratio
    shift = shift_in_sd(scaled, model, form=form, rate_ratio=ratio, shift_sd=1.0)
    if not np.isfinite(shift).any():
        raise AnalystInputError(
            [
                Problem(
                    source,
                    None,
                    request.observed_col,
                    None,
                    f"no series has {min(4, request.baseline_periods)} baseline periods with counts to compare with",
                )
            ]
        )
    k = float(np.nanmedian(shift)) / 2.0
    periods = int(width)
    h = float(cusum_window_threshold(k, periods, request.false_alarm_share)[0])
    chance = window_false_alarms(k, h, periods)
    watched: NDArray[np.bool_] = np.asarray(np.isfinite(z).any(axis=1), dtype=bool)
    result = panel_cusum(np.where(watched[:, None], z, np.nan), k, h)
    has_value = ~_at_rows(gap, frame)
    columns_out: dict[str, Any] = {
        "series": frame[_SERIES],
        "period": frame[_PERIOD],
        "observed": frame["__obs"],
        "expected": frame["__exp"],
    }
    if denominators is not None:
        columns_out["denominator"] = frame["__den"]
    columns_out["z"] = _at_rows(z, frame)
    columns_out["statistic"] = _at_rows(np.where(np.isfinite(z), result.statistic, np.nan), frame)
    columns_out["alarm"] = _masked(_at_rows(result.alarm, frame), has_value & np.isfinite(_at_rows(z, frame)))
    table = pl.DataFrame(columns_out)
    series_table = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().alias("periods"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("period").filter(pl.col("alarm")).last().alias("last_alarm"),
            pl.col("statistic").drop_nulls().drop_nans().last().alias("last_statistic"),
        )
        .with_columns(
            pl.Series("baseline", model.baseline),
            pl.Series("baseline_points", model.baseline_points),
            pl.lit(k).alias("k"),
            pl.lit(h).alias("threshold"),
        )
    )
    alarmed = int((result.n_alarms > 0).sum())
    summary: dict[str, Any] = {
        "form": request.form,
        "baseline": "own",
        "question": METHOD_QUESTIONS["cusum"],
        "rate_ratio": float(request.rate_ratio),
        "baseline_periods": request.baseline_periods,
        "overdispersion": request.overdispersion,
        "tau2_within": float(model.tau2[0]),
        "phi_within": float(model.phi[0]),
        "autocorrelation": float(model.rho[0]),
        "k": k,
        "threshold": h,
        "threshold_method": "false-alarm share over the window (Markov chain)",
        "false_alarm_share": float(request.false_alarm_share),
        "false_alarm_share_achieved": float(chance.any_alarm[0]),
        "periods": periods,
        "n_series": n_series,
        "n_series_watched": int(watched.sum()),
        "n_rows": frame.height,
        "n_series_alarmed": alarmed,
        "n_series_alarmed_expected_by_chance": float(chance.any_alarm[0] * watched.sum()),
        "n_alarms": int(result.n_alarms.sum()),
        "n_alarms_expected_by_chance": float(chance.expected_alarms()[0] * watched.sum()),
    }
    warnings: list[str] = []
    unwatched = n_series - int(watched.sum())
    if unwatched:
        warnings.append(
            f"{unwatched} series have too few baseline periods with counts to be watched (no z-scores)"
        )
    return AnalystResult(
        table=_clean_floats(table),
        summary=summary,
        series_table=_clean_floats(series_table),
        warnings=tuple(warnings),
    )


# ----------------------------------------------------------------------------------------------------------
# EWMA
# ----------------------------------------------------------------------------------------------------------

XMR_D2 = 1.128
"""d2 for moving ranges of two points: sigma = mean moving range / 1.128 (Montgomery 2019, section 6.4)."""


@dataclass(frozen=True)
class EwmaRequest:
    """Columns and options of ``forewarn ewma`` (see :func:`forewarn.stats.ewma.ewma_chart`).

    Each series is smoothed as ``Z_t = lam x_t + (1 - lam) Z_(t-1)`` against exact time-varying limits
    ``centre -+ L sd sqrt(v_t)``. ``centre`` and ``sd`` are the in-control mean and the standard deviation of
    one value; by default each series' own, from its first ``baseline_periods`` values (the mean, and the mean
    moving range / 1.128 as an XmR chart estimates sigma). ``limit_width`` (L) None chooses L so that the
    chart, with these very limits, has an in-control ARL of ``target_arl`` periods
    (:func:`forewarn.stats.arl.ewma_crit`).
    """

    period_col: str
    value_col: str
    series_col: str | None = None
    lam: float = 0.2
    limit_width: float | None = None
    target_arl: float = 370.0
    centre: float | None = None
    sd: float | None = None
    baseline_periods: int = 12
    reset: bool = False
    sheet: str | None = None


def ewma_file(path: Path, request: EwmaRequest) -> AnalystResult:
    """:func:`ewma_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return ewma_frame(FileInput(path, request.sheet), request)


def ewma_frame(data: AnalystInput | pl.DataFrame, request: EwmaRequest) -> AnalystResult:
    """EWMA charts of every series at once.

    Returns
    -------
    AnalystResult
        ``table``: one row per period (series, period, value, centre, ewma, lower, upper, alarm, direction
        "high", "low" or empty). ``series_table``: per series the centre and sd used, baseline points, alarms,
        first and last alarm. ``summary``: lambda, L and how it was chosen, series and alarms.
    """
    reader = _as_input(data)
    source = reader.name
    try:
        options = EwmaOptions(
            lam=request.lam,
            L=request.limit_width,
            target_arl=None if request.limit_width is not None else request.target_arl,
            reset=request.reset,
        )
        if request.baseline_periods < 2:
            raise ValueError(f"--baseline-periods must be at least 2; got {request.baseline_periods}")
        if request.sd is not None and not (math.isfinite(request.sd) and request.sd > 0):
            raise ValueError(f"--sd must be a positive number; got {request.sd}")
        if request.centre is not None and not math.isfinite(request.centre):
            raise ValueError(f"--centre must be a finite number; got {request.centre}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    columns = {"--period-col": request.period_col, "--value-col": request.value_col}
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    frame = reader.read(columns)
    checks = _Checks(source)
    frame = _with_series(frame, request.series_col, checks)
    frame, _ = _parse_periods(frame, request.period_col, checks)
    frame = _parse_numbers(frame, request.value_col, "__value", checks, required=False)
    _check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame, series_names, width = _panel_positions(frame)
    frame = frame.sort("__s", "__t")
    n_series = len(series_names)
    values = _scatter(frame, "__value", n_series, width)
    centre, sd, points = _ewma_baseline(values, request)
    watched = np.isfinite(centre) & np.isfinite(sd) & (sd > 0)
    if not watched.any():
        need = "2 values" if request.sd is not None or request.centre is not None else "2 values that vary"
        raise AnalystInputError(
            [
                Problem(
                    source,
                    None,
                    request.value_col,
                    None,
                    f"no series has {need} in its first {request.baseline_periods} periods to set its "
                    "centre and spread from",
                )
            ]
        )
    chart = ewma_chart(
        np.where(watched[:, None], values, np.nan),
        options,
        centre=np.where(watched, centre, 0.0),
        sd=np.where(watched, sd, 1.0),
    )
    observed = frame["__value"].is_not_null().to_numpy()
    rows_watched = watched[frame["__s"].to_numpy()]
    direction = np.where(chart.alarm_upper, "high", np.where(chart.alarm_lower, "low", ""))
    table = pl.DataFrame(
        {
            "series": frame[_SERIES],
            "period": frame[_PERIOD],
            "value": frame["__value"],
            "centre": _masked(centre[frame["__s"].to_numpy()], rows_watched),
            "ewma": _masked(_at_rows(chart.statistic, frame), observed & rows_watched),
            "lower": _masked(_at_rows(chart.lower_limit, frame), observed & rows_watched),
            "upper": _masked(_at_rows(chart.upper_limit, frame), observed & rows_watched),
            "alarm": _masked(_at_rows(chart.alarm, frame), observed & rows_watched),
            "direction": _masked(_at_rows(direction, frame), observed & rows_watched),
        }
    )
    series_table = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().cast(pl.Int64).alias("periods"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("period").filter(pl.col("alarm")).last().alias("last_alarm"),
        )
        .with_columns(
            pl.Series("centre", np.where(watched, centre, np.nan)),
            pl.Series("sd", np.where(watched, sd, np.nan)),
            pl.Series("baseline_points", points),
        )
    )
    summary: dict[str, Any] = {
        "lam": float(chart.lam),
        "L": float(chart.L),
        "target_arl": None if request.limit_width is not None else float(request.target_arl),
        "centre": request.centre if request.centre is not None else "each series' baseline mean",
        "sd": request.sd if request.sd is not None else "each series' baseline mean moving range / 1.128",
        "baseline_periods": request.baseline_periods,
        "reset": request.reset,
        "n_series": n_series,
        "n_series_watched": int(watched.sum()),
        "n_rows": frame.height,
        "n_series_alarmed": int((chart.n_alarms > 0).sum()),
        "n_alarms": int(chart.n_alarms.sum()),
    }
    warnings: list[str] = []
    unwatched = n_series - int(watched.sum())
    if unwatched:
        warnings.append(
            f"{unwatched} series have too few baseline values to set a centre and spread: not charted"
        )
    missing = int(frame["__value"].null_count())
    if missing:
        warnings.append(f"{missing} row(s) have no value: the EWMA carries over those periods")
    return AnalystResult(
        table=_clean_floats(table),
        summary=summary,
        series_table=_clean_floats(series_table),
        warnings=tuple(warnings),
    )


def _ewma_baseline(values: FloatArray, request: EwmaRequest) -> tuple[FloatArray, FloatArray, IntArray]:
    """Each series' centre and sd (given, or from its first ``baseline_periods`` values) and the number of
    baseline values; NaN where a series has too few."""
    n_series = values.shape[0]
    observed = np.isfinite(values)
    order = np.cumsum(observed, axis=1)
    in_baseline = observed & (order <= request.baseline_periods)
    points = in_baseline.sum(axis=1).astype(np.int64)
    baseline = np.where(in_baseline, values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if request.centre is not None:
            centre = np.full(n_series, float(request.centre))
        else:
            centre = np.where(points >= 2, np.nansum(baseline, axis=1) / np.maximum(points, 1), np.nan)
        if request.sd is not None:
            sd = np.full(n_series, float(request.sd))
        else:
            # Moving ranges between consecutive baseline values (gaps bridged, as the SPC charts bridge them).
            # the baseline values first, in time order
            key = np.where(in_baseline, order, np.iinfo(np.int64).max)
            front = np.argsort(key, axis=1, kind="stable")
            picked = np.take_along_axis(baseline, front, axis=1)
            ranges = np.abs(np.diff(picked, axis=1))
            n_ranges = np.isfinite(ranges).sum(axis=1)
            sd = np.where(n_ranges >= 1, np.nansum(ranges, axis=1) / np.maximum(n_ranges, 1) / XMR_D2, np.nan)
    return centre.astype(np.float64), sd.astype(np.float64), points


# ----------------------------------------------------------------------------------------------------------
# Ranks
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RanksRequest:
    """Columns and options of ``forewarn ranks`` (see :func:`forewarn.stats.ranks.rank_uncertainty`).

    Give ``estimate_col`` and ``se_col``, or ``numerator_col`` and ``denominator_col`` with ``data_type``:
    ``"PR"`` ranks the proportion O/N with standard error sqrt(p~(1 - p~)/N), ``"SR"`` the ratio O/E with
    sqrt(O + 1/2)/E, where p~ = (O + 1/2)/(N + 1) keeps the uncertainty of a unit with 0 or N events above 0.
    ``higher_is_better`` puts the largest value at rank 1; otherwise the smallest.
    """

    unit_col: str
    estimate_col: str | None = None
    se_col: str | None = None
    numerator_col: str | None = None
    denominator_col: str | None = None
    data_type: Literal["PR", "SR"] = "PR"
    group_col: str | None = None
    higher_is_better: bool = False
    replicates: int = 1000
    level: float = 0.95
    seed: int = 19960385
    sheet: str | None = None


def ranks_file(path: Path, request: RanksRequest) -> AnalystResult:
    """:func:`ranks_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return ranks_frame(FileInput(path, request.sheet), request)


def ranks_frame(data: AnalystInput | pl.DataFrame, request: RanksRequest) -> AnalystResult:
    """Rank intervals of every unit (within each group's league table) from one file.

    Returns
    -------
    AnalystResult
        ``table``: unit, [group], estimate, se, rank (of the estimate; ties share the best), median rank, the
        interval, mean and exact expected rank, table size and whether the unit differs from the middle.
        ``summary``: units, tables, how many units can be told apart from the middle.
    """
    reader = _as_input(data)
    source = reader.name
    est_col, se_col = request.estimate_col, request.se_col
    num_col, den_col = request.numerator_col, request.denominator_col
    by_estimate = est_col is not None or se_col is not None
    by_counts = num_col is not None or den_col is not None
    try:
        if by_estimate == by_counts:
            raise ValueError(
                "give --estimate-col with --se-col, or --numerator-col with --denominator-col (one pair, not both)"
            )
        options = RankOptions(
            n_draws=request.replicates,
            level=request.level,
            seed=request.seed,
            descending=request.higher_is_better,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    if by_estimate:
        if est_col is None or se_col is None:
            raise usage_error(source, "--estimate-col and --se-col go together")
        first, second = ("--estimate-col", est_col), ("--se-col", se_col)
    else:
        if num_col is None or den_col is None:
            raise usage_error(source, "--numerator-col and --denominator-col go together")
        first, second = ("--numerator-col", num_col), ("--denominator-col", den_col)
    columns = {"--unit-col": request.unit_col}
    if request.group_col is not None:
        columns["--group-col"] = request.group_col
    columns.update(dict([first, second]))
    frame = reader.read(columns)
    checks = _Checks(source)
    _require_text(frame, request.unit_col, "a unit", checks)
    group = request.group_col
    if group is not None:
        _require_text(frame, group, "a group", checks)
    keys = [request.unit_col] if group is None else [group, request.unit_col]
    n_rows = frame.height
    if by_estimate:
        estimate_col, error_col = first[1], second[1]
        frame = _parse_numbers(frame, estimate_col, "__est", checks, required=True)
        frame = _parse_numbers(frame, error_col, "__se", checks, required=True)
        checks.add(
            frame.filter(pl.col("__se") < 0),
            error_col,
            pl.col(error_col),
            "a standard error must not be negative",
        )
        first_row = pl.col(ROW).min().over(keys)
        repeated = frame.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys)).with_columns(
            first_row.alias("__first")
        )
        checks.add(
            repeated.filter(pl.col(ROW) != pl.col("__first")),
            request.unit_col,
            pl.col(request.unit_col),
            pl.format(
                "unit appears more than once (first at row {}): give one row per unit with an estimate "
                "(rows are summed by unit only with --numerator-col and --denominator-col)",
                pl.col("__first"),
            ),
        )
        checks.raise_if_any()
    else:
        num, den = first[1], second[1]
        frame = _parse_numbers(frame, num, "__num", checks, required=True)
        frame = _parse_numbers(frame, den, "__den", checks, required=True)
        o, n = pl.col("__num"), pl.col("__den")
        checks.add(frame.filter(o < 0), num, pl.col(num), "must not be negative")
        checks.add(frame.filter(n == 0), den, pl.col(den), "denominator is 0: the ratio is undefined")
        checks.add(frame.filter(n < 0), den, pl.col(den), "denominator must be positive")
        if request.data_type == "PR":
            checks.add(
                frame.filter(o > n),
                num,
                pl.col(num),
                pl.format(
                    "numerator exceeds the denominator ({}): a proportion needs numerator <= denominator",
                    pl.col(den),
                ),
            )
        checks.raise_if_any()
        # Several rows of a unit (months, sites...) are summed, as `forewarn funnel` sums them.
        frame = frame.group_by(keys, maintain_order=True).agg(o.sum(), n.sum())
        frame = frame.with_columns(
            (o / n).alias("__est"),
            (
                (((o + 0.5) / (n + 1.0)) * (1.0 - (o + 0.5) / (n + 1.0)) / n).sqrt()
                if request.data_type == "PR"
                else (o + 0.5).sqrt() / n
            ).alias("__se"),
        )

    estimate = frame["__est"].to_numpy().astype(np.float64)
    se = frame["__se"].to_numpy().astype(np.float64)
    labels = None if group is None else frame[group].to_numpy()
    ranks = rank_uncertainty(estimate, se, group=labels, options=options)
    expected = expected_ranks(estimate, se, group=labels, descending=request.higher_is_better)
    rank_expr = pl.col("__est").rank("min", descending=request.higher_is_better)
    observed_rank = frame.select(rank_expr.over(group) if group is not None else rank_expr).to_series()
    out: dict[str, Any] = {"unit": frame[request.unit_col]}
    if group is not None:
        out["group"] = frame[group]
    out.update(
        {
            "estimate": estimate,
            "se": se,
            "rank": observed_rank.cast(pl.Int64),
            "median_rank": ranks.median_rank,
            "lower_rank": ranks.lower_rank,
            "upper_rank": ranks.upper_rank,
            "mean_rank": ranks.mean_rank,
            "expected_rank": expected,
            "group_size": ranks.group_size,
            "differs_from_middle": ranks.differs_from_middle,
        }
    )
    table = pl.DataFrame(out)
    summary: dict[str, Any] = {
        "n_units": int(estimate.size),
        "n_rows": n_rows,
        "n_groups": 1 if labels is None else int(np.unique(labels).size),
        "replicates": request.replicates,
        "level": float(request.level),
        "seed": request.seed,
        "rank_1_is": "highest" if request.higher_is_better else "lowest",
        "n_differ_from_middle": int(ranks.differs_from_middle.sum()),
        "estimate_from": "estimate and se" if by_estimate else f"numerator/denominator ({request.data_type})",
    }
    return AnalystResult(table=_clean_floats(table), summary=summary)
