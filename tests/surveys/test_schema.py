"""Migration 0003 creates exactly the survey tables the models describe, with named constraints, and undoes them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from forewarn.store import migrate
from forewarn.store.models import Base

SURVEY_TABLES = {
    "survey_instruments",
    "survey_waves",
    "survey_wave_organisations",
    "survey_tokens",
    "survey_uploads",
    "survey_responses",
}


def _touches_survey_table(diff: object) -> bool:
    text = repr(diff)
    return any(f"'{table}'" in text or f"{table}." in text for table in SURVEY_TABLES)


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _touches_survey_table(d)]
    assert diffs == []


def test_every_constraint_has_a_name_batch_mode_can_find(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in SURVEY_TABLES:
        for fk in inspector.get_foreign_keys(table):
            assert fk["name"] and fk["name"].startswith(f"fk_{table}_"), (table, fk)
        for unique in inspector.get_unique_constraints(table):
            assert unique["name"] and unique["name"].startswith(f"uq_{table}_"), (table, unique)
        for check in inspector.get_check_constraints(table):
            assert check["name"] and check["name"].startswith(f"ck_{table}_"), (table, check)


def test_downgrade_removes_the_survey_tables_and_upgrade_restores_them(engine: Engine) -> None:
    migrate.downgrade(engine, "0002")
    assert not SURVEY_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= SURVEY_TABLES
