"""Sums over the funnel's window (latest year of each indicator) against the whole-row formulation they replaced
(kept here verbatim as the reference): the same bits, negative zeros, empty windows and NaN included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, Panel, build_panel
from forewarn.surveillance.windows import (
    latest_period_units,
    window_estimates,
    window_periods,
    window_sums,
)


def _reference_window(panel: Panel, at: IntArray, days: int) -> np.ndarray:
    end = panel.period[np.arange(panel.n_series), at]
    return (panel.period > (end - np.timedelta64(days, "D"))[:, None]) & ~np.isnat(panel.period)


def _reference_sums(panel: Panel, at: IntArray, days: int) -> tuple[FloatArray, ...]:
    window = _reference_window(panel, at, days)

    def total(values: FloatArray) -> FloatArray:
        inside = window & np.isfinite(values)
        summed = np.where(inside, values, 0.0).sum(axis=1)
        return np.where(inside.any(axis=1), summed, np.nan)

    return total(panel.numerator), total(panel.denominator), total(panel.expected)


def _reference_estimates(panel: Panel, at: IntArray, days: int) -> tuple[FloatArray, ...]:
    window = _reference_window(panel, at, days)
    se = panel.standard_error
    inside = window & np.isfinite(panel.value) & np.isfinite(se) & (se > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(inside, 1.0 / (se * se), 0.0)
        sum_w = w.sum(axis=1)
        mean = (w * np.where(inside, panel.value, 0.0)).sum(axis=1) / sum_w
        return np.where(sum_w > 0, mean, np.nan), np.where(sum_w > 0, 1.0 / np.sqrt(sum_w), np.nan)


def _panel(seed: int, months: tuple[int, ...]) -> Panel:
    """Indicators of the given numbers of monthly periods (and one annual), 40 organisations, 20% of rows
    missing, values with NaN, nulls, zeros and negative zeros."""
    rng = np.random.default_rng(seed)
    frames = []
    spans = [(i + 1, m, "mo") for i, m in enumerate(months)] + [(len(months) + 1, 5, "y")]
    for indicator, count, step in spans:
        periods = pl.date_range(dt.date(2019, 1, 1), dt.date(2030, 1, 1), f"1{step}", eager=True)[:count]
        orgs, when = np.meshgrid(np.arange(1, 41), np.arange(count), indexing="ij")
        n = orgs.size
        numbers = rng.choice([0.0, -0.0, 1.0, 2.5, 1e16, -3.0, np.nan], size=(5, n))
        numbers[:, rng.random(n) < 0.5] = rng.gamma(2.0, 10.0, size=(5, 1))
        frames.append(
            pl.DataFrame(
                {
                    "organisation_id": orgs.ravel(),
                    "indicator_id": indicator,
                    "period_start": periods.gather(when.ravel()),
                    "numerator": numbers[0],
                    "denominator": numbers[1],
                    "value": numbers[2],
                    "expected": numbers[3],
                    "standard_error": pl.Series(np.abs(numbers[4])).scatter(
                        np.flatnonzero(rng.random(n) < 0.2), None
                    ),
                }
            ).filter(pl.Series(rng.random(n) > 0.2))
        )
    observations = pl.concat(frames, how="vertical_relaxed").cast(OBSERVATION_SCHEMA)  # type: ignore[arg-type]
    indicators = pl.DataFrame(
        {
            "indicator_id": [i for i, _, _ in spans],
            "code": [f"i{i}" for i, _, _ in spans],
            "kind": "mean",
            "polarity": "higher_is_better",
            "target": None,
        },
        schema=INDICATOR_SCHEMA,
    )
    return build_panel(observations, indicators)


def _same_bits(a: FloatArray, b: FloatArray) -> bool:
    """Equal to the bit: the sign of a zero and where NaN stands included."""
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


@pytest.mark.parametrize("months", [(36,), (36, 20, 9), (7,), (36, 36, 40)])
@pytest.mark.parametrize("days", [365, 31, 1000])
def test_window_sums_have_the_bits_of_whole_row_sums(months: tuple[int, ...], days: int) -> None:
    panel = _panel(len(months) + days, months)
    _, at = latest_period_units(panel)
    for got, want in zip(window_sums(panel, at, days), _reference_sums(panel, at, days), strict=True):
        assert _same_bits(got, want)
    for got, want in zip(
        window_estimates(panel, at, days), _reference_estimates(panel, at, days), strict=True
    ):
        assert _same_bits(got, want)
    reference_periods = (_reference_window(panel, at, days) & np.isfinite(panel.value)).sum(axis=1)
    assert np.array_equal(window_periods(panel, at, days), reference_periods.astype(float))


def test_a_window_of_negative_zeros_sums_to_positive_zero_as_the_whole_row() -> None:
    panel = _panel(1, (36,))
    numerator = panel.numerator
    numerator[:, :] = -0.0
    _, at = latest_period_units(panel)
    got = window_sums(panel, at, 365)[0]
    want = _reference_sums(panel, at, 365)[0]
    observed = np.isfinite(want)
    assert observed.any() and not np.signbit(want[observed]).any()
    assert _same_bits(got, want)
