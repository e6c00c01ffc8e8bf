"""The declared columns of an import, typed and checked cell by cell, whatever the file stored them as.

A CSV file (and an Excel sheet) arrives as text, read by the strict rules of :mod:`forewarn.ingest.numbers` and
:mod:`forewarn.ingest.periods`. A Parquet file arrives with its own types (:func:`forewarn.ingest.readers.read_table`),
and a column already stored as numbers or dates is checked as such, with no round trip through text: the same
cells are refused with the same messages (a NaN or an infinity is "not a finite number", a number that does not fit
a whole-number column is "not a whole number"), each naming its row and column. Text stored dictionary-encoded
(Polars' Categorical: each distinct value once) is checked once per distinct value, and the rows of a bad value
are found by it; a column of another type than the mapping declares goes through text as before.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from forewarn.ingest.checks import Checker, Rule
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import Mapping
from forewarn.ingest.numbers import TYPE_MESSAGES, parse_number
from forewarn.ingest.periods import parse_dates
from forewarn.ingest.readers import RawTable

CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
"""Control characters refused in text cells: C0 (NUL...) and DEL, but tab, line feed and carriage return."""
NON_FINITE = "not a finite number: infinity and NaN are refused"
INT64_LIMIT = 2.0**63
"""Whole numbers of a float column are read into a whole-number column when they fit a 64-bit integer."""


def unreadable(column: str) -> str:
    """The flag column of cells already reported as unreadable (not to be reported again as missing)."""
    return f"__unreadable_{column}"


def is_dictionary(dtype: pl.DataType) -> bool:
    """True for text stored once per distinct value (Categorical or Enum)."""
    return isinstance(dtype, pl.Categorical | pl.Enum)


def distinct_text(frame: pl.DataFrame, column: str) -> pl.DataFrame | None:
    """The distinct values of a dictionary-encoded ``column`` as text (a one-column frame ``v``); None for a
    column of another type."""
    if not is_dictionary(frame.schema[column]):
        return None
    return frame.select(pl.col(column).unique().drop_nulls().cast(pl.String).alias("v"))


class Distinct:
    """The distinct values of each dictionary-encoded column of one import, computed once (:func:`distinct_text`).

    Rows may be dropped from the frame after a column's values were taken; the values kept are then a superset,
    which finds the same rows (rows are matched by value) and at worst keeps a column from staying as it is."""

    def __init__(self) -> None:
        self._values: dict[str, pl.DataFrame | None] = {}

    def of(self, frame: pl.DataFrame, column: str) -> pl.DataFrame | None:
        if not is_dictionary(frame.schema[column]):
            return None
        if column not in self._values:
            self._values[column] = distinct_text(frame, column)
        return self._values[column]


def rows_with_value(
    frame: pl.DataFrame,
    column: str,
    bad: Callable[[pl.Expr], pl.Expr],
    distinct: pl.DataFrame | None = None,
) -> pl.Expr:
    """A row condition: the text of ``column`` satisfies ``bad`` (an expression over a String column).

    With ``distinct`` (:func:`distinct_text` of a dictionary-encoded column) ``bad`` is evaluated once per
    distinct value and the rows are those holding a bad value; otherwise it is evaluated on every row."""
    if distinct is None:
        return bad(pl.col(column).cast(pl.String))
    found = distinct.filter(bad(pl.col("v")).fill_null(False))["v"].to_list()
    return pl.col(column).is_in(found) if found else pl.lit(False)


def text_is_kept(distinct: pl.DataFrame | None, normalise: Callable[[pl.Expr], pl.Expr]) -> bool:
    """True when a column is dictionary-encoded (``distinct``, from :func:`distinct_text`) and ``normalise``
    leaves each of its distinct values as it is, so the column can stay as it is."""
    if distinct is None:
        return False
    return bool(distinct.select((normalise(pl.col("v")) == pl.col("v")).all()).item())


def _too_long(
    frame: pl.DataFrame, column: str, limits: Limits, distinct: pl.DataFrame | None = None
) -> tuple[pl.Expr, Rule]:
    raw = pl.col(column)
    too_long = rows_with_value(
        frame, column, lambda text: text.str.len_chars() > limits.max_field_chars, distinct
    )
    rule = Rule(
        too_long,
        column,
        raw,
        pl.format(
            "cell of {} characters, longer than the {} an import accepts (FOREWARN_IMPORT_MAX_FIELD_CHARS)",
            raw.cast(pl.String).str.len_chars(),
            pl.lit(f"{limits.max_field_chars:,}"),
        ),
    )
    return too_long, rule


def _stored_number(frame: pl.DataFrame, column: str, kind: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A column the file stored as numbers: the typed column, the cells refused (a boolean condition) and the
    message of each (evaluated on the refused rows only), as the text rules would give for the same cells."""
    raw = pl.col(column)
    if frame.schema[column].is_float():
        finite = raw.is_finite()
        refused = raw.is_not_null() & ~finite
        if kind == "integer":
            whole = finite & (raw.floor() == raw) & (raw.abs() < INT64_LIMIT)
            message = pl.when(~finite).then(pl.lit(NON_FINITE)).otherwise(pl.lit(TYPE_MESSAGES[kind]))
            return pl.when(whole).then(raw.cast(pl.Int64)), raw.is_not_null() & ~whole, message
        if not frame.select(refused.any()).item():
            return _as(frame, column, pl.Float64), pl.lit(False), pl.lit(NON_FINITE)  # the column as stored
        return pl.when(finite).then(raw.cast(pl.Float64)), refused, pl.lit(NON_FINITE)
    target = pl.Int64 if kind == "integer" else pl.Float64
    if frame.schema[column] == target:
        return raw, pl.lit(False), pl.lit(TYPE_MESSAGES[kind])
    typed = raw.cast(target, strict=False)
    # Only an unsigned integer beyond the largest signed one can fail to fit.
    return typed, raw.is_not_null() & typed.is_null(), pl.lit(TYPE_MESSAGES[kind])


