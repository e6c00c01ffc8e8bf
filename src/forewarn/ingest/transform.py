"""From a raw table and its mapping to clean organisations, observations and events, finding every problem.

Each check runs over the whole table at once (Polars), and yields a frame of problems (row, column, value,
message) so that a million-row file is validated in about a second and every problem is reported together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import String

from forewarn.ingest.checks import Checker, Rule, keep
from forewarn.ingest.columns import Distinct, rows_with_value, text_is_kept, typed_columns, unreadable
from forewarn.ingest.indicator_rows import (
    OBSERVATION_COLUMNS,
    duplicates,
    indicator_rows,
    needed_columns,
    unknown_indicators,
)
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import ColumnOrValue, FixedValue, Mapping
from forewarn.ingest.periods import parse_dates, period_bounds, period_end
from forewarn.ingest.problems import ValidationReport
from forewarn.ingest.readers import ROW, RawTable
from forewarn.store.models import Event, Organisation, OrganisationAttribute

__all__ = [
    "OBSERVATION_COLUMNS",
    "Prepared",
    "empty_events",
    "empty_observations",
    "organisation_code",
    "prepare",
]
EARLIEST_DATE = dt.date(1800, 1, 1)
"""Periods and events before this are refused as implausible (a mistyped year)."""


def _store_length(column: object) -> int | None:
    kind = getattr(column, "type", None)
    return kind.length if isinstance(kind, String) else None


@dataclass
class Prepared:
    """What an import would write, once the report is clean."""

    organisations: pl.DataFrame
    attributes: pl.DataFrame
    observations: pl.DataFrame
    events: pl.DataFrame
    rows_read: int
    rows_skipped: int
    skipped_reasons: dict[str, int] = field(default_factory=dict)


def _reference(ref: ColumnOrValue | None) -> pl.Expr:
    if ref is None:
        return pl.lit(None, dtype=pl.String)
    if isinstance(ref, FixedValue):
        return pl.lit(ref.value)
    return pl.col(ref)


def _excluded(frame: pl.DataFrame, mapping: Mapping) -> tuple[pl.DataFrame, dict[str, int]]:
    reasons: dict[str, int] = {}
    for item in mapping.exclude:
        dropped = pl.col(item.column).is_in(item.values)
        count = int(frame.select(dropped.sum()).item()) if frame.height else 0
        if count:
            reasons[f"excluded by mapping ({item.column}): {item.reason}"] = count
            frame = frame.filter(~dropped | pl.col(item.column).is_null())
    return frame, reasons


ATTRIBUTE_SCHEMA = {
    "org_code": pl.String,
    "name": pl.String,
    "valid_from": pl.Date,
    "value_number": pl.Float64,
    "value_text": pl.String,
}


def _simple_organisations(mapping: Mapping) -> bool:
    """True when nothing but the code of an organisation is read from the file."""
    org = mapping.organisation
    return org.parent is None and not any(isinstance(ref, str) for ref in (org.name, org.type, org.region))


def organisation_rows(frame: pl.DataFrame, mapping: Mapping) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """The organisations of ``frame`` (each once, in the order of its first row, its last non-null name, type,
    region and parent; names not yet filled in) and its attributes, one frame per attribute of the mapping.

    The rows of several frames read one after the other (the chunks of a file) are combined by
    :func:`combine_organisations` into what the whole file would give."""
    org = mapping.organisation
    references = (org.name, org.type, org.region)
    if _simple_organisations(mapping):
        # Nothing read from the file but the code: each organisation once, in the order of its first row (as the
        # group-by below keeps it), without grouping every row.
        organisations = frame.select(pl.col("org_code").unique(maintain_order=True).cast(pl.String)).select(
            "org_code",
            *[
                _reference(ref).cast(pl.String).alias(role)
                for ref, role in zip(references, ("name", "type", "region"), strict=True)
            ],
            pl.lit(None, dtype=pl.String).alias("parent_code"),
        )
    else:
        organisations = (
            frame.select(
                pl.col("org_code").cast(pl.String),
                _reference(org.name).cast(pl.String).alias("name"),
                _reference(org.type).cast(pl.String).alias("type"),
                _reference(org.region).cast(pl.String).alias("region"),
                (
                    organisation_code(pl.col(org.parent), org.case)
                    if org.parent
                    else pl.lit(None, dtype=pl.String)
                ).alias("parent_code"),
            )
            .group_by("org_code", maintain_order=True)
            .agg(pl.all().drop_nulls().last())
        )
    attribute_frames = []
    for name, column in org.attributes.items():
        kind = mapping.columns[column]
        value = pl.col(column)
        attribute_frames.append(
            frame.filter(value.is_not_null())
            .select(
                pl.col("org_code").cast(pl.String),
                pl.lit(name).alias("name"),
                pl.col("valid_from"),
                (
                    value.cast(pl.Float64)
                    if kind in ("number", "integer")
                    else pl.lit(None, dtype=pl.Float64)
                ).alias("value_number"),
                (
                    value.cast(pl.String)
                    if kind not in ("number", "integer")
                    else pl.lit(None, dtype=pl.String)
                ).alias("value_text"),
            )
            .unique(["org_code", "name", "valid_from"], keep="last", maintain_order=True)
        )
    return organisations, attribute_frames


def combine_organisations(
    parts: list[tuple[pl.DataFrame, list[pl.DataFrame]]], mapping: Mapping
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The organisations and attributes of a file from those of its chunks (:func:`organisation_rows`, in the
    order of the rows): the same rows, in the same order, as the whole file read at once gives.

    An organisation is kept at its first row and takes its last non-null name, type, region and parent; an
    attribute (organisation, name, date) its last value, at its last row; one attribute of the mapping after
    another. Both reductions give the same whether done once or chunk by chunk and again over the chunks'."""
    if len(parts) == 1:
        organisations, attribute_frames = parts[0]
    else:
        organisations = pl.concat([orgs for orgs, _ in parts])
        if _simple_organisations(mapping):
            organisations = organisations.unique("org_code", keep="first", maintain_order=True)
        else:
            organisations = organisations.group_by("org_code", maintain_order=True).agg(
                pl.all().drop_nulls().last()
            )
        attribute_frames = [
            pl.concat([attributes[i] for _, attributes in parts]).unique(
                ["org_code", "name", "valid_from"], keep="last", maintain_order=True
            )
            for i in range(len(mapping.organisation.attributes))
        ]
    organisations = organisations.with_columns(pl.col("name").fill_null(pl.col("org_code")))
    attributes = pl.concat(attribute_frames) if attribute_frames else pl.DataFrame(schema=ATTRIBUTE_SCHEMA)
    return organisations, attributes


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "org_code": pl.String,
            "indicator_code": pl.String,
            "period_start": pl.Date,
            "period_end": pl.Date,
            "numerator": pl.Float64,
            "denominator": pl.Float64,
            "value": pl.Float64,
            "expected": pl.Float64,
            "standard_error": pl.Float64,
            ROW: pl.Int64,
        }
    )


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "org_code": pl.String,
            "date": pl.Date,
            "kind": pl.String,
            "grade": pl.String,
            "detail": pl.String,
        }
    )


