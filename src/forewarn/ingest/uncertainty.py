"""A row's standard error: from its own column, or from its confidence limits (natural or log scale), with the
limits checked on the way."""

from __future__ import annotations

from statistics import NormalDist

import polars as pl

from forewarn.ingest.checks import Checker
from forewarn.ingest.mapping import IndicatorSpec

# A value may lie outside its published confidence interval by rounding alone (value and limits are rounded
# separately): by up to 1% of the interval's width, or one part in a million of the numbers' size when the
# interval is (nearly) a point. Further out, a column is misnamed or shifted, and the row is reported.
CI_TOLERANCE_OF_WIDTH = 0.01
CI_TOLERANCE_RELATIVE = 1e-6


def z_for_level(level: float) -> float:
    """The standard normal quantile that a two-sided interval of confidence ``level`` (a fraction) spans.

    >>> round(z_for_level(0.95), 6), round(z_for_level(0.90), 6)
    (1.959964, 1.644854)
    """
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def standard_error(computed: pl.DataFrame, spec: IndicatorSpec, checks: Checker) -> pl.Expr:
    """Each row's standard error, from its own column or from its confidence limits, checking them on the way.

    A row without a standard error (or without both limits) has none: a missing interval is not an error. From a
    normal interval on the natural scale, ``se = (upper - lower) / (2 z)``; from one symmetric on the log scale
    (ratios), ``se(log value) = (ln upper - ln lower) / (2 z)`` and, by the delta method, ``se = value x that``.
    """
    if not spec.uncertainty_columns():
        return pl.lit(None, dtype=pl.Float64)
    where = f" for indicator {spec.code!r}"
    # Cells that are not numbers were reported already; they are not reported again as missing limits.
    readable = computed.filter(~pl.col("__uncertainty_unreadable"))
    if spec.standard_error is not None:
        se = pl.col("__standard_error")
        checks.add(
            readable.filter(~se.is_finite()),
            spec.standard_error,
            se,
            f"standard error is not a finite number{where}",
        )
        checks.add(readable.filter(se < 0), spec.standard_error, se, f"negative standard error{where}")
        return se
    if spec.lower is None or spec.upper is None:
        return pl.lit(None, dtype=pl.Float64)
    lower, upper, value = pl.col("__lower"), pl.col("__upper"), pl.col("value")
    limits = (("lower", lower, upper, spec.lower), ("upper", upper, lower, spec.upper))
    for which, this, other, name in limits:
        checks.add(
            readable.filter(this.is_null() & other.is_not_null()),
            name,
            None,
            f"{which} confidence limit missing (the other is given){where}",
        )
        checks.add(
            readable.filter(~this.is_finite()), name, this, f"confidence limit is not a finite number{where}"
        )
    finite = lower.is_finite() & upper.is_finite()
    checks.add(
        readable.filter(finite & (lower > upper)),
        spec.lower,
        lower,
        pl.format("lower confidence limit above the upper ({})" + where, upper),
    )
    ordered = readable.filter(finite & (lower <= upper) & value.is_finite())
    tolerance = pl.max_horizontal(
        CI_TOLERANCE_OF_WIDTH * (upper - lower),
        CI_TOLERANCE_RELATIVE * pl.max_horizontal(lower.abs(), upper.abs(), value.abs()),
    )
    checks.add(
        ordered.filter(value < lower - tolerance),
        spec.lower,
        lower,
        pl.format("value {} lies below its lower confidence limit, beyond rounding" + where, value),
    )
    checks.add(
        ordered.filter(value > upper + tolerance),
        spec.upper,
        upper,
        pl.format("value {} lies above its upper confidence limit, beyond rounding" + where, value),
    )
    z = z_for_level(spec.confidence_level)
    if spec.ci_scale == "log":
        for _which, this, _other, name in limits:
            checks.add(
                readable.filter(this <= 0),
                name,
                this,
                f"confidence limit is not above zero, as a log-scale interval (ci_scale: log) needs{where}",
            )
        return pl.when(lower > 0).then(value * (upper.log() - lower.log()) / (2 * z))
    return (upper - lower) / (2 * z)
