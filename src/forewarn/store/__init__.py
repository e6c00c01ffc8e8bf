"""The store: SQLAlchemy 2 tables, Alembic migrations and the queries the services use."""