def organisation_code(column: pl.Expr, case: str) -> pl.Expr:
    """An organisation code as the mapping normalises it: trimmed, then upper-cased unless it says otherwise.

    >>> pl.select(organisation_code(pl.lit(" bad01 "), "upper")).item()
    'BAD01'
    """
    code = column.cast(pl.String).str.strip_chars()
    if case == "upper":
        return code.str.to_uppercase()
    if case == "lower":
        return code.str.to_lowercase()
    return code


def _stored_lengths(frame: pl.DataFrame, mapping: Mapping, checks: Checker, distinct: Distinct) -> None:
    """Cells bound for a store column of limited length (an organisation code: 64) must fit it."""
    org = mapping.organisation
    bounded: list[tuple[str, str, object, str]] = [
        (org.code, "org_code", Organisation.__table__.c.code, "organisation code")
    ]
    if org.parent is not None:
        bounded.append((org.parent, org.parent, Organisation.__table__.c.code, "parent code"))
    for role in ("name", "type", "region"):
        ref = getattr(org, role)
        if isinstance(ref, str):
            bounded.append((ref, ref, Organisation.__table__.c[role], f"organisation {role}"))
    for column in org.attributes.values():
        if mapping.columns[column] == "text":
            bounded.append((column, column, OrganisationAttribute.__table__.c.value_text, "attribute"))
    events = mapping.events if mapping.records == "events" else None
    if events is not None:
        if isinstance(events.kind, str):
            bounded.append((events.kind, events.kind, Event.__table__.c.kind, "event kind"))
        if events.grade is not None:
            bounded.append((events.grade, events.grade, Event.__table__.c.grade, "event grade"))
    rules = []
    for column, source, store_column, role in bounded:
        length = _store_length(store_column)
        if length is None:
            continue
        too_long = rows_with_value(frame, source, _longer_than(length), distinct.of(frame, source))
        size = pl.col(source).cast(pl.String).str.len_chars()
        rules.append(
            Rule(
                too_long,
                column,
                pl.col(source),
                pl.format(f"{role} of {{}} characters, longer than the {length} the store keeps", size),
            )
        )
    checks.check(frame, rules)


