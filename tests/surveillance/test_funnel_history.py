"""The funnel history (forewarn.surveillance.funnel_history) against its reference: the scan itself. The funnel at
period t must be exactly the funnel the scan computes on the same observations cut at t (the scan's funnels are
checked against FunnelPlotR in tests/stats), for every period, kind and window."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from forewarn.surveillance.compute import compute_partition
from forewarn.surveillance.funnel_history import funnel_histories, funnel_history
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, build_panel


def _observations(kind: str, *, organisations: int = 30, months: int = 18, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for org in range(1, organisations + 1):
        size = rng.integers(40, 400)
        skill = rng.normal(0, 0.3)
        for m in range(months):
            if rng.random() < 0.08:  # gaps: an organisation missing a month is not in that month's funnel
                continue
            period = dt.date(2020 + m // 12, m % 12 + 1, 1)
            denominator = float(rng.poisson(size))
            if kind == "proportion":
                p = 1 / (1 + np.exp(-(0.4 + skill)))
                numerator = float(rng.binomial(int(denominator), p))
                row = (org, 1, period, numerator, denominator, numerator / denominator, None, None)
            elif kind == "rate":
                numerator = float(rng.poisson(denominator * 0.05 * np.exp(skill)))
                row = (org, 1, period, numerator, denominator, numerator / denominator, None, None)
            elif kind == "ratio_oe":
                expected = denominator * 0.05
                numerator = float(rng.poisson(expected * np.exp(skill)))
                row = (org, 1, period, numerator, None, numerator / expected, expected, None)
            else:  # mean with a standard error
                se = float(rng.uniform(0.5, 2.0))
                row = (org, 1, period, None, None, float(50 + 5 * skill + rng.normal(0, se)), None, se)
            rows.append(row)
    return pl.DataFrame(rows, schema=OBSERVATION_SCHEMA, orient="row")


def _indicator(kind: str) -> pl.DataFrame:
    return pl.DataFrame([(1, "ind", kind, "higher_is_better", None)], schema=INDICATOR_SCHEMA, orient="row")


@pytest.mark.parametrize("kind", ["proportion", "rate", "ratio_oe", "mean"])
@pytest.mark.parametrize("window_days", [365, 92])
def test_each_period_is_the_scan_run_then(kind: str, window_days: int) -> None:
    observations = _observations(kind)
    options = ScanOptions(funnel_window_days=window_days)
    history = funnel_history(build_panel(observations, _indicator(kind)), options)
    periods = sorted(observations["period_start"].unique().to_list())
    assert [dt.date.fromisoformat(str(p)) for p in history.period] == periods
    compared = 0
    for t, period in enumerate(periods):
        cut = observations.filter(pl.col("period_start") <= period)
        panel = build_panel(cut, _indicator(kind))
        status = compute_partition(panel, options).status
        for column in ("funnel_z", "funnel_ratio", "funnel_lower", "funnel_upper"):
            want = status[column].fill_null(np.nan).to_numpy()
            rows = [history.of(int(o)) for o in panel.organisation_id]
            got = history.__getattribute__(column.removeprefix("funnel_"))[rows, t]
            np.testing.assert_allclose(
                got, want, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=f"{column} {t}"
            )
        compared += int(np.isfinite(status["funnel_z"].fill_null(np.nan).to_numpy()).sum())
    assert compared > 20 * len(periods)  # the funnels were drawn, not NaN everywhere


@pytest.mark.parametrize("window_days", [365, 92])
def test_every_indicator_at_once_is_each_the_scan_run_then(window_days: int) -> None:
    """The report's path: the funnel histories of several indicators of different kinds and lengths (18, 11,
    14 and 7 months, one starting later) from one panel, each period of each against the scan on that
    indicator's data cut at the period."""
    parts = {
        1: ("proportion", _observations("proportion", months=18, seed=1)),
        2: ("rate", _observations("rate", months=11, seed=2)),
        3: ("ratio_oe", _observations("ratio_oe", months=14, seed=3)),
        4: (
            "mean",
            _observations("mean", months=7, seed=4).with_columns(pl.col("period_start").dt.offset_by("5mo")),
        ),
    }
    observations = pl.concat(
        [
            frame.with_columns(pl.lit(i, dtype=pl.Int64).alias("indicator_id"))
            for i, (_, frame) in parts.items()
        ]
    )
    indicators = pl.concat(
        [
            _indicator(kind).with_columns(pl.lit(i, dtype=pl.Int64).alias("indicator_id"))
            for i, (kind, _) in parts.items()
        ]
    )
    options = ScanOptions(funnel_window_days=window_days)
    histories = funnel_histories(build_panel(observations, indicators), options)
    assert sorted(histories) == [1, 2, 3, 4]
    for i, (kind, frame) in parts.items():
        history = histories[i]
        periods = sorted(frame["period_start"].unique().to_list())
        assert [dt.date.fromisoformat(str(p)) for p in history.period] == periods
        assert history.data_type == {"proportion": "PR", "rate": "SR", "ratio_oe": "SR", "mean": "N"}[kind]
        compared = 0
        for t, period in enumerate(periods):
            cut = frame.with_columns(pl.lit(i, dtype=pl.Int64).alias("indicator_id")).filter(
                pl.col("period_start") <= period
            )
            indicator = _indicator(kind).with_columns(pl.lit(i, dtype=pl.Int64).alias("indicator_id"))
            panel = build_panel(cut, indicator)
            status = compute_partition(panel, options).status
            rows = [history.of(int(o)) for o in panel.organisation_id]
            for column in ("funnel_z", "funnel_ratio", "funnel_lower", "funnel_upper"):
                want = status[column].fill_null(np.nan).to_numpy()
                got = getattr(history, column.removeprefix("funnel_"))[rows, t]
                np.testing.assert_allclose(
                    got, want, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=f"{kind} {column} {t}"
                )
            compared += int(np.isfinite(status["funnel_z"].fill_null(np.nan).to_numpy()).sum())
        assert compared > 20 * len(periods)


def test_position_is_against_the_limits_and_absent_months_are_not_compared() -> None:
    observations = _observations("proportion", organisations=40).with_columns(
        # One organisation at 100% and one at 0%: outside the limits on both sides.
        numerator=pl.when(pl.col("organisation_id") == 1)
        .then(pl.col("denominator"))
        .when(pl.col("organisation_id") == 2)
        .then(0.0)
        .otherwise(pl.col("numerator"))
    )
    history = funnel_history(build_panel(observations, _indicator("proportion")))
    outside_low = history.in_funnel & (history.ratio < history.lower)
    outside_high = history.in_funnel & (history.ratio > history.upper)
    assert outside_low.any() and outside_high.any()
    np.testing.assert_array_equal(history.position, outside_high.astype(int) - outside_low.astype(int))
    missing = ~history.in_funnel
    assert missing.any()
    assert (history.position[missing] == 0).all() and np.isnan(history.z[missing]).all()
    assert history.limit_z == pytest.approx(3.090232, abs=1e-6)  # the 99.9th normal percentile


def test_one_indicator_only() -> None:
    observations = _observations("proportion", organisations=3, months=3)
    two = pl.concat(
        [observations, observations.with_columns(pl.lit(2, dtype=pl.Int64).alias("indicator_id"))]
    )
    indicators = pl.concat(
        [
            _indicator("proportion"),
            _indicator("proportion").with_columns(pl.lit(2, dtype=pl.Int64).alias("indicator_id")),
        ]
    )
    with pytest.raises(ValueError, match="one indicator, got 2"):
        funnel_history(build_panel(two, indicators))
