"""Observations as panels: one row per organisation x indicator series, one column per period of that indicator.

All series of all indicators share one array (padded with NaN), so each statistical method runs once over the
whole store instead of once per series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.stats.arrays import FloatArray, IntArray

OBSERVATION_SCHEMA = {
    "organisation_id": pl.Int64,
    "indicator_id": pl.Int64,
    "period_start": pl.Date,
    "numerator": pl.Float64,
    "denominator": pl.Float64,
    "value": pl.Float64,
    "expected": pl.Float64,
    "standard_error": pl.Float64,
}
INDICATOR_SCHEMA = {
    "indicator_id": pl.Int64,
    "code": pl.String,
    "kind": pl.String,
    "polarity": pl.String,
    "target": pl.Float64,
}


@dataclass(frozen=True)
class Panel:
    """Series x time arrays for every organisation x indicator, with each indicator's own period axis."""

    organisation_id: IntArray  # (series,)
    indicator_id: IntArray  # (series,)
    indicator_index: IntArray  # (series,) position in ``indicators``
    n_points: IntArray  # (series,) observed points
    value: FloatArray  # (series, time)
    numerator: FloatArray
    denominator: FloatArray
    expected: FloatArray
    standard_error: FloatArray  # (series, time) the value's standard error, NaN where the source gives none
    period: NDArray[np.datetime64]  # (series, time) period start, NaT where padded
    indicators: pl.DataFrame  # indicator_id, code, kind, polarity, target; row i = indicator_index i
    fingerprint: IntArray  # (series,) hash of each series' data (order-free: a sum of row hashes)

    @property
    def n_series(self) -> int:
        return int(self.organisation_id.shape[0])

    @property
    def last_index(self) -> IntArray:
        """Time index of each series' last observed point."""
        observed = ~np.isnan(self.value)
        width = observed.shape[1]
        if width == 0:  # an empty store: no series, no periods
            return np.zeros(observed.shape[0], dtype=np.int64)
        return np.asarray(width - 1 - np.argmax(observed[:, ::-1], axis=1), dtype=np.int64)


def build_panel(observations: pl.DataFrame, indicators: pl.DataFrame) -> Panel:
    """Arrange long observations (one row per organisation, indicator and period) into a :class:`Panel`.

    Each indicator's periods are ranked on their own axis (a monthly and an annual indicator both start at
    column 0); an organisation missing a period has NaN there, so time stays aligned across organisations.
    """
    indicators = indicators.sort("indicator_id").with_row_index("indicator_index")
    frame = (
        observations.join(
            indicators.select("indicator_id", "indicator_index"), on="indicator_id", how="inner"
        )
        .with_columns(
            pl.col("period_start").rank("dense").over("indicator_id").cast(pl.Int64).sub(1).alias("t"),
        )
        .sort("indicator_index", "organisation_id", "period_start")
        .with_columns(
            pl.struct("indicator_index", "organisation_id").rank("dense").cast(pl.Int64).sub(1).alias("s")
        )
    )
    n_series = int(frame["s"].to_numpy().max()) + 1 if frame.height else 0
    width = int(frame["t"].to_numpy().max()) + 1 if frame.height else 0
    s = frame["s"].to_numpy()
    t = frame["t"].to_numpy()

    def grid(column: str) -> FloatArray:
        out = np.full((n_series, width), np.nan)
        out[s, t] = frame[column].fill_null(np.nan).to_numpy()
        return out

    period = np.full((n_series, width), np.datetime64("NaT"), dtype="datetime64[D]")
    period[s, t] = frame["period_start"].to_numpy().astype("datetime64[D]")
    heads = frame.group_by("s", maintain_order=True).agg(
        pl.col("organisation_id").first(),
        pl.col("indicator_id").first(),
        pl.col("indicator_index").first(),
        pl.len().alias("n"),
        (
            pl.struct("period_start", "numerator", "denominator", "value", "expected").hash()
            # Standard errors count only where there are some, so series without any keep their fingerprints.
            + pl.when(pl.col("standard_error").is_not_null())
            .then(pl.struct("period_start", "standard_error").hash())
            .otherwise(0)
        )
        .sum()
        .alias("fingerprint"),
    )
    return Panel(
        organisation_id=heads["organisation_id"].to_numpy().astype(np.int64),
        indicator_id=heads["indicator_id"].to_numpy().astype(np.int64),
        indicator_index=heads["indicator_index"].to_numpy().astype(np.int64),
        n_points=heads["n"].to_numpy().astype(np.int64),
        value=grid("value"),
        numerator=grid("numerator"),
        denominator=grid("denominator"),
        expected=grid("expected"),
        standard_error=grid("standard_error"),
        period=period,
        indicators=indicators.drop("indicator_index"),
        # Fingerprints are stored in a signed 64-bit column.
        fingerprint=(heads["fingerprint"].to_numpy().astype(np.uint64) >> np.uint64(1)).astype(np.int64),
    )
