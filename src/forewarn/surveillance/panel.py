"""Observations as panels: one row per organisation x indicator series, one column per period of that indicator.

All series of all indicators share one array (padded with NaN), so each statistical method runs once over the
whole store instead of once per series.
"""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def last_index(self) -> IntArray:
        """Time index of each series' last observed point (computed once: the grids are not changed after the
        panel is laid out, and SPC, funnels, CUSUM and the status rows all ask for it)."""
        observed = ~np.isnan(self.value)
        width = observed.shape[1]
        if width == 0:  # an empty store: no series, no periods
            out = np.zeros(observed.shape[0], dtype=np.int64)
        else:
            out = np.asarray(width - 1 - np.argmax(observed[:, ::-1], axis=1), dtype=np.int64)
        out.flags.writeable = False  # shared by every caller
        return out


def build_panel(
    observations: pl.DataFrame, indicators: pl.DataFrame, *, consume: bool = False, fingerprints: bool = True
) -> Panel:
    """Arrange long observations (one row per organisation, indicator and period) into a :class:`Panel`.

    Each indicator's periods are ranked on their own axis (a monthly and an annual indicator both start at
    column 0); an organisation missing a period has NaN there, so time stays aligned across organisations.
    Observations of indicators not in ``indicators`` are left out. Series are ordered by indicator, then
    organisation.

    Memory: no sorted or joined copy of the long frame is made; each row's series and time index (int32) come from
    dense codes, and the grids are filled one column at a time. With ``consume`` the frame's columns are dropped
    from ``observations`` itself as they are laid out, so a caller that holds no other reference to them (the
    scan's ``load_panel``) frees the long frame while the grids are built.

    Without ``fingerprints`` every series' fingerprint is 0: for callers that read none (the risk model's as-of
    scans, eight an indicator in a backtest), which then skip hashing every row.
    """
    frame = observations if consume else observations.clone()
    indicators = indicators.sort("indicator_id")
    known_ids = indicators["indicator_id"].to_numpy().astype(np.int64)
    row_indicator = frame["indicator_id"].to_numpy().astype(np.int64)
    if known_ids.size == 1:  # a partition of one indicator (the scan's): every row at position 0, no search
        position = np.zeros(frame.height, dtype=np.intp)
        known = row_indicator == known_ids[0]
    else:
        position = np.minimum(np.searchsorted(known_ids, row_indicator), max(known_ids.size - 1, 0))
        known = known_ids[position] == row_indicator if known_ids.size else np.zeros(frame.height, dtype=bool)
    if not known.all():
        kept = frame.filter(pl.Series(known))
        if consume:
            for column in observations.columns:
                observations.drop_in_place(column)
        frame, position = kept, position[known]
    del row_indicator, known
    group = position.astype(np.int32)
    day = frame["period_start"].to_physical().to_numpy().astype(np.int32)
    # Series: dense codes of (indicator, organisation) in that order; time: dense codes of the period within its
    # indicator (polars' rank("dense").over("indicator_id") - 1).
    s, series_group, series_org = _dense_codes(group, frame["organisation_id"].to_numpy(), within_group=False)
    t, _, _ = _dense_codes(group, day, within_group=True)
    del group
    n_series = int(series_group.size)
    width = int(t.max()) + 1 if t.size else 0
    # Each row's cell of the (series x time) grids as one flat index: a 1-D scatter is several times faster
    # than a scatter by (row, column) pairs.
    cell = s.astype(np.int64) * width + t
    del t
    fingerprint = (
        _fingerprints(frame, cell, n_series, width) if fingerprints else np.zeros(n_series, dtype=np.uint64)
    )
    period = np.full(n_series * width, np.datetime64("NaT"), dtype="datetime64[D]")
    period[cell] = day.astype("datetime64[D]")
    del day

    def grid(column: str) -> FloatArray:
        out = np.full(n_series * width, np.nan)
        values = frame[column]
        if values.null_count() < values.len():  # an all-null column (a kind without it) stays all NaN
            out[cell] = values.to_numpy()  # a float column's nulls come as NaN
        if consume:
            frame.drop_in_place(column)
        return out.reshape(n_series, width)

    return Panel(
        organisation_id=series_org.astype(np.int64),
        indicator_id=known_ids[series_group],
        indicator_index=series_group.astype(np.int64),
        n_points=np.bincount(s, minlength=n_series).astype(np.int64),
        value=grid("value"),
        numerator=grid("numerator"),
        denominator=grid("denominator"),
        expected=grid("expected"),
        standard_error=grid("standard_error"),
        period=period.reshape(n_series, width),
        indicators=indicators,
        # Fingerprints are stored in a signed 64-bit column.
        fingerprint=(fingerprint >> np.uint64(1)).astype(np.int64),
    )


