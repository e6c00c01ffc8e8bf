"""The as-of scans' pass over the observations at scale (docs/risk.md, "The bench at 50,000, fifth pass"): the pool's
workers reading their own batches, the batches not held twice, the panels without fingerprints. Every result is
compared with the one-process pass (or with the scan computing fingerprints), to the bit."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forewarn.risk import features
from forewarn.risk.history import StoreHistory
from forewarn.surveillance.compute import compute_partition
from forewarn.surveillance.panel import OBSERVATION_SCHEMA, build_panel

ORIGINS = [dt.date(2020, 1, 1), dt.date(2021, 7, 1), dt.date(2023, 1, 1)]


def test_pool_workers_read_their_own_batches_and_give_the_one_process_results(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store behind the history, a pool of two reads each batch in the worker that scans it (the rows are
    never sent through the pool, so the path that sends them must not run): the series row for row, the
    one-factor estimates and the data version's digest (row count and row-hash sum) equal those of one process,
    over several batches."""
    monkeypatch.setattr(features, "_SCAN_ROWS", 30_000)
    assert history.reader is not None
    serial, serial_windows = features._series_by_origin(history, ORIGINS, read_all=True, levels=True)
    expected_digest = dict(history.reader.whole)
    assert expected_digest["rows"] == history.reader.summary["rows"].sum()
    assert len(history.reader.batch_ids(None, 30_000)) > 2  # several batches

    def refuse(*_: object, **__: object) -> object:
        raise AssertionError("the rows were sent to the pool")

    monkeypatch.setattr(features, "_scan_batches_in_pool", refuse)
    history.reader.whole.clear()
    pooled, pooled_windows = features._series_by_origin(
        history, ORIGINS, read_all=True, levels=True, workers=2
    )
    assert history.reader.whole == expected_digest
    for origin in ORIGINS:
        assert serial[origin] is not None
        assert_frame_equal(pooled[origin], serial[origin])  # type: ignore[arg-type]
        assert len(pooled_windows[origin]) == len(serial_windows[origin]) > 0
        for got, want in zip(pooled_windows[origin], serial_windows[origin], strict=True):
            assert_frame_equal(got, want)


def test_a_pickled_reader_reads_what_the_reader_reads(history: StoreHistory) -> None:
    """The reader a pool worker is sent (its engine as a URL, reopened there) reads the same rows of the same
    store, with the versions checked against those of the original load."""
    reader = history.reader
    assert reader is not None
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.engine is not reader.engine
    assert copy.versions is not None and reader.versions is not None
    assert_frame_equal(copy.versions, reader.versions)
    ids = reader.batch_ids(ORIGINS[1], 30_000)[0]
    assert_frame_equal(copy.read(ids, ORIGINS[1]), reader.read(ids, ORIGINS[1]))
    copy.engine.dispose()


def test_a_batch_handed_over_in_a_list_is_taken_from_it(history: StoreHistory) -> None:
    """The one-process pass hands each batch over in a list of one that the scan empties (so no reference is kept
    beside its sorted copy), with the results of the batch passed as it is."""
    batch = next(history.observation_batches(None, 30_000))
    held = [batch]
    from_list = features._scan_batch(held, history.indicators, ORIGINS, True)
    assert held == []
    direct = features._scan_batch(batch, history.indicators, ORIGINS, True)
    for (origin, series, levels), (origin2, series2, levels2) in zip(from_list, direct, strict=True):
        assert origin == origin2
        assert series is not None and series2 is not None and levels is not None and levels2 is not None
        assert_frame_equal(series, series2)
        assert_frame_equal(levels, levels2)


def test_a_panel_without_fingerprints_scans_the_same(history: StoreHistory) -> None:
    """The as-of scans build their panels without fingerprints (no feature reads one): every fingerprint is 0
    and every other column of the scan's status is that of the panel with them."""
    known = history.as_of(ORIGINS[1]).observations.select(list(OBSERVATION_SCHEMA))
    with_them = build_panel(known, history.indicators)
    without = build_panel(known, history.indicators, fingerprints=False)
    assert np.count_nonzero(with_them.fingerprint) > 0
    assert not np.any(without.fingerprint)
    full = compute_partition(with_them, features._SCAN, rank_intervals=False).status
    bare = compute_partition(without, features._SCAN, rank_intervals=False).status
    assert (bare["fingerprint"] == 0).all()
    assert_frame_equal(bare.drop("fingerprint"), full.drop("fingerprint"))
    assert set(features._STATUS_USED).isdisjoint({"fingerprint"})
    assert pl.DataFrame(full).height == with_them.n_series
