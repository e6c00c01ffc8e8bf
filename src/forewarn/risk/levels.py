"""Each organisation's recent level: its indicators pooled over the last periods known at the origin.

The surveillance features read an indicator's latest point (funnel z, SPC, the naive z of the latest value) and
its recent trend. A single period is noisy beside the organisation's lasting performance, which is what an
inspection judges: pooling the last ``periods`` periods (the ratio of summed numerators to summed denominators
for a rate, the mean value otherwise) is the level a control chart's centre line or a rolling average shows,
with the sampling noise of one period averaged out (Mohammed, Cheng, Rouse & Marshall 2001, "Bristol, Shipman,
and clinical governance: Shewhart's forgotten lessons", Lancet 357, 463-467: judge the process over time, not
the latest point). Each indicator's level is put on the scale of its spread between organisations, on the side
of concern, and averaged over the organisation's indicators (``level_z_mean``) with its worst (``level_z_worst``).

Point in time: only observations known at the origin (``known_on <= origin``) are read.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from forewarn.domain import concern_side_expr
from forewarn.risk.history import StoreHistory

LEVEL_PERIODS = 12
_BATCH_ROWS = 1_000_000  # whole indicators a batch, as the features read them


def recent_levels(history: StoreHistory, origin: dt.date, periods: int = LEVEL_PERIODS) -> pl.DataFrame:
    """``organisation_id``, ``level_z_mean`` and ``level_z_worst`` at ``origin`` (organisations with data)."""
    sign = history.indicators.select("indicator_id", concern_side_expr(pl.col("polarity")).alias("sign"))
    parts = []
    for observations in history.observation_batches(origin, _BATCH_ROWS):  # batches of whole indicators
        recent = (
            observations.filter(pl.col("known_on") <= origin)
            .select("organisation_id", "indicator_id", "period_start", "numerator", "denominator", "value")
            .sort("period_start")
            .group_by("organisation_id", "indicator_id")
            .tail(periods)
        )
        if recent.is_empty():
            continue
        pooled = recent.group_by("organisation_id", "indicator_id").agg(
            pl.when(pl.col("numerator").is_not_null().all() & (pl.col("denominator").sum() > 0))
            .then(pl.col("numerator").sum() / pl.col("denominator").sum())
            .otherwise(pl.col("value").mean())
            .alias("level")
        )
        parts.append(pooled)
    if not parts:
        return pl.DataFrame(schema={"organisation_id": pl.Int64})
    levels = (
        pl.concat(parts)
        .with_columns(pl.col("level").fill_nan(None))
        .join(sign, on="indicator_id")
        .with_columns(
            (
                pl.col("sign")
                * (pl.col("level") - pl.col("level").mean().over("indicator_id"))
                / pl.col("level").std().over("indicator_id")
            ).alias("level_z")
        )
        .with_columns(pl.col("level_z").fill_nan(None))
    )
    by_organisation: pl.DataFrame = levels.group_by("organisation_id").agg(
        pl.col("level_z").mean().alias("level_z_mean"), pl.col("level_z").max().alias("level_z_worst")
    )
    return by_organisation


__all__ = ["LEVEL_PERIODS", "recent_levels"]