def _longer_than(most: int) -> Callable[[pl.Expr], pl.Expr]:
    return lambda text: text.str.len_chars() > most


def _plausible_dates(
    frame: pl.DataFrame, date: pl.Expr, column: str, what: str, limits: Limits, checks: Checker
) -> None:
    horizon = limits.horizon
    checks.check(
        frame,
        [
            Rule(
                date > horizon,
                column,
                pl.col(column),
                f"{what} starts after {horizon.isoformat()}, more than {limits.max_future_days} days from "
                "today (FOREWARN_IMPORT_MAX_FUTURE_DAYS)",
            ),
            Rule(
                date < EARLIEST_DATE,
                column,
                pl.col(column),
                f"{what} starts before {EARLIEST_DATE.isoformat()}: not a plausible date",
            ),
        ],
    )


def _org_codes(frame: pl.DataFrame, mapping: Mapping, distinct: Distinct) -> pl.Expr:
    """The organisation code column as the mapping normalises it; a dictionary-encoded column whose every
    distinct value is already normal is kept as it is (checked once per value, not once per row)."""
    column, case = mapping.organisation.code, mapping.organisation.case
    if text_is_kept(distinct.of(frame, column), lambda text: organisation_code(text, case)):
        return pl.col(column)
    return organisation_code(pl.col(column), case)


def _period(
    frame: pl.DataFrame, column: str, fmt: str, frequency: str | None
) -> tuple[pl.Expr, pl.Expr | None]:
    """Start and end of each row's period (see :func:`period_bounds`); a column already read as dates, with the
    ISO format, is taken as it is instead of written out as text and parsed back (the same dates)."""
    if frame.schema[column] == pl.Date and fmt in ("iso", "%Y-%m-%d"):
        start = pl.col(column)
        if frequency is None:
            return start, None
        return start, period_end(start, frequency)
    return period_bounds(pl.col(column).cast(pl.String), fmt, frequency)


