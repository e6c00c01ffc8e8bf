"""The migrations, run in order, build exactly the tables and indexes the models describe; 0007's index of an
organisation's series goes and comes back with downgrade and upgrade, and so does 0034's change to it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

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


def _fillfactor(engine: Engine) -> str | None:
    """PostgreSQL's ``fillfactor`` of ``observations`` (None when it is the default, and on SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'observations'")
        ).scalar_one()
    return next((o.split("=")[1] for o in options or [] if o.startswith("fillfactor=")), None)


def test_an_organisations_series_are_indexed_without_their_values(engine: Engine) -> None:
    """0034 takes ``value`` out of 0007's index (a revision then changes no indexed column) and, on PostgreSQL,
    fills pages to 90%; its downgrade puts both back as 0007 and the default left them."""
    series = ["organisation_id", "indicator_id", "period_start"]
    assert _observation_indexes(engine)["ix_observations_organisation_series"] == series
    assert _fillfactor(engine) == ("90" if engine.dialect.name == "postgresql" else None)
    migrate.downgrade(engine, "0033")
    assert _observation_indexes(engine)["ix_observations_organisation_series"] == [*series, "value"]
    assert _fillfactor(engine) is None
    migrate.downgrade(engine, "0006")
    indexes = _observation_indexes(engine)
    assert indexes["ix_observations_organisation_id"] == ["organisation_id"]
    assert "ix_observations_organisation_series" not in indexes
    migrate.upgrade(engine)
    indexes = _observation_indexes(engine)
    assert indexes["ix_observations_organisation_series"] == series
    assert "ix_observations_organisation_id" not in indexes
    assert _fillfactor(engine) == ("90" if engine.dialect.name == "postgresql" else None)
