"""Special causes expected by chance: the scan's simulated shares against an independent, larger simulation of
stable processes through the same chart (Making Data Count rules, NHSRplotthedots-checked in tests/stats)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from forewarn.stats.spc import PointType, SpcOptions, xmr_chart
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.spc_chance import SIMULATED_SERIES, expected_spc_concerns, stable_concern_shares


def test_shares_agree_with_an_independent_simulation() -> None:
    options = ScanOptions()
    window, current = stable_concern_shares(36, options, seed=1)
    values = np.random.default_rng(99).standard_normal((20_000, 36))
    chart = xmr_chart(values, SpcOptions(improvement="decrease"))
    concern = chart.point_type == int(PointType.SPECIAL_CAUSE_CONCERN)
    # Binomial standard error of the scan's 2,000-series estimate, four times over.
    tolerance = 4 * np.sqrt(window * (1 - window) / SIMULATED_SERIES)
    assert window == pytest.approx(concern.any(axis=1).mean(), abs=tolerance)
    assert current == pytest.approx(
        concern[:, -1].mean(), abs=4 * np.sqrt(current / SIMULATED_SERIES) + 0.005
    )
    assert 0 < current < window < 1


def test_expected_counts_scale_with_the_series_watched() -> None:
    figures = expected_spc_concerns({"a": (100, 24), "b": (300, 24)}, ScanOptions())
    assert figures["b"]["any_concern_expected"] == pytest.approx(3 * figures["a"]["any_concern_expected"])


def test_the_simulation_is_run_once_per_length_and_rules() -> None:
    """Kept per process (partitions of one window length share it), keyed by every input it depends on."""
    options = ScanOptions()
    first = stable_concern_shares(30, options, seed=3)
    assert stable_concern_shares(30, options, seed=3) == first
    assert stable_concern_shares(30, replace(options, spc_shift_length=6), seed=3) != first
    assert stable_concern_shares(30, replace(options, spc_trend_length=5), seed=3) != first
    assert stable_concern_shares(30, options, seed=4) != first
