"""The import's set-based writes: data versions moved on with each change, in the import's transaction, and the
secondary indexes of a load into an empty store rebuilt as the migrations made them."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from forewarn.ingest.importer import import_file
from forewarn.ingest.problems import ImportRejected
from forewarn.store import bulk, migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Indicator, IndicatorDataVersion
from forewarn.store.pg_keys import CHECKED_ROWS
from tests.conftest import FIXTURES

MAPPING = FIXTURES / "ingest" / "mapping.yml"
HEADER = "period,org_code,org_name,attendances,breaches\n"
ROWS = ["2020-01-01,AAA,Alpha,1000,100", "2020-02-01,AAA,Alpha,1100,150", "2020-01-01,BBB,Beta,500,20"]


def _csv(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Indicator.code, IndicatorDataVersion.version).join(
                IndicatorDataVersion, IndicatorDataVersion.indicator_id == Indicator.id
            )
        )
        return {str(code): int(version) for code, version in rows}


def _index_definitions(conn: Connection) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'observations'"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'observations'"
    return {str(name): str(sql) for name, sql in conn.exec_driver_sql(query)}


def test_each_import_that_changes_an_indicator_moves_its_version(engine: Engine, tmp_path: Path) -> None:
    assert _versions(engine) == {}
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    assert _versions(engine) == {"perf": 1, "breaches": 1}
    # The same values in another file: nothing written, nothing moved.
    same = import_file(engine, _csv(tmp_path, "same.csv", list(reversed(ROWS))), MAPPING)
    assert same.observations_unchanged == 6 and _versions(engine) == {"perf": 1, "breaches": 1}
    # A revision of one value and a new month: both indicators of the file move on once.
    revised = import_file(
        engine,
        _csv(tmp_path, "revised.csv", ["2020-02-01,AAA,Alpha,1100,110", "2020-03-01,AAA,Alpha,900,90"]),
        MAPPING,
    )
    assert (revised.observations_updated, revised.observations_inserted) == (2, 2)
    assert _versions(engine) == {"perf": 2, "breaches": 2}


def test_a_failed_import_leaves_the_versions_as_they_were(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crash after the observations were written")

    monkeypatch.setattr(bulk, "finish_batch", crash)
    with pytest.raises(RuntimeError):
        import_file(engine, _csv(tmp_path, "later.csv", ["2020-03-01,AAA,Alpha,900,90"]), MAPPING)
    assert _versions(engine) == {"perf": 1, "breaches": 1}


def test_the_bulk_loader_moves_the_version_too(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    with engine.begin() as conn:
        perf = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        org = conn.exec_driver_sql("SELECT id FROM organisations WHERE code = 'AAA'").scalar_one()
        batch = conn.exec_driver_sql("SELECT max(id) FROM import_batches").scalar_one()
        frame = pl.DataFrame(
            {
                "organisation_id": [org],
                "indicator_id": [perf],
                "period_start": [dt.date(2020, 4, 1)],
                "period_end": [dt.date(2020, 4, 30)],
                "numerator": [1.0],
                "denominator": [2.0],
                "value": [0.5],
                "expected": [None],
                "standard_error": [None],
            },
            schema_overrides={"expected": pl.Float64, "standard_error": pl.Float64},
        )
        assert bulk.write_observations(conn, frame, int(batch)) == (1, 0, 0)
    assert _versions(engine) == {"perf": 2, "breaches": 1}


def test_a_load_into_an_empty_store_rebuilds_the_indexes_as_migrated(engine: Engine, tmp_path: Path) -> None:
    with engine.connect() as conn:
        migrated = _index_definitions(conn)
    assert set(bulk.REBUILT_INDEXES) <= set(migrated)
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    with engine.connect() as conn:
        assert _index_definitions(conn) == migrated
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == 6


def test_foreign_keys_are_checked_again_after_an_import(engine: Engine, tmp_path: Path) -> None:
    """SQLite's import transaction skips the row-by-row check; the pooled connection gets it back, even after a
    failed import."""
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    with pytest.raises(ImportRejected):
        import_file(engine, _csv(tmp_path, "bad.csv", ["2020-13-01,AAA,Alpha,1,1"]), MAPPING)
    with bulk.import_transaction(engine) as conn:
        conn.exec_driver_sql("SELECT 1")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO indicator_data_versions (indicator_id, version) VALUES (987654, 1)")
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def _foreign_keys(conn: Connection) -> dict[str, str]:
    return {
        str(name): str(definition)
        for name, definition in conn.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'observations'::regclass AND contype = 'f'"
        )
    }


def test_postgresql_keys_dropped_for_a_load_into_an_empty_store_come_back_and_still_refuse_a_bad_id(
    engine: Engine, tmp_path: Path
) -> None:
    """PostgreSQL's load into the empty table adds the foreign keys of observations back after it (one check of
    every row instead of a trigger per row): they come back as migrated, and a row naming no organisation fails
    the whole load, the keys left in place."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's import skips the row-by-row check for the whole transaction instead")
    with engine.connect() as conn:
        migrated = _foreign_keys(conn)
    assert len(migrated) == 3
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    with engine.begin() as conn:
        assert _foreign_keys(conn) == migrated
        batch = conn.exec_driver_sql("SELECT max(id) FROM import_batches").scalar_one()
        perf = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        conn.exec_driver_sql("DELETE FROM observations")
    orphan = pl.DataFrame(
        {
            "organisation_id": [987654],
            "indicator_id": [perf],
            "period_start": [dt.date(2020, 4, 1)],
            "period_end": [dt.date(2020, 4, 30)],
            "numerator": [1.0],
            "denominator": [2.0],
            "value": [0.5],
            "expected": [None],
            "standard_error": [None],
        },
        schema_overrides={"expected": pl.Float64, "standard_error": pl.Float64},
    )
    with pytest.raises(IntegrityError), bulk.import_transaction(engine) as conn:
        bulk.write_observations(conn, orphan, int(batch))
    with engine.connect() as conn:
        assert _foreign_keys(conn) == migrated
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == 0


