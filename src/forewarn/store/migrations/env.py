"""Alembic environment: batch mode (for SQLite's ALTER TABLE limits) and our metadata's naming convention."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from forewarn.store.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    # The store is given its database, never reads the settings: by hand, name it in Alembic's own config.
    from forewarn.store.database import make_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database to migrate: run `forewarn db upgrade`, or set sqlalchemy.url in Alembic's config"
        )
    engine = make_engine(url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()
