"""The scan's worker processes: one computing thread each, and result frames sent back as files unchanged."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import cast

import polars as pl
import pytest

from forewarn.surveillance.partitions import PartitionResult, spool_result, unspool_result
from forewarn.surveillance.spawn import (
    WORKER_THREADS,
    spool_folder,
    spool_frames,
    unspool_frames,
    worker_environment,
    worker_pool,
)
from forewarn.surveillance.storewide import IndicatorPart


def test_workers_start_with_one_thread_and_this_process_keeps_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in WORKER_THREADS:
        monkeypatch.delenv(name, raising=False)
    # Functions of installed packages only: a spawned worker cannot import this test module (``tests`` is not
    # on its path when pytest runs from its script).
    with worker_pool(1) as pool:
        assert pool.submit(pl.thread_pool_size).result() == 1
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result() == "1"
    assert not any(name in os.environ for name in WORKER_THREADS)


def test_a_thread_count_the_user_set_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with worker_environment():
        assert os.environ["POLARS_MAX_THREADS"] == "3" and os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["POLARS_MAX_THREADS"] == "3" and "OMP_NUM_THREADS" not in os.environ


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "organisation_id": [1, 2, 3],
            "period": [dt.date(2024, 1, 1), None, dt.date(2024, 3, 1)],
            "value": [0.1, float("nan"), None],
            "text": ["a", None, '[{"mean": 0.5}]'],
            "count": [None, 7, -1],
        },
        schema={
            "organisation_id": pl.Int64,
            "period": pl.Date,
            "value": pl.Float64,
            "text": pl.String,
            "count": pl.Int64,
        },
    )


def test_spooled_frames_come_back_identical_and_their_files_go(tmp_path: Path) -> None:
    frame = _frame()
    empty = frame.clear()
    with spool_folder(tmp_path) as folder:
        paths = spool_frames((frame, empty), folder)
        assert len(paths) == 2 and all(Path(p).parent == Path(folder) for p in paths)
        back = unspool_frames(paths)
        assert not list(Path(folder).iterdir())
    assert back[0].schema == frame.schema and back[0].equals(frame)
    # NaN and null stay apart, to the bit.
    assert back[0]["value"].is_nan().to_list() == [False, True, None]
    assert back[1].schema == empty.schema and back[1].height == 0
    assert not list(tmp_path.iterdir())  # the folder itself is removed after the block


def test_a_spooled_partition_result_keeps_its_parts(tmp_path: Path) -> None:
    part = cast(IndicatorPart, {"code": "x", "series": 3})
    result = PartitionResult(status=_frame(), signals=_frame().head(1), parts={"x": part})
    back = unspool_result(spool_result(result, str(tmp_path)))
    assert back.status.equals(result.status) and back.signals.equals(result.signals)
    assert back.parts == result.parts
