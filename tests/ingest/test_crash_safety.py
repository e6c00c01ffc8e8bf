"""A process killed in the middle of writing an import leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.store.queries import counts
from tests.conftest import FIXTURES

MAPPING = FIXTURES / "ingest" / "mapping.yml"


def _big_file(path: Path, organisations: int, months: int) -> Path:
    rng = np.random.default_rng(1)
    codes = np.repeat([f"ORG{i:06d}" for i in range(organisations)], months)
    periods = np.tile(
        pl.date_range(pl.date(2010, 1, 1), pl.date(2010 + months // 12, 12, 1), "1mo", eager=True)[
            :months
        ].to_numpy(),
        organisations,
    )
    attendances = rng.integers(1000, 5000, organisations * months)
    pl.DataFrame(
        {
            "period": periods,
            "org_code": codes,
            "org_name": codes,
            "attendances": attendances,
            "breaches": attendances // 10,
        }
    ).write_csv(path)
    return path


def test_killed_import_leaves_the_store_as_it_was(engine: Engine, database_url: str, tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("period,org_code,org_name,attendances,breaches\n2020-01-01,AAA,Alpha,100,10\n")
    import_file(engine, small, MAPPING)
    with engine.connect() as conn:
        before = counts(conn)

    big = _big_file(
        tmp_path / "big.csv", organisations=10_000, months=36
    )  # 360,000 rows, 720,000 observations
    env = {**os.environ, "FOREWARN_DATABASE_URL": database_url, "FOREWARN_IMPORT_CHUNK_ROWS": "20000"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from forewarn.cli import app; app()",
            "import",
            str(big),
            "--mapping",
            str(MAPPING),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("forewarn: writing"):
            break
    time.sleep(0.3)  # well inside the write, which takes a few seconds for 720,000 rows
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    engine.dispose()  # a new connection sees what a new process would see
    with engine.connect() as conn:
        assert counts(conn) == before
    # The store is usable afterwards (no lock or half-written staging left behind).
    small.write_text("period,org_code,org_name,attendances,breaches\n2020-02-01,AAA,Alpha,100,20\n")
    assert import_file(engine, small, MAPPING).observations_inserted == 2
