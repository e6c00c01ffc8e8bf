"""Numbers as published, read strictly: signs, decimal points or commas, thousands separators only where they
cannot be decimal marks, and no infinity or NaN."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NON_FINITE_TEXT = r"(?i)^[+-]?(inf|infinity|nan)$"
TYPE_MESSAGES = {"number": "not a number", "integer": "not a whole number", "date": "not a date"}


# Numbers as published: digits with an optional sign, decimal mark and exponent, or digits grouped in threes by
# a thousands separator (no exponent then). The first group of a grouped number does not start with 0.
@dataclass(frozen=True)
class _NumberStyle:
    plain: str
    grouped: str
    one_group: str  # a single group, as in 1,234: thousands, or a decimal mark?
    other_mark: str  # the other mark used as a decimal, as in 10,5 when decimals are points
    separators: tuple[str, ...]


_NUMBER_PATTERNS = {
    "point": _NumberStyle(
        plain=r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
        grouped=r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$",
        one_group=r"^[+-]?[1-9]\d{0,2},\d{3}$",
        other_mark=r"^[+-]?\d*,\d+$",
        separators=(",",),
    ),
    "comma": _NumberStyle(
        plain=r"^[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?$",
        grouped=r"^[+-]?[1-9]\d{0,2}([. \u00a0\u202f]\d{3})+(,\d*)?$",
        one_group=r"^[+-]?[1-9]\d{0,2}\.\d{3}$",
        other_mark=r"^[+-]?\d*\.\d+$",
        separators=(".", " ", "\u00a0", "\u202f"),
    ),
}
_OTHER_MARK_MESSAGE = {
    "point": "not a number: a comma that is not a thousands separator (for a decimal comma, set "
    "`file: {decimal: comma}` in the mapping)",
    "comma": "not a number: a point that is not a thousands separator (the mapping says `decimal: comma`)",
}
_AMBIGUOUS_MESSAGE = {
    "point": "ambiguous number: the comma may separate thousands or decimals, and this column has decimal "
    "commas elsewhere (set `file: {decimal: comma}` if they are decimals)",
    "comma": "ambiguous number: the point may separate thousands or decimals, and this column has decimal "
    "points elsewhere",
}


_SIMPLE = {"integer": r"^[+-]?[0-9]+$", "point": r"^[+-]?[0-9]+(\.[0-9]+)?$"}


def _plain_column(frame: pl.DataFrame, text: pl.Expr, kind: str, decimal: str) -> pl.Expr | None:
    """The typed column when every cell is empty or plain ASCII digits (a sign, and a decimal point for numbers
    written with points) that read as a finite number; None when any cell needs the full rules below.

    The common case costs one pattern and one cast over the column instead of the dozen the full rules take;
    a cell of that form means the same under both (no separator to remove, nothing refused), so the result is
    the same column."""
    pattern = _SIMPLE["integer" if kind == "integer" or decimal != "point" else "point"]
    typed = text.cast(pl.Int64 if kind == "integer" else pl.Float64, strict=False)
    plain = (text.is_null() | (text == "")) | (
        text.str.contains(pattern) & typed.is_not_null() & typed.cast(pl.Float64).is_finite()
    )
    return typed if bool(frame.select(plain.all()).item()) else None


def parse_number(frame: pl.DataFrame, column: str, kind: str, decimal: str) -> tuple[pl.Expr, pl.Expr]:
    """The typed column and the message for each cell that cannot be read (null where it can), strictly.

    Thousands separators are taken only where they cannot be decimal marks: ``1,234,567`` and ``1,234.5``
    always, ``1,234`` unless the same column has decimal commas (``10,5``) elsewhere. Infinity, NaN and numbers
    beyond the range of a double (``1e309``) are refused.
    """
    p = _NUMBER_PATTERNS[decimal]
    text = pl.col(column).str.strip_chars()
    fast = _plain_column(frame, text, kind, decimal)
    if fast is not None:
        return fast, pl.lit(None, dtype=pl.String)
    other_mark = text.str.contains(p.other_mark) & ~text.str.contains(p.one_group)
    other_mark_in_column = bool(frame.select(other_mark.any()).item())
    grouped = text.str.contains(p.grouped)
    if other_mark_in_column:
        grouped = grouped & ~text.str.contains(p.one_group)
    cleaned = text
    for separator in p.separators:
        cleaned = (
            pl.when(grouped).then(cleaned.str.replace_all(separator, "", literal=True)).otherwise(cleaned)
        )
    if decimal == "comma":
        cleaned = cleaned.str.replace(",", ".", literal=True)
    readable = text.str.contains(p.plain) | grouped
    if kind == "integer":
        typed = pl.when(readable).then(cleaned.cast(pl.Int64, strict=False))
    else:
        typed = pl.when(readable).then(cleaned.cast(pl.Float64, strict=False))
    message = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(None, dtype=pl.String))
        .when(text.str.contains(NON_FINITE_TEXT))
        .then(pl.lit("not a finite number: infinity and NaN are refused"))
        .when(other_mark_in_column & text.str.contains(p.one_group))
        .then(pl.lit(_AMBIGUOUS_MESSAGE[decimal]))
        .when(other_mark)
        .then(pl.lit(_OTHER_MARK_MESSAGE[decimal]))
        .when(typed.is_null())
        .then(pl.lit(TYPE_MESSAGES[kind]))
        .when(~typed.cast(pl.Float64).is_finite())
        .then(pl.lit("not a finite number: beyond the largest number stored (about 1.8e308)"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return pl.when(message.is_null()).then(typed), message
