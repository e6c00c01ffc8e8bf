"""The recent level (:func:`forewarn.risk.levels.recent_levels`) against a derivation by hand: a rate pooled as
summed numerators over summed denominators of the last periods known at the origin, a value without them as the
mean, each indicator's levels z-scored across organisations on the side of concern, then averaged and maximised
over an organisation's indicators."""

from __future__ import annotations

import datetime as dt
import statistics

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forewarn.risk.history import StoreHistory
from forewarn.risk.levels import recent_levels

ORIGIN = dt.date(2022, 1, 1)


def _history(scramble_after: bool = False) -> StoreHistory:
    rows = []
    # Indicator 1: a rate, lower is better; organisation o has numerators (o, 2o, 3o) over denominators 10.
    for org in (1, 2, 3):
        for month, (num, den) in enumerate([(org, 10), (2 * org, 10), (3 * org, 10)], start=9):
            rows.append((org, 1, dt.date(2021, month, 1), float(num), float(den), num / den))
    # Indicator 2: a value without a denominator, higher is better.
    for org, values in ((1, [5.0, 7.0]), (2, [1.0, 1.0]), (3, [3.0, 3.0])):
        for month, value in zip((10, 11), values, strict=True):
            rows.append((org, 2, dt.date(2021, month, 1), None, None, value))
    # Known only after the origin: organisation 1's rate in January 2022 (nonsense when scrambled).
    rows.append((1, 1, dt.date(2021, 12, 1), 1000.0 if scramble_after else 0.0, 10.0, 0.0))
    frame = pl.DataFrame(
        rows,
        schema={
            "organisation_id": pl.Int64,
            "indicator_id": pl.Int64,
            "period_start": pl.Date,
            "numerator": pl.Float64,
            "denominator": pl.Float64,
            "value": pl.Float64,
        },
        orient="row",
    ).with_columns(
        (pl.col("period_start").dt.offset_by("1mo").dt.offset_by("-1d")).alias("period_end"),
    )
    known = frame.with_columns(
        pl.when((pl.col("indicator_id") == 1) & (pl.col("period_start") == dt.date(2021, 12, 1)))
        .then(pl.lit(dt.date(2022, 2, 1)))
        .otherwise(pl.col("period_end") + dt.timedelta(days=10))
        .alias("known_on")
    ).sort("indicator_id", "organisation_id", "period_start")
    indicators = pl.DataFrame(
        {"indicator_id": [1, 2], "code": ["a", "b"], "polarity": ["lower_is_better", "higher_is_better"]}
    )
    empty = pl.DataFrame()
    return StoreHistory(known, indicators, empty, empty, empty, empty)


def _z(levels: dict[int, float], sign: float) -> dict[int, float]:
    mean, sd = statistics.mean(levels.values()), statistics.stdev(levels.values())
    return {org: sign * (level - mean) / sd for org, level in levels.items()}


@pytest.mark.parametrize("periods", [2, 12])
def test_levels_match_the_derivation(periods: int) -> None:
    got = {r["organisation_id"]: r for r in recent_levels(_history(), ORIGIN, periods).iter_rows(named=True)}
    # Rate: the last `periods` of (o, 2o, 3o) / 10 each (December is not known yet): pooled sums.
    taken = [1, 2, 3][-periods:]
    rate = {org: sum(k * org for k in taken) / (10 * len(taken)) for org in (1, 2, 3)}
    value = {1: statistics.mean([5.0, 7.0]), 2: 1.0, 3: 3.0}
    z_rate, z_value = _z(rate, 1.0), _z(value, -1.0)  # lower is better: high is concern; higher: low is
    for org in (1, 2, 3):
        assert got[org]["level_z_mean"] == pytest.approx((z_rate[org] + z_value[org]) / 2, rel=1e-12)
        assert got[org]["level_z_worst"] == pytest.approx(max(z_rate[org], z_value[org]), rel=1e-12)


def test_nothing_published_after_the_origin_is_read() -> None:
    before = recent_levels(_history(), ORIGIN).sort("organisation_id")
    after = recent_levels(_history(scramble_after=True), ORIGIN).sort("organisation_id")
    assert_frame_equal(before, after, check_exact=False, rel_tol=1e-12)  # sums in any order
    later = recent_levels(_history(scramble_after=True), dt.date(2022, 3, 1)).sort("organisation_id")
    assert later.filter(pl.col("organisation_id") == 1)["level_z_worst"].item() > 1.0  # read once known
