"""The XmR chart's results do not depend on how its rows are blocked, and its run rules' doubling sums and covers
equal the plain shifted sums and ORs they replaced (both to the bit)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from forewarn.stats import spc, spc_rules
from forewarn.stats.spc import SpcOptions, xmr_chart
from forewarn.stats.spc_layout import segment_layout


def _panel(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Series of 6 to 40 points with gaps, rebases and values of very different sizes, so that the segment panel
    of a block of a few rows is narrower than the panel's (the case where the block's width used to matter)."""
    rng = np.random.default_rng(seed)
    n_series, n_times = 60, 40
    scale = 10.0 ** rng.integers(-3, 7, size=(n_series, 1))
    values = rng.normal(100.0, 15.0, size=(n_series, n_times)) * scale
    values += np.cumsum(rng.normal(0, 3, size=(n_series, n_times)), axis=1) * scale
    length = rng.integers(6, n_times + 1, size=n_series)
    values[np.arange(n_times)[None, :] >= length[:, None]] = np.nan
    gaps = rng.random((n_series, n_times)) < 0.08
    gaps[:, :2] = False
    values[gaps] = np.nan
    phase = np.zeros((n_series, n_times), dtype=np.int64)
    rebased = (rng.random(n_series) < 0.3) & (length >= 30)  # both segments of at least 2 points
    phase[rebased, 15:] = 1
    return values, phase


def _chart_arrays(chart: spc.XmrChart) -> dict[str, np.ndarray]:
    arrays = {
        name: getattr(chart, name)
        for name in (
            "segment_index",
            "outside_limits",
            "close_to_limits",
            "relative_to_mean",
            "shift",
            "trend",
            "two_in_three",
            "special_cause_type",
            "point_type",
            "variation",
            "assurance",
        )
    }
    for field in dataclasses.fields(chart.summary):
        arrays[f"summary.{field.name}"] = getattr(chart.summary, field.name)
    return arrays


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind == "f":
        return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())
    return a.shape == b.shape and bool((a == b).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("phased", [False, True])
def test_results_do_not_depend_on_the_block_size(
    monkeypatch: pytest.MonkeyPatch, seed: int, phased: bool
) -> None:
    values, phase = _panel(seed)
    options = SpcOptions(target=np.full(values.shape[0], 100.0))
    # the whole panel in one block: every segment panel as wide as the panel, whatever the setting
    monkeypatch.setattr(spc, "_BLOCK_ELEMENTS", values.size * 4)
    whole = _chart_arrays(xmr_chart(values, options, phase if phased else None))
    for rows_per_block in (1, 3, 7, 16):
        monkeypatch.setattr(spc, "_BLOCK_ELEMENTS", rows_per_block * values.shape[1])
        blocked = _chart_arrays(xmr_chart(values, options, phase if phased else None))
        for name, expected in whole.items():
            assert _same_bits(blocked[name], expected), (rows_per_block, name)


def _window_sums_plain(steps: np.ndarray, window: int) -> np.ndarray:
    """The formulation the doubling replaced (kept verbatim): one shifted add per offset."""
    n_rows, width = steps.shape
    n_starts = width - window + 1
    if n_starts <= 0:
        return np.zeros((n_rows, 0), dtype=np.int32)
    total = steps[:, :n_starts].astype(np.int32)
    for offset in range(1, window):
        total += steps[:, offset : offset + n_starts]
    return total


def _covered_plain(starts: np.ndarray, window: int, width: int) -> np.ndarray:
    """The formulation the doubling replaced (kept verbatim): one shifted OR per offset."""
    n_rows, n_starts = starts.shape
    covered = np.zeros((n_rows, width), dtype=np.bool_)
    if n_starts > 0:
        for offset in range(window):
            covered[:, offset : offset + n_starts] |= starts
    return covered


@pytest.mark.parametrize("width", [0, 1, 2, 5, 6, 7, 8, 13, 36, 41])
def test_window_sums_and_covers_by_doubling(width: int) -> None:
    rng = np.random.default_rng(width)
    steps = rng.integers(-1, 2, size=(30, width)).astype(np.int8)
    for window in range(1, 44):
        sums = spc_rules._window_sums(steps, window)
        plain = _window_sums_plain(steps, window)
        assert sums.dtype == plain.dtype and sums.shape == plain.shape
        assert (sums == plain).all(), window
        starts = rng.random((30, max(width - window + 1, 0))) < 0.15
        covered = spc_rules._covered(starts, window, width)
        assert covered.shape == (30, width)
        assert (covered == _covered_plain(starts, window, width)).all(), window


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("phased", [False, True])
def test_per_point_into_a_panel_equals_the_segment_panel_scattered(seed: int, phased: bool) -> None:
    values, phase = _panel(seed)
    layout = segment_layout(values, phase if phased else None, min_points=2, panel_width=True)
    assert layout.observed is not None  # the gaps leave the fast path
    per_segment = np.arange(10, 10 + layout.n_segments, dtype=np.int32)
    # the formulation the repeat replaced: the segment panel filled per segment, then scattered
    seg = np.empty((layout.n_segments, layout.width), dtype=np.int32)
    seg[...] = per_segment[:, None]
    seg[~layout.valid()] = -1
    expected = layout.to_panel(seg, fill=-1)
    out = np.zeros(values.shape, dtype=np.int32)
    assert layout.per_point(per_segment, fill=-1, out=out) is out
    assert (out == expected).all()
    floats = np.linspace(0.1, 7.3, layout.n_segments)
    into = np.zeros(values.shape)
    layout.per_point(floats, out=into)
    made = layout.per_point(
        floats, out=into[:, :].copy(order="F")
    )  # not C-contiguous: the segment panel's path
    assert np.array_equal(into, made, equal_nan=True)
