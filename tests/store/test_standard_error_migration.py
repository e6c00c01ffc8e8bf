"""Migration 0008 adds a nullable standard error to observations and their revisions, and takes it away again
without losing a row; after the round trip the standard errors are empty until the next (changed) import."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.models import Base, Observation, ObservationRevision
from forewarn.store.queries import counts
from tests.conftest import FIXTURES

FINGERTIPS = FIXTURES / "ingest" / "fingertips_with_ci.csv"
FINGERTIPS_MAPPING = FIXTURES / "ingest" / "fingertips_with_ci.yml"
TABLES = ("observations", "observation_revisions")


def _has_standard_error(engine: Engine) -> dict[str, bool]:
    inspector = inspect(engine)
    return {t: "standard_error" in {c["name"] for c in inspector.get_columns(t)} for t in TABLES}


def _with_a_revision(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, FINGERTIPS, FINGERTIPS_MAPPING)
    corrected = tmp_path / "corrected.csv"
    text = FINGERTIPS.read_text(encoding="utf-8")
    corrected.write_text(text.replace("18.1538,15.3805,21.3014", "18.1538,15.2805,21.3014"), encoding="utf-8")
    assert import_file(engine, corrected, FINGERTIPS_MAPPING).observations_updated == 1


def test_the_new_columns_match_the_models(engine: Engine) -> None:
    assert _has_standard_error(engine) == dict.fromkeys(TABLES, True)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if "observation" in repr(d)]
    assert diffs == []


def test_downgrade_drops_the_standard_errors_and_keeps_every_row(engine: Engine, tmp_path: Path) -> None:
    _with_a_revision(engine, tmp_path)
    with engine.connect() as conn:
        before = counts(conn)
        assert (
            conn.execute(select(func.count()).where(Observation.standard_error.is_not(None))).scalar_one()
            == 11
        )
        assert conn.execute(select(ObservationRevision.standard_error)).scalar_one() is not None
    migrate.downgrade(engine, "0007")
    assert migrate.current_revision(engine) == "0007"
    assert _has_standard_error(engine) == dict.fromkeys(TABLES, False)
    # The index 0007 made survives the table being rebuilt (SQLite's batch mode copies it).
    indexes = {i["name"] for i in inspect(engine).get_indexes("observations")}
    assert "ix_observations_organisation_series" in indexes
    with engine.connect() as conn:
        assert counts(conn)["observations"] == before["observations"] == 12
        assert counts(conn)["observation_revisions"] == before["observation_revisions"] == 1

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    assert _has_standard_error(engine) == dict.fromkeys(TABLES, True)
    with engine.connect() as conn:
        assert counts(conn) == before
        assert (
            conn.execute(select(func.count()).where(Observation.standard_error.is_not(None))).scalar_one()
            == 0
        )
