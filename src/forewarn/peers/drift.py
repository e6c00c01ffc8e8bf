"""When a leading signal drifts: the one rule that says an organisation should look for whom to learn from *now*,
before any failure (issue 13, "advice that arrives early"). Read from what is stored, never recomputed:

- **SPC shift or trend** (Making Data Count; NHS England 2019): the latest point of the organisation's XmR chart
  in the latest scan carries a shift ("7 Points Below CL") or trend ("7 Point Trend (Decreasing)") signal on the side of concern (``signals``,
  ``direction = 'concern'``, at the series' last period). A point beyond the process limits is not a *drift*:
  it is already special cause, and the scan's pages show it;
- **trend test** (series too short for SPC, e.g. annual indicators): the scan's least-squares slope is on the
  side of concern with ``p < TREND_P`` (``series_status.trend_slope``, ``trend_p``);
- **CUSUM rising towards its threshold** (Page 1954; the scan's own-baseline CUSUM): the statistic at the latest
  point is at least ``CUSUM_SHARE`` (three quarters) of the indicator's threshold ``h`` (the latest scan's ``cusum_indicators``
  figures), or a current alarm;
- **a falling soft measure**: in an organisation's two latest published waves, a dimension's mean fell and the
  difference's 95% interval (normal, each mean's standard error taken from its published 95% interval) lies
  wholly below 0;
- **a rising risk score**: the two latest stored scores of the latest risk model (``risk_scores``) for the
  organisation, the later one's interval wholly above the earlier probability.

Each is a column expression over every row at once (Polars): the digest reads every organisation with the same
code as the organisation page reads one. Indicator-level drifts name their indicator; organisation-level ones
(soft, risk) point at the organisation's indicators on which it sits furthest on the side of concern in the
scan's funnel (``funnel_z`` times the concern side, positive), at most ``WORST_INDICATORS`` of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import Connection, Select, func, select

from forewarn.domain import concern_side_expr
from forewarn.store.models import Indicator
from forewarn.store.models_risk import RiskScore
from forewarn.store.models_surveillance import ScanRun, SeriesStatus
from forewarn.store.signals import current_signals

TREND_P = 0.05
"""Significance of the trend test's slope for short series."""
CUSUM_SHARE = 0.75
"""A CUSUM at three quarters of its threshold or more is "rising towards it". Chosen on the simulator's
point-in-time replay (bench/peers_digest_replay.py, docs/peers.md): at half the threshold 60% to 83% of
organisations drift at any date, a prompt that reaches nearly everyone; at three quarters 25% to 62%, at the
threshold itself (a current alarm) 14% to 46%, with no clear gain in how much more often future failures drift."""
WORST_INDICATORS = 3
SHIFT_LABELS = ".* Points .*CL"
TREND_LABELS = ".* Point Trend .*"
"""Patterns (regular expressions) of the scan's shift and trend labels (:func:`forewarn.stats.spc.special_cause_type_labels`:
"7 Points Above CL", "7 Point Trend (Increasing)"), whatever the rule lengths."""
Z95 = 1.959963984540054

DRIFT_SCHEMA = {
    "organisation_id": pl.Int64,
    "indicator_id": pl.Int64,
    "code": pl.String,
    "name": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}
REASONS = {
    "spc_shift": "a run of points on the side of concern (SPC shift)",
    "spc_trend": "points moving steadily towards concern (SPC trend)",
    "trend": "a significant trend towards concern over the recent years",
    "cusum": "the CUSUM is rising towards its alarm threshold",
    "cusum_alarm": "a current CUSUM alarm",
    "soft": "a soft measure fell in the latest survey",
    "risk": "the risk score rose",
}


@dataclass(frozen=True)
class SoftWave:
    """One organisation's published results on one soft-measure dimension in one wave (the caller reads them: the
    survey service suppresses groups under the minimum size before they get here)."""

    organisation_id: int
    dimension: str
    order: int  # larger is later
    mean: float
    lower: float
    upper: float


Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")


def _restrict(query: Query, column: Any, organisation_ids: Sequence[int] | None) -> Query:
    return query if organisation_ids is None else query.where(column.in_([int(i) for i in organisation_ids]))


