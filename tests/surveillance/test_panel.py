"""``build_panel`` lays long observations out as the padded panel: the same panel, fingerprints included, as the
plain Polars formulation it replaced (join, per-indicator dense rank of periods, sort, dense rank of series; kept
here as the reference), whatever the rows' order, gaps, nulls, id ranges and indicators outside the list."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from forewarn.surveillance import panel as panel_module
from forewarn.surveillance.panel import OBSERVATION_SCHEMA, Panel, build_panel


def _reference(observations: pl.DataFrame, indicators: pl.DataFrame) -> Panel:
    """The formulation before issue 17's memory work (commit e12e401), verbatim in its steps."""
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

    def grid(column: str) -> np.ndarray:
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
        fingerprint=(heads["fingerprint"].to_numpy().astype(np.uint64) >> np.uint64(1)).astype(np.int64),
    )


def _observations(seed: int, organisation_ids: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three indicators (monthly, monthly from a later start, annual) and one unknown; 10% of rows missing,
    nulls in every value column, standard errors on one indicator; rows shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for indicator, periods in (
        (7, [dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(30)]),
        (3, [dt.date(2021 + m // 12, m % 12 + 1, 1) for m in range(18)]),
        (12, [dt.date(y, 4, 1) for y in range(2012, 2024)]),
        (99, [dt.date(2020, 1, 1)]),
    ):
        for org in organisation_ids:
            for period in periods:
                if rng.random() < 0.1:
                    continue
                value = [None if rng.random() < 0.05 else float(rng.normal(50, 10)) for _ in range(4)]
                se = float(rng.uniform(1, 2)) if indicator == 3 and rng.random() < 0.8 else None
                rows.append((int(org), indicator, period, *value, se))
    frame = pl.DataFrame(rows, schema=OBSERVATION_SCHEMA, orient="row").sample(
        fraction=1.0, shuffle=True, seed=seed
    )
    indicators = pl.DataFrame(
        {
            "indicator_id": [12, 3, 7],
            "code": ["annual", "late", "monthly"],
            "kind": ["mean"] * 3,
            "polarity": ["neutral"] * 3,
            "target": [None, 1.0, None],
        },
        schema={
            "indicator_id": pl.Int64,
            "code": pl.String,
            "kind": pl.String,
            "polarity": pl.String,
            "target": pl.Float64,
        },
    )
    return frame, indicators


def _assert_same(got: Panel, want: Panel) -> None:
    for name in ("organisation_id", "indicator_id", "indicator_index", "n_points", "fingerprint"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        assert getattr(got, name).dtype == np.int64, name
    for name in ("value", "numerator", "denominator", "expected", "standard_error"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape and a.dtype == b.dtype == np.float64
        assert a.tobytes() == b.tobytes(), name  # to the bit, NaN padding included
    assert got.period.dtype == want.period.dtype and got.period.tobytes() == want.period.tobytes()
    assert got.indicators.equals(want.indicators)


@pytest.mark.parametrize(
    "organisation_ids",
    [np.arange(1, 41), np.array([5, 9, 4_000_000_000, 17, 2**40])],  # dense ids; ids too spread for a table
    ids=["dense", "spread"],
)
def test_the_panel_is_the_reference_panel(organisation_ids: np.ndarray) -> None:
    observations, indicators = _observations(3, organisation_ids)
    _assert_same(build_panel(observations, indicators), _reference(observations, indicators))


def test_the_sorting_path_gives_the_same_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    observations, indicators = _observations(4, np.arange(1, 30))
    monkeypatch.setattr(panel_module, "_DENSE_TABLE_CELLS", 0)
    _assert_same(build_panel(observations, indicators), _reference(observations, indicators))


def test_consume_empties_the_frame_and_gives_the_same_panel() -> None:
    observations, indicators = _observations(5, np.arange(1, 30))
    want = _reference(observations, indicators)
    kept = observations.clone()
    _assert_same(build_panel(observations, indicators, consume=True), want)
    assert observations.width == 0  # taken as laid out
    _assert_same(build_panel(kept, indicators), want)
    assert kept.width == len(OBSERVATION_SCHEMA)  # without consume the caller's frame is untouched


def test_an_empty_store_gives_an_empty_panel() -> None:
    _, indicators = _observations(6, np.arange(1, 3))
    empty = pl.DataFrame(schema=OBSERVATION_SCHEMA)
    got = build_panel(empty, indicators)
    assert got.n_series == 0 and got.value.shape == (0, 0) and got.fingerprint.size == 0
    _assert_same(got, _reference(empty, indicators))


@pytest.mark.parametrize("null_columns", [("standard_error",), ("numerator", "denominator", "expected")])
def test_one_indicator_with_columns_all_null_gives_the_reference_panel(null_columns: tuple[str, ...]) -> None:
    """A partition of one indicator (as the scan cuts a large store) whose kind has no standard errors, or
    only standard errors: the all-null columns are NaN grids and the fingerprints those of the reference."""
    observations, indicators = _observations(7, np.arange(1, 30))
    one = observations.filter(pl.col("indicator_id") == 7).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in null_columns
    )
    _assert_same(build_panel(one, indicators), _reference(one, indicators))
    alone = indicators.filter(pl.col("indicator_id") == 7)  # the indicator list of the partition itself
    _assert_same(build_panel(one, alone), _reference(one, alone))


@pytest.mark.parametrize("block_rows", [1, 7, 1000])
def test_fingerprints_hashed_a_block_of_rows_at_a_time_are_the_reference(
    monkeypatch: pytest.MonkeyPatch, block_rows: int
) -> None:
    """The row hashes are made a block of rows at a time (a last block shorter than the others): the same
    fingerprints as hashing every row at once (the reference)."""
    observations, indicators = _observations(8, np.arange(1, 25))
    monkeypatch.setattr(panel_module, "_HASH_BLOCK_ROWS", block_rows)
    assert observations.height % block_rows != 0 or block_rows == 1
    _assert_same(build_panel(observations, indicators), _reference(observations, indicators))
