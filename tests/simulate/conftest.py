"""Simulated populations shared by the simulator tests (each is written once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.simulate import SimulationParameters, SimulationSummary, simulate


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """120 organisations over 2 years with the default model: files, mappings, events and surveys."""
    out = tmp_path_factory.mktemp("sim_small")
    return out, simulate(out, SimulationParameters(n_organisations=120, n_years=2, seed=42))
