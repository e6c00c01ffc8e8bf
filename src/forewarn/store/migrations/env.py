"""Alembic environment: batch mode (for SQLite's ALTER TABLE limits) and our metadata's naming convention."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from forewarn.store.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from forewarn.settings import get_settings
    from forewarn.store.database import make_engine

    engine = make_engine(get_settings().resolved_database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()