def checked_rows(
    table: RawTable, mapping: Mapping, checks: Checker, limits: Limits
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rows of ``table`` typed and checked cell by cell (problems into ``checks``), each with its
    organisation code (``org_code``), without the rows missing one or excluded by the mapping; and the counts
    of rows skipped, by reason. Row by row: a file read in chunks gives the same rows and problems."""
    distinct = Distinct()
    frame = typed_columns(table, mapping, checks, limits, distinct)
    code_column = mapping.organisation.code
    frame = frame.with_columns(_org_codes(frame, mapping, distinct).alias("org_code"))
    _stored_lengths(frame, mapping, checks, distinct)
    has_code = pl.col("org_code").is_not_null() & (pl.col("org_code") != "")
    checks.check(frame, [Rule(~has_code, code_column, None, "missing organisation code")])
    frame = keep(frame, has_code)
    return _excluded(frame, mapping)


def observation_rows(frame: pl.DataFrame, mapping: Mapping, checks: Checker, limits: Limits) -> pl.DataFrame:
    """For a file of observations: the rows of :func:`checked_rows` with their period (``period_start``,
    ``period_end``, checked) and ``valid_from``, those without a period dropped; rows no indicator reads are
    reported. Row by row, as :func:`checked_rows`."""
    assert mapping.period is not None  # guaranteed by Mapping's validator
    period = mapping.period
    start, end = _period(frame, period.column, period.format, period.frequency)
    if period.end_column is not None:
        end = (
            pl.col(period.end_column)
            if frame.schema[period.end_column] == pl.Date
            else parse_dates(pl.col(period.end_column).cast(pl.String), "iso")
        )
    assert end is not None
    frame = frame.with_columns(start.alias("period_start"), end.alias("period_end"))
    flag = unreadable(period.column)
    already_reported = pl.col(flag) if flag in frame.columns else pl.lit(False)
    checks.check(
        frame,
        [
            Rule(pl.col(period.column).is_null() & ~already_reported, period.column, None, "missing period"),
            Rule(
                pl.col(period.column).is_not_null() & pl.col("period_start").is_null(),
                period.column,
                pl.col(period.column),
                f"unparseable period (expected format {period.format!r})",
            ),
            Rule(
                pl.col("period_end") < pl.col("period_start"),
                period.end_column or period.column,
                pl.col("period_end"),
                "period ends before it starts",
            ),
        ],
    )
    frame = keep(frame, pl.col("period_start").is_not_null() & pl.col("period_end").is_not_null())
    _plausible_dates(frame, pl.col("period_start"), period.column, "period", limits, checks)
    frame = frame.with_columns(pl.col("period_start").alias("valid_from"))
    unknown_indicators(frame, mapping, checks)
    return frame


def prepare(
    table: RawTable, mapping: Mapping, report: ValidationReport, limits: Limits | None = None
) -> Prepared:
    """Validate and transform; problems go into ``report`` and the result is only usable when it stays clean."""
    limits = limits or Limits()
    checks = Checker()
    report.rows_read = table.frame.height
    frame, skipped = checked_rows(table, mapping, checks, limits)

    observations = empty_observations()
    events = empty_events()
    if mapping.records == "observations":
        frame = observation_rows(frame, mapping, checks, limits)
        rows = frame.select(needed_columns(mapping))
        parts = [indicator_rows(rows, spec, checks, skipped) for spec in mapping.indicators]
        del rows
        if parts:
            observations = pl.concat(parts)
            duplicates(observations, [part.height for part in parts], checks)
            del parts
            observations = observations.with_columns(pl.col("org_code").cast(pl.String))
    elif mapping.records == "events":
        assert mapping.events is not None
        spec = mapping.events
        frame = frame.with_columns(
            parse_dates(pl.col(spec.date).cast(pl.String), spec.date_format).alias("__event_date")
        )
        unreadable_date = unreadable(spec.date)
        reported = pl.col(unreadable_date) if unreadable_date in frame.columns else pl.lit(False)
        checks.add(
            frame.filter(pl.col("__event_date").is_null() & ~reported),
            spec.date,
            pl.col(spec.date),
            f"unparseable date (expected format {spec.date_format!r})",
        )
        frame = frame.filter(pl.col("__event_date").is_not_null()).with_columns(
            pl.col("__event_date").alias("valid_from")
        )
        _plausible_dates(frame, pl.col("__event_date"), spec.date, "event date", limits, checks)
        events = frame.select(
            pl.col("org_code").cast(pl.String),
            pl.col("__event_date").alias("date"),
            _reference(spec.kind).cast(pl.String).alias("kind"),
            (pl.col(spec.grade) if spec.grade else pl.lit(None)).cast(pl.String).alias("grade"),
            (pl.col(spec.detail) if spec.detail else pl.lit(None)).cast(pl.String).alias("detail"),
            pl.col(ROW),
        )
        checks.add(events.filter(pl.col("kind").is_null()), None, None, "missing event kind")
        dup = events.filter(pl.len().over("org_code", "date", "kind") > 1)
        dup = dup.with_columns(pl.col(ROW).min().over("org_code", "date", "kind").alias("__first"))
        checks.add(
            dup.filter(pl.col(ROW) != pl.col("__first")),
            None,
            None,
            pl.format(
                "duplicate key: event {} for {} on {} already on row {}",
                "kind",
                "org_code",
                "date",
                "__first",
            ),
        )
        events = events.drop(ROW)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias("valid_from"))

    organisations, attributes = combine_organisations([organisation_rows(frame, mapping)], mapping)
    if mapping.records != "observations" and not attributes.is_empty():
        attributes = attributes.filter(pl.col("valid_from").is_not_null())
    checks.report_into(report)
    return Prepared(
        organisations=organisations,
        attributes=attributes,
        observations=observations,
        events=events,
        rows_read=table.frame.height,
        rows_skipped=sum(skipped.values()),
        skipped_reasons=skipped,
    )
