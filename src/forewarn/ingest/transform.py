"""From a raw table and its mapping to clean organisations, observations and events, finding every problem.

Each check runs over the whole table at once (Polars), and yields a frame of problems (row, column, value,
message) so that a million-row file is validated in about a second and every problem is reported together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import String

from forewarn.ingest.checks import Checker
from forewarn.ingest.expressions import compile_expression, expression_columns
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import ColumnOrValue, FixedValue, IndicatorSpec, Mapping
from forewarn.ingest.numbers import TYPE_MESSAGES, parse_number
from forewarn.ingest.periods import parse_dates, period_bounds
from forewarn.ingest.problems import ValidationReport
from forewarn.ingest.readers import ROW, RawTable
from forewarn.ingest.uncertainty import standard_error
from forewarn.store.models import Event, IndicatorKind, Organisation, OrganisationAttribute

OBSERVATION_COLUMNS = [
    "org_code",
    "indicator_code",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "value",
    "expected",
    "standard_error",
    ROW,
]
EARLIEST_DATE = dt.date(1800, 1, 1)
"""Periods and events before this are refused as implausible (a mistyped year)."""
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
"""Control characters refused in text cells: C0 (NUL...) and DEL, but tab, line feed and carriage return."""


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


def _typed(table: RawTable, mapping: Mapping, checks: Checker, limits: Limits) -> pl.DataFrame:
    """Cast declared columns, reporting each cell that does not parse, is too long, or holds control characters."""
    frame = table.frame
    decimal = mapping.file.decimal if table.numbers_as_text else "point"
    casts: list[pl.Expr] = []
    for column, kind in mapping.columns.items():
        raw = pl.col(column)
        too_long = raw.str.len_chars() > limits.max_field_chars
        checks.add(
            frame.filter(too_long),
            column,
            raw,
            pl.format(
                "cell of {} characters, longer than the {} an import accepts (FOREWARN_IMPORT_MAX_FIELD_CHARS)",
                raw.str.len_chars(),
                pl.lit(f"{limits.max_field_chars:,}"),
            ),
        )
        if kind == "text":
            checks.add(
                frame.filter(raw.str.contains(CONTROL_CHARACTERS)),
                column,
                raw,
                "control character (such as NUL) in the text: remove it",
            )
            casts.append(raw.str.strip_chars())
            casts.append(too_long.fill_null(False).alias(_unreadable(column)))
            continue
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
        checks.add(frame.filter(message.is_not_null()), column, raw, message)
        casts.append(typed.alias(column))
        casts.append((message.is_not_null() | too_long).fill_null(False).alias(_unreadable(column)))
    return frame.with_columns(casts)


def _unreadable(column: str) -> str:
    # Cells already reported as unreadable are not reported again as missing.
    return f"__unreadable_{column}"


def _excluded(frame: pl.DataFrame, mapping: Mapping) -> tuple[pl.DataFrame, dict[str, int]]:
    reasons: dict[str, int] = {}
    for item in mapping.exclude:
        dropped = pl.col(item.column).is_in(item.values)
        count = frame.filter(dropped).height
        if count:
            reasons[f"excluded by mapping ({item.column}): {item.reason}"] = count
        frame = frame.filter(~dropped | pl.col(item.column).is_null())
    return frame, reasons


def _where(spec: IndicatorSpec) -> pl.Expr:
    condition = pl.lit(True)
    for column, wanted in spec.where.items():
        values = [wanted] if isinstance(wanted, str) else wanted
        condition = condition & pl.col(column).cast(pl.String).is_in(values)
    for column, pattern in spec.match.items():
        condition = condition & pl.col(column).cast(pl.String).str.contains(pattern).fill_null(False)
    return condition


def _value_expression(spec: IndicatorSpec) -> pl.Expr:
    if spec.value is not None and spec.aggregate == "none":
        return pl.col("value")
    if spec.kind in (IndicatorKind.PROPORTION, IndicatorKind.RATE):
        return pl.col("numerator") / pl.col("denominator") * spec.multiplier
    if spec.kind == IndicatorKind.RATIO_OE:
        return pl.col("numerator") / pl.col("expected")
    return pl.col("numerator")


def _indicator_rows(
    frame: pl.DataFrame, spec: IndicatorSpec, checks: Checker, skipped: dict[str, int]
) -> pl.DataFrame:
    rows = frame.filter(_where(spec))
    exprs = spec.expressions()
    inputs = sorted({c for text in exprs.values() for c in expression_columns(text)})
    unreadable = pl.any_horizontal([pl.col(_unreadable(c)) for c in inputs]) if inputs else pl.lit(False)
    rows = rows.filter(~unreadable)
    missing = pl.any_horizontal([pl.col(c).is_null() for c in inputs]) if inputs else pl.lit(False)
    if spec.on_missing_value == "skip":
        count = rows.filter(missing).height
        if count:
            skipped[f"indicator {spec.code}: value missing in the file (skipped as the mapping asks)"] = count
    else:
        for column in inputs:
            checks.add(
                rows.filter(pl.col(column).is_null()),
                column,
                None,
                f"missing value for indicator {spec.code!r}",
            )
    rows = rows.filter(~missing)
    uncertainty = spec.uncertainty_columns()
    computed = rows.select(
        pl.col("org_code"),
        pl.lit(spec.code).alias("indicator_code"),
        pl.col("period_start"),
        pl.col("period_end"),
        *[
            (compile_expression(exprs[name]) if name in exprs else pl.lit(None, dtype=pl.Float64))
            .cast(pl.Float64)
            .alias(name)
            for name in ("numerator", "denominator", "expected", "value")
        ],
        *[pl.col(column).cast(pl.Float64).alias(f"__{name}") for name, column in uncertainty.items()],
        pl.any_horizontal([pl.col(_unreadable(c)) for c in uncertainty.values()])
        .fill_null(False)
        .alias("__uncertainty_unreadable")
        if uncertainty
        else pl.lit(False).alias("__uncertainty_unreadable"),
        pl.col(ROW),
    )
    if spec.aggregate == "sum":
        computed = computed.group_by("org_code", "indicator_code", "period_start", "period_end").agg(
            pl.col("numerator").sum(),
            pl.col("denominator").sum()
            if "denominator" in exprs
            else pl.lit(None, dtype=pl.Float64).alias("denominator"),
            pl.col("expected").sum()
            if "expected" in exprs
            else pl.lit(None, dtype=pl.Float64).alias("expected"),
            pl.lit(None, dtype=pl.Float64).alias("value"),
            pl.col(ROW).min(),
        )
    computed = computed.with_columns(_value_expression(spec).alias("value"))
    _check_values(computed, spec, checks)
    computed = computed.with_columns(standard_error(computed, spec, checks).alias("standard_error"))
    return computed.select(OBSERVATION_COLUMNS)


def _label(spec: IndicatorSpec, name: str) -> str:
    text = spec.expressions()[name]
    columns = expression_columns(text)
    return columns[0] if len(columns) == 1 and text.strip() == columns[0] else f"{name} ({text})"


def _check_values(computed: pl.DataFrame, spec: IndicatorSpec, checks: Checker) -> None:
    exprs = spec.expressions()
    where = f" for indicator {spec.code!r}"
    # A cell is finite once read, but an expression can still divide by zero: such rows are reported once, here,
    # and not compared further (NaN would compare above every number).
    derived = [name for name in ("numerator", "denominator", "expected") if name in exprs]
    for name in derived:
        checks.add(
            computed.filter(~pl.col(name).is_finite()),
            _label(spec, name),
            pl.col(name),
            f"{name} is not a finite number (a division by zero?){where}",
        )
    if derived:
        computed = computed.filter(pl.all_horizontal([pl.col(name).is_finite() for name in derived]))
    for name in ("numerator", "denominator", "expected"):
        if name in exprs and spec.kind != IndicatorKind.MEAN:
            checks.add(
                computed.filter(pl.col(name) < 0), _label(spec, name), pl.col(name), f"negative count{where}"
            )
    if spec.kind in (IndicatorKind.PROPORTION, IndicatorKind.RATE) and "denominator" in exprs:
        checks.add(
            computed.filter(pl.col("denominator") == 0),
            _label(spec, "denominator"),
            pl.col("denominator"),
            f"denominator is zero{where}",
        )
    if spec.kind == IndicatorKind.PROPORTION and "denominator" in exprs:
        checks.add(
            computed.filter(pl.col("numerator") > pl.col("denominator")),
            _label(spec, "numerator"),
            pl.col("numerator"),
            pl.format("numerator above denominator ({})" + where, pl.col("denominator")),
        )
    if spec.kind == IndicatorKind.RATIO_OE and "expected" in exprs:
        checks.add(
            computed.filter(pl.col("expected") == 0),
            _label(spec, "expected"),
            pl.col("expected"),
            f"expected count is zero{where}",
        )
    if "value" in exprs:
        checks.add(
            computed.filter(~pl.col("value").is_finite()),
            _label(spec, "value"),
            pl.col("value"),
            f"value is not a finite number{where}",
        )


def _unknown_indicators(frame: pl.DataFrame, mapping: Mapping, checks: Checker) -> None:
    if any(not spec.where and not spec.match for spec in mapping.indicators):
        return
    matched = pl.any_horizontal([_where(spec) for spec in mapping.indicators])
    unmatched = frame.filter(~matched)
    keys = sorted({column for spec in mapping.indicators for column in (*spec.where, *spec.match)})
    description = pl.concat_str(
        [pl.format(f"{k}={{}}", pl.col(k).cast(pl.String).fill_null("(empty)")) for k in keys], separator=", "
    )
    checks.add(
        unmatched,
        keys[0],
        pl.col(keys[0]),
        pl.format("unknown indicator: no indicator in the mapping matches {}", description),
    )


def _duplicates(observations: pl.DataFrame, checks: Checker) -> None:
    key = ["org_code", "indicator_code", "period_start"]
    dup = observations.filter(pl.len().over(key) > 1)
    if dup.height == 0:
        return
    dup = dup.with_columns(pl.col(ROW).min().over(key).alias("__first"))
    checks.add(
        dup.filter(pl.col(ROW) != pl.col("__first")),
        None,
        pl.concat_str(
            ["org_code", "indicator_code", pl.col("period_start").cast(pl.String)], separator=" / "
        ),
        pl.format(
            "duplicate key: organisation {}, indicator {}, period starting {} already on row {}",
            "org_code",
            "indicator_code",
            "period_start",
            "__first",
        ),
    )


def _organisations(frame: pl.DataFrame, mapping: Mapping) -> tuple[pl.DataFrame, pl.DataFrame]:
    org = mapping.organisation
    organisations = (
        frame.select(
            pl.col("org_code"),
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
        .with_columns(pl.col("name").fill_null(pl.col("org_code")))
    )
    attribute_frames = []
    for name, column in org.attributes.items():
        kind = mapping.columns[column]
        value = pl.col(column)
        attribute_frames.append(
            frame.filter(value.is_not_null())
            .select(
                pl.col("org_code"),
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
    attributes = (
        pl.concat(attribute_frames)
        if attribute_frames
        else pl.DataFrame(
            schema={
                "org_code": pl.String,
                "name": pl.String,
                "valid_from": pl.Date,
                "value_number": pl.Float64,
                "value_text": pl.String,
            }
        )
    )
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


def _stored_lengths(frame: pl.DataFrame, mapping: Mapping, checks: Checker) -> None:
    """Cells bound for a store column of limited length (an organisation code: 64) must fit it."""
    org = mapping.organisation
    bounded: list[tuple[str, pl.Expr, object, str]] = [
        (org.code, pl.col("org_code"), Organisation.__table__.c.code, "organisation code")
    ]
    if org.parent is not None:
        bounded.append((org.parent, pl.col(org.parent), Organisation.__table__.c.code, "parent code"))
    for role in ("name", "type", "region"):
        ref = getattr(org, role)
        if isinstance(ref, str):
            bounded.append((ref, pl.col(ref), Organisation.__table__.c[role], f"organisation {role}"))
    for column in org.attributes.values():
        if mapping.columns[column] == "text":
            bounded.append(
                (column, pl.col(column), OrganisationAttribute.__table__.c.value_text, "attribute")
            )
    events = mapping.events if mapping.records == "events" else None
    if events is not None:
        if isinstance(events.kind, str):
            bounded.append((events.kind, pl.col(events.kind), Event.__table__.c.kind, "event kind"))
        if events.grade is not None:
            bounded.append((events.grade, pl.col(events.grade), Event.__table__.c.grade, "event grade"))
    for column, expr, store_column, role in bounded:
        length = _store_length(store_column)
        if length is None:
            continue
        size = expr.cast(pl.String).str.len_chars()
        checks.add(
            frame.filter(size > length),
            column,
            expr,
            pl.format(f"{role} of {{}} characters, longer than the {length} the store keeps", size),
        )


def _plausible_dates(
    frame: pl.DataFrame, date: pl.Expr, column: str, what: str, limits: Limits, checks: Checker
) -> None:
    horizon = limits.horizon
    checks.add(
        frame.filter(date > horizon),
        column,
        pl.col(column),
        f"{what} starts after {horizon.isoformat()}, more than {limits.max_future_days} days from today "
        "(FOREWARN_IMPORT_MAX_FUTURE_DAYS)",
    )
    checks.add(
        frame.filter(date < EARLIEST_DATE),
        column,
        pl.col(column),
        f"{what} starts before {EARLIEST_DATE.isoformat()}: not a plausible date",
    )


def prepare(
    table: RawTable, mapping: Mapping, report: ValidationReport, limits: Limits | None = None
) -> Prepared:
    """Validate and transform; problems go into ``report`` and the result is only usable when it stays clean."""
    limits = limits or Limits()
    checks = Checker()
    report.rows_read = table.frame.height
    frame = _typed(table, mapping, checks, limits)
    code_column = mapping.organisation.code
    frame = frame.with_columns(
        organisation_code(pl.col(code_column), mapping.organisation.case).alias("org_code")
    )
    _stored_lengths(frame, mapping, checks)
    checks.add(
        frame.filter(pl.col("org_code").is_null() | (pl.col("org_code") == "")),
        code_column,
        None,
        "missing organisation code",
    )
    frame = frame.filter(pl.col("org_code").is_not_null() & (pl.col("org_code") != ""))
    frame, skipped = _excluded(frame, mapping)

    observations = empty_observations()
    events = empty_events()
    if mapping.records == "observations":
        assert mapping.period is not None  # guaranteed by Mapping's validator
        period = mapping.period
        start, end = period_bounds(pl.col(period.column).cast(pl.String), period.format, period.frequency)
        if period.end_column is not None:
            end = parse_dates(pl.col(period.end_column).cast(pl.String), "iso")
        assert end is not None
        frame = frame.with_columns(start.alias("period_start"), end.alias("period_end"))
        unreadable = _unreadable(period.column)
        already_reported = pl.col(unreadable) if unreadable in frame.columns else pl.lit(False)
        checks.add(
            frame.filter(pl.col(period.column).is_null() & ~already_reported),
            period.column,
            None,
            "missing period",
        )
        checks.add(
            frame.filter(pl.col(period.column).is_not_null() & pl.col("period_start").is_null()),
            period.column,
            pl.col(period.column),
            f"unparseable period (expected format {period.format!r})",
        )
        checks.add(
            frame.filter(pl.col("period_end") < pl.col("period_start")),
            period.end_column or period.column,
            pl.col("period_end"),
            "period ends before it starts",
        )
        frame = frame.filter(pl.col("period_start").is_not_null() & pl.col("period_end").is_not_null())
        _plausible_dates(frame, pl.col("period_start"), period.column, "period", limits, checks)
        frame = frame.with_columns(pl.col("period_start").alias("valid_from"))
        _unknown_indicators(frame, mapping, checks)
        parts = [_indicator_rows(frame, spec, checks, skipped) for spec in mapping.indicators]
        observations = pl.concat(parts) if parts else observations
        _duplicates(observations, checks)
    elif mapping.records == "events":
        assert mapping.events is not None
        spec = mapping.events
        frame = frame.with_columns(
            parse_dates(pl.col(spec.date).cast(pl.String), spec.date_format).alias("__event_date")
        )
        unreadable_date = _unreadable(spec.date)
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
            "org_code",
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

    organisations, attributes = _organisations(frame, mapping)
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