def _as(frame: pl.DataFrame, column: str, dtype: type[pl.DataType]) -> pl.Expr:
    """``column`` cast to ``dtype``, or as it is when it already has that type (a cast would copy it)."""
    return pl.col(column) if frame.schema[column] == dtype else pl.col(column).cast(dtype)


def _as_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A column of a type the mapping does not expect, as the text the file's reader would have given."""
    dtype = frame.schema[column]
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return frame.with_columns(pl.col(column).dt.strftime("%Y-%m-%d"))
    return frame.with_columns(pl.col(column).cast(pl.String))


def typed_columns(
    table: RawTable, mapping: Mapping, checks: Checker, limits: Limits, distinct: Distinct | None = None
) -> pl.DataFrame:
    """Cast declared columns, reporting each cell that does not parse, is too long, or holds control characters.

    Adds, for each declared column, :func:`unreadable` (the cells reported here)."""
    frame = table.frame
    distinct = distinct or Distinct()
    decimal = mapping.file.decimal if table.numbers_as_text else "point"
    casts: list[pl.Expr] = []
    rules: list[Rule] = []
    for column, kind in mapping.columns.items():
        dtype = frame.schema[column]
        # Decimals and booleans go through text, as before: a decimal's fraction must not be cut silently.
        stored = (dtype.is_integer() or dtype.is_float()) and kind in ("number", "integer")
        stored = stored or (kind == "date" and (dtype == pl.Date or isinstance(dtype, pl.Datetime)))
        stored = stored or (kind == "text" and is_dictionary(dtype))
        if not stored and dtype != pl.String:
            frame = _as_text(frame, column)
        raw = pl.col(column)
        if kind == "text":
            values = distinct.of(frame, column)
            too_long, rule = _too_long(frame, column, limits, values)
            rules.append(rule)
            control = rows_with_value(
                frame, column, lambda text: text.str.contains(CONTROL_CHARACTERS), values
            )
            rules.append(Rule(control, column, raw, "control character (such as NUL) in the text: remove it"))
            if not text_is_kept(values, lambda text: text.str.strip_chars()):
                casts.append(raw.cast(pl.String).str.strip_chars())
            casts.append(too_long.fill_null(False).alias(unreadable(column)))
            continue
        if stored:
            if kind == "date":
                casts.append((raw if dtype == pl.Date else raw.dt.date()).alias(column))
                casts.append(pl.lit(False).alias(unreadable(column)))
                continue
            typed, refused, message = _stored_number(frame, column, kind)
            rules.append(Rule(refused, column, raw, message))
            casts.append(typed.alias(column))
            casts.append(refused.fill_null(False).alias(unreadable(column)))
            continue
        too_long, rule = _too_long(frame, column, limits)
        rules.append(rule)
        text = raw.str.strip_chars()
        if kind == "date":
            typed = parse_dates(text, "iso")
            message = (
                pl.when(text.is_not_null() & (text != "") & typed.is_null())
                .then(pl.lit(TYPE_MESSAGES[kind] + " (expected YYYY-MM-DD)"))
                .otherwise(pl.lit(None, dtype=pl.String))
            )
        else:
            typed, message = parse_number(frame, column, kind, decimal)
        message = pl.when(too_long).then(pl.lit(None, dtype=pl.String)).otherwise(message)
        typed = pl.when(too_long).then(None).otherwise(typed)
        rules.append(Rule(message.is_not_null(), column, raw, message))
        casts.append(typed.alias(column))
        casts.append((message.is_not_null() | too_long).fill_null(False).alias(unreadable(column)))
    checks.check(frame, rules)
    return frame.with_columns(casts)
