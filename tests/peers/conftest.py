"""A simulated region loaded once per module into a store of the kind under test (SQLite, or PostgreSQL with
``FOREWARN_TEST_DATABASE=postgresql``), shared read-only by the neighbour and deviant tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine
from tests.conftest import POSTGRES_ADMIN_URL, test_database_kind
from tests.web.conftest import app, signed_in, web_settings, world  # noqa: F401  (the web tests' world)


@dataclass(frozen=True)
class Region:
    engine: Engine
    out: Path


@pytest.fixture(scope="module")
def module_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated, empty store for one test module; dropped afterwards."""
    if test_database_kind() == "postgresql":
        name = f"forewarn_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('peers') / 'forewarn.db'}")
        migrate.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def region(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Region:
    """400 simulated organisations over 3 years (seed 8), loaded."""
    out = tmp_path_factory.mktemp("peers_sim")
    simulate(out, SimulationParameters(n_organisations=400, n_years=3, seed=8))
    load(module_engine, out)
    return Region(module_engine, out)
