"""The migrations, run in order, build exactly the tables and indexes the models describe; 0007's index of an
organisation's series goes and comes back with downgrade and upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from forewarn.store import migrate
from forewarn.store.models import Base
from forewarn.store.models_peers import SQLITE_SEARCH_TABLES


def _observation_indexes(engine: Engine) -> dict[str, list[str]]:
    return {str(i["name"]): list(i["column_names"]) for i in inspect(engine).get_indexes("observations")}


def _not_the_search_index(name: str | None, type_: str, _parent: object) -> bool:
    # SQLite's FTS5 table of the library (and its shadow tables) is created by migration 0012, not by a model.
    return not (type_ == "table" and name in SQLITE_SEARCH_TABLES)


def test_the_migrated_store_matches_every_model(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_the_search_index}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_an_organisations_series_are_indexed_with_their_values(engine: Engine) -> None:
    indexes = _observation_indexes(engine)
    assert indexes["ix_observations_organisation_series"] == [
        "organisation_id",
        "indicator_id",
        "period_start",
        "value",
    ]
    assert "ix_observations_organisation_id" not in indexes
    migrate.downgrade(engine, "0006")
    assert _observation_indexes(engine)["ix_observations_organisation_id"] == ["organisation_id"]
    migrate.upgrade(engine)
    assert "ix_observations_organisation_series" in _observation_indexes(engine)
