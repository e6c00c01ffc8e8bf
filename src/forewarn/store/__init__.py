"""The store: SQLAlchemy 2 tables, Alembic migrations and the queries the services use.

Importing the package registers every table on ``Base.metadata`` (migrations and tests rely on it).
"""

from forewarn.store import (
    models,
    models_cases,
    models_experiments,
    models_jobs,
    models_peers,
    models_risk,  # issue 11: the risk model's versions and scores
    models_surveillance,
    models_surveys,
    models_web,
)

__all__ = [
    "models",
    "models_cases",
    "models_experiments",
    "models_jobs",
    "models_peers",
    "models_risk",
    "models_surveillance",
    "models_surveys",
    "models_web",
]
