"""The scan's partitions: an indicator's results do not depend on which indicators share its partition, and the
Dask path and the local pool store exactly what the single-process scan stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.surveillance import pool
from forewarn.surveillance.compute import compute_surveillance
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.partitions import (
    Partition,
    PartitionResult,
    load_partitions,
    pool_workers,
    scan_partition,
)
from forewarn.surveillance.scan import load_panel, phase_panel, run_scan, status_rows
from tests.surveillance.test_rescan import _baseline, _fresh_store, _stored
from tests.surveillance.test_scan import MAPPING, _panel_csv


def _sorted(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frame = pl.concat(frames, how="diagonal_relaxed")
    keys = [
        c for c in ("organisation_id", "indicator_id", "period_start", "method", "rule") if c in frame.columns
    ]
    return frame.sort(keys, maintain_order=True)


def _scan_all(partitions: list[Partition]) -> list[PartitionResult]:
    return [scan_partition(p, ScanOptions()) for p in partitions]


@pytest.fixture
def imported(engine: Engine, tmp_path: Path) -> Engine:
    import_file(engine, _panel_csv(tmp_path), mapping_text=MAPPING)
    _baseline(engine)
    return engine


def test_an_indicator_gives_the_same_results_alone_or_beside_others(imported: Engine) -> None:
    with imported.connect() as conn:
        together = load_partitions(conn)
        apart = load_partitions(conn, max_rows=1)
        alone = load_partitions(conn, {int(together[0].indicators["indicator_id"][0])})
    assert (len(together), len(apart), len(alone)) == (1, 2, 1)
    one, each, single = _scan_all(together), _scan_all(apart), _scan_all(alone)
    status = _sorted([r.status for r in one])
    assert status.height == 40
    assert status.equals(_sorted([r.status for r in each]))
    assert _sorted([r.signals for r in one]).equals(_sorted([r.signals for r in each]))
    assert one[0].parts == {**each[0].parts, **each[1].parts}
    # One indicator loaded alone: its rows are those it has beside the other.
    first = int(single[0].status["indicator_id"][0])
    assert (
        single[0]
        .status.sort("organisation_id")
        .equals(status.filter(pl.col("indicator_id") == first).sort("organisation_id"))
    )
    # The rank intervals were simulated (20 units a table), and the funnel columns wait for the store-wide FDR.
    assert status["rank_lower"].is_not_null().sum() == 40 and status["funnel_q"].is_null().all()


def test_the_scan_stores_what_compute_surveillance_gives_for_the_whole_panel(imported: Engine) -> None:
    """The partitioned scan (with the store-wide FDR after) agrees with the whole panel computed at once."""
    run_scan(imported, partition_rows=1)
    with imported.connect() as conn:
        panel, baselines = load_panel(conn)
    whole = status_rows(panel, compute_surveillance(panel, ScanOptions(), phase_panel(panel, baselines)))
    with imported.connect() as conn:
        stored = pl.read_database(
            "SELECT organisation_id, indicator_id, funnel_q, funnel_outlier, rank, rank_lower, rank_upper "
            "FROM series_status",
            conn,
        )
    joined = whole.join(stored, on=["organisation_id", "indicator_id"], suffix="_stored")
    assert joined.height == 40
    for column in ("funnel_q", "rank", "rank_lower", "rank_upper"):
        np.testing.assert_array_equal(
            joined[column].cast(pl.Float64).to_numpy(), joined[f"{column}_stored"].cast(pl.Float64).to_numpy()
        )
    assert joined["funnel_outlier"].eq_missing(joined["funnel_outlier_stored"]).all()


def test_the_dask_path_stores_what_the_single_process_scan_stores(imported: Engine, tmp_path: Path) -> None:
    """Two local worker processes (a LocalCluster): every series_status and signals row as in-process."""
    distributed = run_scan(imported, scheduler="local:2")
    with _fresh_store(tmp_path) as fresh:
        import_file(fresh, _panel_csv(tmp_path), mapping_text=MAPPING)
        _baseline(fresh)
        single = run_scan(fresh)
        assert _stored(imported) == _stored(fresh)
    assert distributed.summary == single.summary
    assert distributed.series_scanned == 40 and distributed.signals_written == single.signals_written > 0


def test_the_pool_path_stores_what_the_single_process_scan_stores(
    imported: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local pool of two spawned processes (``pool:2``), each reading its own partitions from the store (one
    indicator a task; SQLite through ADBC in the worker, PostgreSQL by COPY): every series_status and signals row
    as in-process."""

    def sent(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scanning process read the partitions and sent them to the pool")

    monkeypatch.setattr(pool, "scan_in_pool", sent)  # the fallback for stores only this process sees
    pooled = run_scan(imported, scheduler="pool:2", partition_rows=1)
    with _fresh_store(tmp_path) as fresh:
        import_file(fresh, _panel_csv(tmp_path), mapping_text=MAPPING)
        _baseline(fresh)
        single = run_scan(fresh)
        assert _stored(imported) == _stored(fresh)
    assert pooled.summary == single.summary
    assert pooled.series_scanned == 40 and pooled.signals_written == single.signals_written > 0


def test_a_pool_needs_a_worker() -> None:
    assert pool_workers("pool:3") == 3 and pool_workers("tcp://host:8786") is None
    with pytest.raises(ValueError, match="at least one worker"):
        pool_workers("pool:0")


def test_partitions_read_one_at_a_time_are_those_read_at_once(imported: Engine) -> None:
    """The single-process scan reads its partitions lazily (one in memory at a time): the same cut, frames and
    results as the partitions read at once."""
    with imported.connect() as conn:
        for max_rows in (1, 10**9):
            eager = load_partitions(conn, max_rows=max_rows)
            lazy = list(load_partitions(conn, max_rows=max_rows, lazy=True))
            assert len(lazy) == len(eager) == (2 if max_rows == 1 else 1)
            for a, b in zip(eager, lazy, strict=True):
                key = ["indicator_id", "organisation_id", "period_start"]
                assert a.observations.sort(key).equals(b.observations.sort(key))
                assert a.indicators.sort("indicator_id").equals(b.indicators.sort("indicator_id"))
                assert a.baselines.sort(["indicator_id", "organisation_id"]).equals(
                    b.baselines.sort(["indicator_id", "organisation_id"])
                )
            assert sum(p.baselines.height for p in lazy) > 0  # the rebase is read with its indicator
            computed = _scan_all(eager)
            consumed = [scan_partition(p, ScanOptions(), consume=True) for p in lazy]
            assert _sorted([r.status for r in computed]).equals(_sorted([r.status for r in consumed]))
            assert _sorted([r.signals for r in computed]).equals(_sorted([r.signals for r in consumed]))
            # The grids' columns were dropped from the partition as they were laid out.
            assert all("value" not in p.observations.columns for p in lazy)