def _cusum_thresholds(conn: Connection) -> pl.DataFrame:
    summary = conn.execute(select(ScanRun.summary).order_by(ScanRun.id.desc()).limit(1)).scalar()
    figures = summary.get("cusum_indicators", {}) if isinstance(summary, dict) else {}
    rows = [
        (str(code), float(f["h"]))
        for code, f in (figures.items() if isinstance(figures, dict) else [])
        if isinstance(f, dict) and isinstance(f.get("h"), int | float)
    ]
    return pl.DataFrame(rows, schema={"code": pl.String, "h": pl.Float64}, orient="row")


def indicator_drifts(conn: Connection, organisation_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Every (organisation, indicator) whose stored scan shows a drift towards concern, one row per reason."""
    status_q = _restrict(
        select(
            SeriesStatus.organisation_id,
            SeriesStatus.indicator_id,
            Indicator.code,
            Indicator.name,
            Indicator.polarity,
            SeriesStatus.last_period,
            SeriesStatus.cusum_value,
            SeriesStatus.cusum_current,
            SeriesStatus.trend_slope,
            SeriesStatus.trend_p,
        ).join(Indicator, Indicator.id == SeriesStatus.indicator_id),
        SeriesStatus.organisation_id,
        organisation_ids,
    )
    status = pl.DataFrame(
        [tuple(r) for r in conn.execute(status_q)],
        schema={
            "organisation_id": pl.Int64,
            "indicator_id": pl.Int64,
            "code": pl.String,
            "name": pl.String,
            "polarity": pl.String,
            "last_period": pl.Date,
            "cusum_value": pl.Float64,
            "cusum_current": pl.Int64,
            "trend_slope": pl.Float64,
            "trend_p": pl.Float64,
        },
        orient="row",
    )
    shift_or_trend = f"^{SHIFT_LABELS}$|^{TREND_LABELS}$"
    signals = (
        current_signals(conn, None if organisation_ids is None else [int(i) for i in organisation_ids])
        .filter(
            (pl.col("method") == "spc")
            & (pl.col("direction") == "concern")
            & pl.col("rule").str.contains(shift_or_trend)
        )
        .select("organisation_id", "indicator_id", "rule", pl.col("period_start").alias("period"))
    )
    return drifts_of(status, signals, _cusum_thresholds(conn))


def drifts_of(status: pl.DataFrame, signals: pl.DataFrame, thresholds: pl.DataFrame) -> pl.DataFrame:
    """The rule over frames: ``status`` (series_status with the indicator's code, name and polarity), the SPC
    concern signals of shifts and trends, and each indicator's CUSUM threshold ``h``."""
    keys = ["organisation_id", "indicator_id", "code", "name"]
    spc = (
        status.join(
            signals,
            left_on=["organisation_id", "indicator_id", "last_period"],
            right_on=["organisation_id", "indicator_id", "period"],
        )
        .with_columns(
            pl.when(pl.col("rule").str.contains(" Points "))
            .then(pl.lit("spc_shift"))
            .otherwise(pl.lit("spc_trend"))
            .alias("reason"),
            pl.format("since the latest point ({})", pl.col("last_period")).alias("detail"),
        )
        .select(*keys, "reason", "detail")
    )
    side = concern_side_expr(pl.col("polarity"))
    trend = status.filter((pl.col("trend_p") < TREND_P) & ((pl.col("trend_slope") * side) > 0)).select(
        *keys,
        pl.lit("trend").alias("reason"),
        pl.format("p = {}", pl.col("trend_p").round(3)).alias("detail"),
    )
    with_h = status.join(thresholds, on="code", how="inner")
    cusum = with_h.filter(
        (pl.col("cusum_current") == 1) | (pl.col("cusum_value") >= CUSUM_SHARE * pl.col("h"))
    ).select(
        *keys,
        pl.when(pl.col("cusum_current") == 1)
        .then(pl.lit("cusum_alarm"))
        .otherwise(pl.lit("cusum"))
        .alias("reason"),
        pl.format("statistic {} of threshold {}", pl.col("cusum_value").round(2), pl.col("h").round(2)).alias(
            "detail"
        ),
    )
    out = pl.concat([spc, trend, cusum], how="vertical_relaxed").unique([*keys, "reason"])
    return out.cast(DRIFT_SCHEMA).sort("organisation_id", "code", "reason")  # type: ignore[arg-type]


def risk_drifts(conn: Connection, organisation_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Organisations whose two latest scores from the latest risk model rose beyond the earlier score: the later
    interval's lower end above the earlier probability. Columns: organisation_id, as_of, previous, probability."""
    latest_model = select(func.max(RiskScore.model_id)).scalar_subquery()
    query = _restrict(
        select(RiskScore.organisation_id, RiskScore.as_of, RiskScore.probability, RiskScore.lower).where(
            RiskScore.model_id == latest_model
        ),
        RiskScore.organisation_id,
        organisation_ids,
    )
    scores = pl.DataFrame(
        [tuple(r) for r in conn.execute(query)],
        schema={
            "organisation_id": pl.Int64,
            "as_of": pl.Date,
            "probability": pl.Float64,
            "lower": pl.Float64,
        },
        orient="row",
    )
    return rising_scores(scores)


def rising_scores(scores: pl.DataFrame) -> pl.DataFrame:
    """The rule over a frame of scores (organisation_id, as_of, probability, lower)."""
    last_two = (
        scores.sort("organisation_id", "as_of")
        .with_columns(pl.col("probability").shift(1).over("organisation_id").alias("previous"))
        .group_by("organisation_id")
        .last()
    )
    return last_two.filter(pl.col("lower") > pl.col("previous")).select(
        "organisation_id", "as_of", "previous", "probability"
    )


def soft_drifts(waves: Sequence[SoftWave]) -> pl.DataFrame:
    """Organisations with a dimension whose mean fell between their two latest waves beyond chance: the
    difference's 95% interval (standard errors from each published interval, half-width / 1.96) wholly below 0.
    Columns: organisation_id, dimension, previous, mean."""
    frame = pl.DataFrame(
        [(w.organisation_id, w.dimension, w.order, w.mean, w.lower, w.upper) for w in waves],
        schema={
            "organisation_id": pl.Int64,
            "dimension": pl.String,
            "order": pl.Int64,
            "mean": pl.Float64,
            "lower": pl.Float64,
            "upper": pl.Float64,
        },
        orient="row",
    )
    se = (pl.col("upper") - pl.col("lower")) / (2 * Z95)
    paired = (
        frame.with_columns(se.alias("se"))
        .sort("organisation_id", "dimension", "order")
        .with_columns(
            pl.col("mean").shift(1).over("organisation_id", "dimension").alias("previous"),
            pl.col("se").shift(1).over("organisation_id", "dimension").alias("previous_se"),
        )
        .group_by("organisation_id", "dimension")
        .last()
    )
    upper = (pl.col("mean") - pl.col("previous")) + Z95 * (
        pl.col("se") ** 2 + pl.col("previous_se") ** 2
    ).sqrt()
    return (
        paired.filter(upper < 0)
        .select("organisation_id", "dimension", "previous", "mean")
        .sort("organisation_id", "dimension")
    )


def worst_indicators(
    conn: Connection, organisation_ids: Sequence[int], limit: int = WORST_INDICATORS
) -> pl.DataFrame:
    """Each organisation's indicators furthest on the side of concern in the scan's funnel (at most ``limit``,
    positive concern z only): where an organisation-level drift sends it to learn. Columns as the drifts'."""
    query = select(
        SeriesStatus.organisation_id,
        SeriesStatus.indicator_id,
        Indicator.code,
        Indicator.name,
        Indicator.polarity,
        SeriesStatus.funnel_z,
    ).join(Indicator, Indicator.id == SeriesStatus.indicator_id)
    rows = conn.execute(_restrict(query, SeriesStatus.organisation_id, organisation_ids))
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "organisation_id": pl.Int64,
            "indicator_id": pl.Int64,
            "code": pl.String,
            "name": pl.String,
            "polarity": pl.String,
            "funnel_z": pl.Float64,
        },
        orient="row",
    )
    return (
        frame.with_columns((pl.col("funnel_z") * concern_side_expr(pl.col("polarity"))).alias("concern_z"))
        .filter(pl.col("concern_z") > 0)
        .sort("concern_z", descending=True)
        .group_by("organisation_id", maintain_order=True)
        .head(limit)
        .select("organisation_id", "indicator_id", "code", "name")
    )


__all__ = [
    "CUSUM_SHARE",
    "DRIFT_SCHEMA",
    "REASONS",
    "TREND_P",
    "SoftWave",
    "drifts_of",
    "indicator_drifts",
    "rising_scores",
    "risk_drifts",
    "soft_drifts",
    "worst_indicators",
]