def test_postgresql_populated_import_checks_keys_once_and_still_refuses_a_bad_id(
    engine: Engine, tmp_path: Path
) -> None:
    """Into a populated PostgreSQL store, the keys of the rows to insert are checked once, set-based, and the
    row-by-row triggers skipped for the writes only: a row naming no organisation still fails the whole write, and
    the triggers are on again after the import."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's foreign-key triggers")
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    revised = import_file(
        engine,
        _csv(tmp_path, "revised.csv", ["2020-01-01,AAA,Alpha,1000,101", "2020-03-01,AAA,Alpha,9,1"]),
        MAPPING,
    )
    assert (revised.observations_updated, revised.observations_inserted) == (2, 2)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar_one() == "origin"
        batch = conn.exec_driver_sql("SELECT max(id) FROM import_batches").scalar_one()
        perf = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        before = conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one()
    orphan = pl.DataFrame(
        {
            "organisation_id": [987654],
            "indicator_id": [perf],
            "period_start": [dt.date(2020, 4, 1)],
            "period_end": [dt.date(2020, 4, 30)],
            "numerator": [1.0],
            "denominator": [2.0],
            "value": [0.5],
            "expected": [None],
            "standard_error": [None],
        },
        schema_overrides={"expected": pl.Float64, "standard_error": pl.Float64},
    )
    with pytest.raises(IntegrityError), bulk.import_transaction(engine) as conn:
        bulk.write_observations(conn, orphan, int(batch))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == before


def _many(organisation_id: int, indicator_id: int, rows: int) -> pl.DataFrame:
    """``rows`` observations of one organisation and indicator, a day apart (as many as
    :data:`forewarn.store.pg_keys.CHECKED_ROWS` asks before the keys are checked once)."""
    starts = [dt.date(1990, 1, 1) + dt.timedelta(days=i) for i in range(rows)]
    return pl.DataFrame(
        {
            "organisation_id": [organisation_id] * rows,
            "indicator_id": [indicator_id] * rows,
            "period_start": starts,
            "period_end": starts,
            "numerator": [1.0] * rows,
            "denominator": [2.0] * rows,
            "value": [0.5] * rows,
            "expected": [None] * rows,
            "standard_error": [None] * rows,
        },
        schema_overrides={"expected": pl.Float64, "standard_error": pl.Float64},
    )


def test_postgresql_large_import_locks_its_parents_and_refuses_a_missing_one(
    engine: Engine, tmp_path: Path
) -> None:
    """A populated import large enough for its keys to be checked once (``pg_keys.keys_checked_once``) locks the
    organisations it writes rows for until it commits, as the row triggers would: a concurrent delete of one
    waits, instead of cascading past the import's rows and leaving them orphans at its commit. A missing
    organisation among as many rows still fails the whole write, and the triggers are on again after."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's foreign-key triggers")
    import_file(engine, _csv(tmp_path, "first.csv", ROWS), MAPPING)
    with engine.connect() as conn:
        batch = int(conn.exec_driver_sql("SELECT max(id) FROM import_batches").scalar_one())
        perf = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        alpha = int(conn.exec_driver_sql("SELECT id FROM organisations WHERE code = 'AAA'").scalar_one())
        before = conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one()
    rows = _many(alpha, perf, CHECKED_ROWS)
    with bulk.import_transaction(engine) as conn:
        assert bulk.write_observations(conn, rows, batch) == (CHECKED_ROWS, 0, 0)
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar_one() == "origin"
        with engine.connect() as other:
            other.exec_driver_sql("SET lock_timeout = '300ms'")
            with pytest.raises(OperationalError, match="lock timeout"):
                other.exec_driver_sql(f"DELETE FROM organisations WHERE id = {alpha}")
            other.rollback()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == before + CHECKED_ROWS
    orphan = _many(987654, perf, CHECKED_ROWS).with_columns(
        pl.col("period_start", "period_end").dt.offset_by(f"{CHECKED_ROWS}d")
    )
    with pytest.raises(IntegrityError), bulk.import_transaction(engine) as conn:
        bulk.write_observations(conn, pl.concat([_many(alpha, perf, 1), orphan]), batch)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM observations").scalar_one() == before + CHECKED_ROWS
        assert conn.exec_driver_sql("SHOW session_replication_role").scalar_one() == "origin"


def test_sqlite_imports_with_its_temporary_store_on_disk_and_gives_the_usual_back(tmp_path: Path) -> None:
    """``temp_store`` is FILE (1) inside the import's transaction and the store's usual MEMORY (2) after it, on
    the same pooled connection, even when the import fails."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}", poolclass=StaticPool)
    migrate.upgrade(engine)
    seen = []
    for fail in (False, True):
        expected = pytest.raises(RuntimeError) if fail else contextlib.nullcontext()
        with expected, bulk.import_transaction(engine) as conn:
            seen.append(conn.exec_driver_sql("PRAGMA temp_store").scalar_one())
            if fail:
                raise RuntimeError("failed inside the import")
        with engine.connect() as conn:
            seen.append(conn.exec_driver_sql("PRAGMA temp_store").scalar_one())
    assert seen == [1, 2, 1, 2]
    engine.dispose()
