"""Turn the period labels of public extracts into start and end dates, vectorised.

Named formats: ``iso`` (2017-03-01), ``month`` (2017-03), ``year`` (2017: calendar year), ``financial_year``
(2017/18: 1 April 2017 to 31 March 2018, as NHS and local-government statistics use), ``year_range``
(2019 - 21: three calendar years, as OHID Fingertips pools small areas), and ``fingertips`` (any of year,
financial_year and year_range). Anything else is a ``strftime`` pattern giving a start date.
"""

from __future__ import annotations

import polars as pl

_FREQUENCY_OFFSET = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "3mo", "year": "1y"}


def _date(year: pl.Expr, month: int, day: int) -> pl.Expr:
    return pl.date(year, pl.lit(month), pl.lit(day))


def _year(label: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    year = label.str.extract(r"^(\d{4})$", 1).cast(pl.Int32, strict=False)
    return _date(year, 1, 1), _date(year, 12, 31)


def _financial_year(label: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    first = label.str.extract(r"^(\d{4})/(\d{2})$", 1).cast(pl.Int32, strict=False)
    second = label.str.extract(r"^(\d{4})/(\d{2})$", 2).cast(pl.Int32, strict=False)
    first = pl.when(second == (first + 1) % 100).then(first).otherwise(None)
    return _date(first, 4, 1), _date(first + 1, 3, 31)


def _year_range(label: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    pattern = r"^(\d{4})\s*-\s*(\d{2})$"
    first = label.str.extract(pattern, 1).cast(pl.Int32, strict=False)
    last_two = label.str.extract(pattern, 2).cast(pl.Int32, strict=False)
    century = first // 100 * 100
    last = pl.when(century + last_two >= first).then(century + last_two).otherwise(century + 100 + last_two)
    return _date(first, 1, 1), _date(last, 12, 31)


def _month(label: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    start = (label + pl.lit("-01")).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return start, start.dt.offset_by("1mo").dt.offset_by("-1d")


def period_bounds(label: pl.Expr, fmt: str, frequency: str | None) -> tuple[pl.Expr, pl.Expr | None]:
    """Expressions for the start and end of each period; null where a label cannot be read.

    The end is None when the format gives only a start and no frequency is known (the caller then needs an end
    column).

    >>> df = pl.DataFrame({"p": ["2017/18", "2019 - 21", "2016", "2017/19"]})
    >>> start, end = period_bounds(pl.col("p"), "fingertips", None)
    >>> df.select(start.alias("s"), end.alias("e")).rows()[:3]
    [(datetime.date(2017, 4, 1), datetime.date(2018, 3, 31)), (datetime.date(2019, 1, 1), datetime.date(2021, 12, 31)), (datetime.date(2016, 1, 1), datetime.date(2016, 12, 31))]
    >>> df.select(start.alias("s")).rows()[3]
    (None,)
    """
    label = label.str.strip_chars()
    if fmt == "year":
        return _year(label)
    if fmt == "financial_year":
        return _financial_year(label)
    if fmt == "year_range":
        return _year_range(label)
    if fmt == "month":
        return _month(label)
    if fmt == "fingertips":
        parts = [_year(label), _financial_year(label), _year_range(label)]
        return pl.coalesce([p[0] for p in parts]), pl.coalesce([p[1] for p in parts])
    pattern = "%Y-%m-%d" if fmt == "iso" else fmt
    start = label.str.strptime(pl.Date, pattern, strict=False)
    if frequency is None:
        return start, None
    return start, period_end(start, frequency)


def period_end(start: pl.Expr, frequency: str) -> pl.Expr:
    """The last day of a period of ``frequency`` that starts on ``start``."""
    return start.dt.offset_by(_FREQUENCY_OFFSET[frequency]).dt.offset_by("-1d")


def parse_dates(label: pl.Expr, fmt: str) -> pl.Expr:
    """A single date per label (events), ``iso`` or a strftime pattern."""
    pattern = "%Y-%m-%d" if fmt == "iso" else fmt
    return label.str.strip_chars().str.strptime(pl.Date, pattern, strict=False)