def _fingerprints(
    frame: pl.DataFrame, cell: NDArray[np.int64], n_series: int, width: int
) -> NDArray[np.uint64]:
    """Each series' fingerprint: the sum (modulo 2^64) of its rows' hashes, a row's hash being that of its
    period and values, plus that of its period and standard error where it has one (so series without
    standard errors keep the fingerprints they had before those were stored).

    The row hashes are laid out on the (series x time) grid, zero where a series has no row, and summed along
    each row: unsigned integer sums wrap, as Polars' grouped sum does, and their order does not matter, so the
    sums are those of ``group_by(series).sum()``, without its hash table.
    """
    row_hash = pl.struct("period_start", "numerator", "denominator", "value", "expected").hash()
    if frame["standard_error"].null_count() < frame.height:  # else every row adds 0
        row_hash = row_hash + pl.when(pl.col("standard_error").is_not_null()).then(
            pl.struct("period_start", "standard_error").hash()
        ).otherwise(0)
    hashed = np.zeros(n_series * width, dtype=np.uint64)
    # A block of rows at a time (each row's hash is its own): Polars' struct hash makes a buffer several times
    # the size of its input, and for the whole partition its allocator faulted fresh pages in for it every time
    # (about 90 MB for 1.8M rows, half the hash's CPU in system time); blocks of this size reuse its memory.
    for start in range(0, frame.height, _HASH_BLOCK_ROWS):
        block = frame.slice(start, _HASH_BLOCK_ROWS)
        hashed[cell[start : start + block.height]] = block.select(row_hash).to_series().to_numpy()
    return np.asarray(hashed.reshape(n_series, width).sum(axis=1, dtype=np.uint64), dtype=np.uint64)


_HASH_BLOCK_ROWS = 1 << 17


# A (group, value) table of at most this many cells is laid out directly; a sparser spread of values is sorted.
_DENSE_TABLE_CELLS = 1 << 26


def _dense_codes(
    group: NDArray[np.int32], value: NDArray[np.integer], *, within_group: bool
) -> tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int64]]:
    """Dense rank (from 0) of each row's (group, value) pair in (group, value) order, across all pairs or within
    its group; and the group and value of each code (across all pairs only, else empty).

    Small integer ranges (periods as days, organisation ids) use a presence table and a running count: linear, no
    sort of the rows. Otherwise ``np.unique`` of a combined key.
    """
    if value.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.int32), empty, empty
    low = int(value.min())
    span = int(value.max()) - low + 1
    groups = int(group.max()) + 1
    offset = value.astype(np.int64) - low
    key = offset if groups == 1 else group.astype(np.int64) * span + offset  # flat (group, value) cell
    if groups * span <= _DENSE_TABLE_CELLS:
        present = np.zeros(groups * span, dtype=bool)
        present[key] = True
        if within_group:
            rank = np.cumsum(present.reshape(groups, span), axis=1, dtype=np.int32) - 1
            return rank.ravel()[key], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        rank = np.cumsum(present, dtype=np.int32) - 1
        code_group, code_offset = np.divmod(np.flatnonzero(present), span)
        return rank[key], code_group.astype(np.int64), code_offset.astype(np.int64) + low
    unique, inverse = np.unique(key, return_inverse=True)
    code_group = unique // span
    if within_group:
        first = np.searchsorted(code_group, code_group, side="left")
        rank = (np.arange(unique.size) - first).astype(np.int32)
        return rank[inverse.ravel()], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return inverse.ravel().astype(np.int32), code_group, unique % span + low
