"""The CUSUM's current periods per indicator (``change._current_periods``) against the formulation it replaced
(kept verbatim below): the latest period of each column by the int64 maximum of its days, NaT being the least."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from forewarn.surveillance.change import _current_periods
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, Panel, build_panel

_EARLIEST_DAY = np.datetime64(np.iinfo(np.int64).min + 1, "D")


def _current_periods_before(panel: Panel, options: ScanOptions) -> np.ndarray:
    k = panel.indicators.height
    out = np.ones(k, dtype=np.int64)
    if panel.n_series == 0:
        return out
    last = panel.last_index
    n_series = panel.n_series
    for index in range(k):
        rows = np.flatnonzero(panel.indicator_index == index)
        if rows.size == 0:
            continue
        periods = panel.period if rows.size == n_series else panel.period[rows]
        end = periods[np.arange(rows.size), np.minimum(last[rows], periods.shape[1] - 1)].max()
        missing = np.isnat(periods)
        starts = np.where(missing, _EARLIEST_DAY, periods).max(axis=0)[~missing.all(axis=0)]
        recent = starts > end - np.timedelta64(options.alarm_current_days, "D")
        out[index] = max(1, int(recent.sum()))
    return out


def _panel(seed: int) -> Panel:
    """A monthly indicator with gaps, a quarterly one whose organisations report in different quarters, and an
    annual one: columns of one indicator where only some series have a point, or none."""
    rng = np.random.default_rng(seed)
    rows = []
    for indicator, months, step in ((1, 30, 1), (2, 30, 3), (3, 48, 12)):
        for org in range(1, 25):
            for m in range(0, months, step):
                if rng.random() < 0.3:
                    continue
                period = dt.date(2019 + m // 12, m % 12 + 1, 1)
                value = float(rng.normal(50, 5))
                rows.append((org, indicator, period, None, None, value, None, 1.0))
    observations = pl.DataFrame(rows, schema=OBSERVATION_SCHEMA, orient="row")
    indicators = pl.DataFrame(
        [(i, f"i{i}", "mean", "higher_is_better", None) for i in (1, 2, 3)],
        schema=INDICATOR_SCHEMA,
        orient="row",
    )
    return build_panel(observations, indicators)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("days", [1, 31, 92, 365, 1000])
def test_current_periods_as_before(seed: int, days: int) -> None:
    panel = _panel(seed)
    options = ScanOptions(alarm_current_days=days)
    expected = _current_periods_before(panel, options)
    assert (_current_periods(panel, options) == expected).all()
    assert (expected > 1).any() or days <= 31  # the longer windows reach more than one period
