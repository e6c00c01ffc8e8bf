"""The store the commands work on: its engine, and the same migrated to the newest schema first.

SQLAlchemy and Alembic are imported when a command asks, so that `forewarn --help` stays fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from forewarn.settings import Settings


def store_engine(settings: Settings | None = None) -> Engine:
    """The engine of the store the settings name (default: the process's settings)."""
    from forewarn.settings import get_settings
    from forewarn.store.database import make_engine

    return make_engine((settings or get_settings()).resolved_database_url)


def migrated_engine(settings: Settings | None = None) -> Engine:
    """:func:`store_engine`, migrated to the newest schema first."""
    from forewarn.store import migrate

    engine = store_engine(settings)
    migrate.upgrade(engine)
    return engine
