"""Checking and arranging the cells a tool needs: numbers, periods, series, and the series x time panel the
statistics take (all series in one vectorised call)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.ingest.periods import period_bounds
from forewarn.ingest.readers import ROW
from forewarn.stats.arrays import FloatArray
from forewarn.tools.problems import Checks

# "21,289" is a thousands separator; "0,95" (a decimal comma) is not read as 95.
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_PERIOD_SAMPLE = 2000
SERIES = "__series"
PERIOD = "__period"
KEY = "__key"


def parse_numbers(
    frame: pl.DataFrame, column: str, alias: str, checks: Checks, *, required: bool
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


def require_text(frame: pl.DataFrame, column: str, what: str, checks: Checks) -> None:
    checks.add(frame.filter(pl.col(column).is_null()), column, None, f"empty: every row needs {what}")


PERIOD_FORMS: dict[str, str] = {
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


def parse_periods(frame: pl.DataFrame, column: str, checks: Checks) -> tuple[pl.DataFrame, str]:
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
    frame = frame.with_columns(candidates[kind].alias(KEY), label.alias(PERIOD))
    unreadable = pl.col(column).is_not_null() & pl.col(KEY).is_null()
    if counts[best] == 0:
        forms = ", ".join(PERIOD_FORMS.values())
        message = f"not a period: expected {forms}"
    else:
        message = f"not a period in the form the other rows use ({PERIOD_FORMS[kind]})"
    checks.add(frame.filter(unreadable), column, pl.col(column), message)
    require_text(frame, column, "a period", checks)
    return frame, kind


def period_key(label: str, kind: str) -> float | None:
    key = pl.DataFrame({"p": [label.strip()]}).select(_period_candidates(pl.col("p"))[kind]).item()
    return None if key is None else float(key)


def check_duplicate_periods(
    frame: pl.DataFrame, period_col: str, series_col: str | None, checks: Checks
) -> None:
    usable = frame.filter(pl.col(KEY).is_not_null() & pl.col(SERIES).is_not_null())
    if not usable.select(pl.struct(SERIES, KEY).is_duplicated().any()).item():
        return
    first = pl.col(ROW).min().over(SERIES, KEY)
    repeated = usable.with_columns(first.alias("__first")).filter(pl.col(ROW) != pl.col("__first"))
    where = "" if series_col is None else pl.format(" in series '{}'", pl.col(SERIES))
    message = pl.concat_str(
        pl.lit("period appears more than once"),
        where if isinstance(where, pl.Expr) else pl.lit(where),
        pl.format(" (first at row {})", pl.col("__first")),
    )
    checks.add(repeated, period_col, pl.col(period_col), message)


def with_series(frame: pl.DataFrame, series_col: str | None, checks: Checks) -> pl.DataFrame:
    if series_col is None:
        return frame.with_columns(pl.lit("all", dtype=pl.String).alias(SERIES))
    require_text(frame, series_col, "a series", checks)
    return frame.with_columns(pl.col(series_col).alias(SERIES))


def panel_positions(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str], int]:
    """Series index (first appearance) and time index (dense rank of the period over all series) of each row."""
    series = frame.select(SERIES).unique(maintain_order=True).with_row_index("__s")
    frame = frame.join(series, on=SERIES, how="left", maintain_order="left").with_columns(
        pl.col("__s").cast(pl.Int64), (pl.col(KEY).rank("dense").cast(pl.Int64) - 1).alias("__t")
    )
    width = int(frame["__t"].max() or 0) + 1  # type: ignore[arg-type]
    return frame, series[SERIES].to_list(), width


def scatter(frame: pl.DataFrame, column: str, n_series: int, width: int) -> FloatArray:
    panel = np.full((n_series, width), np.nan)
    panel[frame["__s"].to_numpy(), frame["__t"].to_numpy()] = frame[column].fill_null(np.nan).to_numpy()
    return panel


def masked_series(values: NDArray[Any] | pl.Series, keep: NDArray[np.bool_]) -> pl.Series:
    """``values`` with null where ``keep`` is False (rows without a value)."""
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    return pl.DataFrame({"v": series, "k": keep}).select(pl.when(pl.col("k")).then(pl.col("v"))).to_series()


def at_rows(values: NDArray[Any], frame: pl.DataFrame) -> NDArray[Any]:
    out: NDArray[Any] = values[frame["__s"].to_numpy(), frame["__t"].to_numpy()]
    return out
