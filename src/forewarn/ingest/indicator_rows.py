"""From checked rows to each indicator's observations: which rows an indicator reads, its numbers, their checks,
and the duplicate keys across all of them.

Every check is a :class:`~forewarn.ingest.checks.Rule` over a whole frame, applied by
:meth:`~forewarn.ingest.checks.Checker.check` (one pass for all the rules of a frame; only a rule that holds
somewhere filters the frame for its rows), so a clean file is not copied once per check.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from forewarn.ingest.checks import Checker, Rule, keep
from forewarn.ingest.columns import is_dictionary, unreadable
from forewarn.ingest.expressions import compile_expression, expression_columns
from forewarn.ingest.mapping import IndicatorSpec, Mapping
from forewarn.ingest.readers import ROW
from forewarn.ingest.uncertainty import standard_error
from forewarn.store.models import IndicatorKind

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
KEY = ["org_code", "indicator_code", "period_start"]


def where(spec: IndicatorSpec, schema: pl.Schema) -> pl.Expr:
    """The rows ``spec`` reads: its ``where`` values and ``match`` patterns, compared as text.

    A text column (String, or dictionary-encoded) is compared as it is; a column of another type through its
    text."""
    condition = pl.lit(True)
    for column, wanted in spec.where.items():
        values = [wanted] if isinstance(wanted, str) else wanted
        text = pl.col(column)
        if not (schema[column] == pl.String or is_dictionary(schema[column])):
            text = text.cast(pl.String)
        condition = condition & text.is_in(values)
    for column, pattern in spec.match.items():
        condition = condition & pl.col(column).cast(pl.String).str.contains(pattern).fill_null(False)
    return condition


def needed_columns(mapping: Mapping) -> list[str]:
    """The columns (and unreadable flags) the indicators read, beside the key: selected before the rows are
    split by indicator, so the split copies only those."""
    return sorted(set().union(*(spec_columns(spec) for spec in mapping.indicators), KEY_COLUMNS))


KEY_COLUMNS = {"org_code", "period_start", "period_end", ROW}


def spec_columns(spec: IndicatorSpec) -> set[str]:
    """The columns (and unreadable flags) one indicator reads, beside the key (:data:`KEY_COLUMNS`)."""
    inputs = {c for text in spec.expressions().values() for c in expression_columns(text)}
    inputs |= set(spec.uncertainty_columns().values())
    return inputs | {unreadable(c) for c in inputs} | set(spec.where) | set(spec.match)


def _value_expression(spec: IndicatorSpec) -> pl.Expr:
    if spec.value is not None and spec.aggregate == "none":
        return pl.col("value")
    if spec.kind in (IndicatorKind.PROPORTION, IndicatorKind.RATE):
        return pl.col("numerator") / pl.col("denominator") * spec.multiplier
    if spec.kind == IndicatorKind.RATIO_OE:
        return pl.col("numerator") / pl.col("expected")
    return pl.col("numerator")


def indicator_rows(
    frame: pl.DataFrame, spec: IndicatorSpec, checks: Checker, skipped: dict[str, int]
) -> pl.DataFrame:
    """The observations of ``spec`` from the rows it reads, its problems into ``checks``."""
    rows = frame.filter(where(spec, frame.schema))
    exprs = spec.expressions()
    inputs = sorted({c for text in exprs.values() for c in expression_columns(text)})
    if inputs:
        rows = keep(rows, ~pl.any_horizontal([pl.col(unreadable(c)) for c in inputs]))
    missing = pl.any_horizontal([pl.col(c).is_null() for c in inputs]) if inputs else pl.lit(False)
    if spec.on_missing_value == "skip":
        count = int(rows.select(missing.sum()).item()) if inputs and rows.height else 0
        if count:
            skipped[f"indicator {spec.code}: value missing in the file (skipped as the mapping asks)"] = count
    else:
        checks.check(
            rows,
            [
                Rule(pl.col(column).is_null(), column, None, f"missing value for indicator {spec.code!r}")
                for column in inputs
            ],
        )
    if inputs:
        rows = keep(rows, ~missing)
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
        pl.any_horizontal([pl.col(unreadable(c)) for c in uncertainty.values()])
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
    where_ = f" for indicator {spec.code!r}"
    # A cell is finite once read, but an expression can still divide by zero: such rows are reported once, here,
    # and not compared further (NaN would compare above every number).
    derived = [name for name in ("numerator", "denominator", "expected") if name in exprs]
    checks.check(
        computed,
        [
            Rule(
                ~pl.col(name).is_finite(),
                _label(spec, name),
                pl.col(name),
                f"{name} is not a finite number (a division by zero?){where_}",
            )
            for name in derived
        ],
    )
    if derived:
        computed = keep(computed, pl.all_horizontal([pl.col(name).is_finite() for name in derived]))
    rules = [
        Rule(pl.col(name) < 0, _label(spec, name), pl.col(name), f"negative count{where_}")
        for name in ("numerator", "denominator", "expected")
        if name in exprs and spec.kind != IndicatorKind.MEAN
    ]
    if spec.kind in (IndicatorKind.PROPORTION, IndicatorKind.RATE) and "denominator" in exprs:
        rules.append(
            Rule(
                pl.col("denominator") == 0,
                _label(spec, "denominator"),
                pl.col("denominator"),
                f"denominator is zero{where_}",
            )
        )
    if spec.kind == IndicatorKind.PROPORTION and "denominator" in exprs:
        rules.append(
            Rule(
                pl.col("numerator") > pl.col("denominator"),
                _label(spec, "numerator"),
                pl.col("numerator"),
                pl.format("numerator above denominator ({})" + where_, pl.col("denominator")),
            )
        )
    if spec.kind == IndicatorKind.RATIO_OE and "expected" in exprs:
        rules.append(
            Rule(
                pl.col("expected") == 0,
                _label(spec, "expected"),
                pl.col("expected"),
                f"expected count is zero{where_}",
            )
        )
    if "value" in exprs:
        rules.append(
            Rule(
                ~pl.col("value").is_finite(),
                _label(spec, "value"),
                pl.col("value"),
                f"value is not a finite number{where_}",
            )
        )
    checks.check(computed, rules)


def unknown_indicators(frame: pl.DataFrame, mapping: Mapping, checks: Checker) -> None:
    if any(not spec.where and not spec.match for spec in mapping.indicators):
        return
    matched = pl.any_horizontal([where(spec, frame.schema) for spec in mapping.indicators])
    keys = sorted({column for spec in mapping.indicators for column in (*spec.where, *spec.match)})
    description = pl.concat_str(
        [pl.format(f"{k}={{}}", pl.col(k).cast(pl.String).fill_null("(empty)")) for k in keys], separator=", "
    )
    checks.check(
        frame,
        [
            Rule(
                ~matched,
                keys[0],
                pl.col(keys[0]),
                pl.format("unknown indicator: no indicator in the mapping matches {}", description),
            )
        ],
    )


def _all_keys_distinct(observations: pl.DataFrame, heights: list[int]) -> bool:
    """True when no two observations share organisation, indicator and period start, decided on one 64-bit
    number a key (the organisation's dictionary code, the indicator's place in the mapping, the day): one count
    of distinct numbers instead of a hash of two texts and a date per row. False when that cannot be decided so
    (organisation codes that are not dictionary-encoded, too many indicators, a span of dates too wide): the
    caller then looks for duplicates the general way.

    ``heights``: the rows of each indicator, in the order the observations were concatenated (indicator codes
    are distinct in a mapping)."""
    if not is_dictionary(observations.schema["org_code"]) or len(heights) >= 2**12:
        return False
    days = observations["period_start"].to_physical()
    first, last = days.min(), days.max()
    if not isinstance(first, int) or not isinstance(last, int) or last - first >= 2**20:
        return False
    indicator = pl.Series(np.repeat(np.arange(len(heights), dtype=np.uint64), heights))
    key = (
        observations["org_code"].to_physical().cast(pl.UInt64) * (2**32)
        + indicator * (2**20)
        + (days - first).cast(pl.UInt64)
    )
    return key.n_unique() == observations.height


def duplicates(observations: pl.DataFrame, heights: list[int], checks: Checker) -> None:
    """Report every observation whose key (organisation, indicator, period start) an earlier row already has.

    ``heights``: as :func:`_all_keys_distinct` takes them."""
    if observations.height < 2 or _all_keys_distinct(observations, heights):
        return
    dup = observations.filter(pl.len().over(KEY) > 1)
    if dup.height == 0:
        return
    dup = dup.with_columns(pl.col("org_code").cast(pl.String), pl.col(ROW).min().over(KEY).alias("__first"))
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
