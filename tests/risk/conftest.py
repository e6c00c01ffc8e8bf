"""A small simulated region, loaded into each test's store, for the risk model's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from forewarn.demo import load_simulated_surveys
from forewarn.risk.history import StoreHistory, load_history
from forewarn.risk.soft import survey_cells
from forewarn.simulate import SimulationParameters, load, simulate


@pytest.fixture(scope="module")
def simulated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, SimulationParameters(n_organisations=200, n_years=5, seed=3), file_format="parquet")
    return out


@pytest.fixture
def history(engine: Engine, simulated_dir: Path) -> StoreHistory:
    load(engine, simulated_dir)
    load_simulated_surveys(engine, simulated_dir, "test", 10, min_group_size=5)
    cells = survey_cells(engine, min_group_size=5)
    with engine.connect() as conn:
        return load_history(conn, soft=cells)
