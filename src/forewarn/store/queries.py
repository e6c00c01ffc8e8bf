"""Read queries shared by the CLI, the API and the pages, so all three show the same numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, distinct, func, inspect, select

from forewarn.store.models import Dataset, ImportBatch, Indicator, Observation, Organisation


@dataclass(frozen=True)
class DatasetSummary:
    code: str
    name: str
    simulated: bool
    organisations: int
    indicators: int
    periods: int
    observations: int
    first_period: dt.date | None
    last_period: dt.date | None
    batches: int


def dataset_summaries(conn: Connection) -> list[DatasetSummary]:
    """Per dataset: organisations with data, indicators, distinct periods and observation rows."""
    obs = (
        select(
            Indicator.dataset_id.label("dataset_id"),
            func.count(distinct(Observation.organisation_id)).label("organisations"),
            func.count(distinct(Observation.indicator_id)).label("indicators"),
            func.count(distinct(Observation.period_start)).label("periods"),
            func.count().label("observations"),
            func.min(Observation.period_start).label("first_period"),
            func.max(Observation.period_start).label("last_period"),
        )
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .group_by(Indicator.dataset_id)
        .subquery()
    )
    batches = (
        select(ImportBatch.dataset_id.label("dataset_id"), func.count().label("batches"))
        .group_by(ImportBatch.dataset_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            Dataset.code,
            Dataset.name,
            Dataset.simulated,
            func.coalesce(obs.c.organisations, 0),
            func.coalesce(obs.c.indicators, 0),
            func.coalesce(obs.c.periods, 0),
            func.coalesce(obs.c.observations, 0),
            obs.c.first_period,
            obs.c.last_period,
            func.coalesce(batches.c.batches, 0),
        )
        .outerjoin(obs, obs.c.dataset_id == Dataset.id)
        .outerjoin(batches, batches.c.dataset_id == Dataset.id)
        .order_by(Dataset.code)
    ).all()
    return [DatasetSummary(*row) for row in rows]


def observations_frame(conn: Connection, indicator_code: str) -> pl.DataFrame:
    """Every observation of one indicator, with organisation codes, in period order."""
    query = (
        select(
            Organisation.code.label("org_code"),
            Organisation.name.label("org_name"),
            Indicator.code.label("indicator_code"),
            Observation.period_start,
            Observation.period_end,
            Observation.numerator,
            Observation.denominator,
            Observation.value,
            Observation.expected,
            Observation.standard_error,
            Observation.revision,
            Observation.batch_id,
        )
        .join(Organisation, Organisation.id == Observation.organisation_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .where(Indicator.code == indicator_code)
        .order_by(Organisation.code, Observation.period_start)
    )
    rows = conn.execute(query).all()
    schema = {
        "org_code": pl.String,
        "org_name": pl.String,
        "indicator_code": pl.String,
        "period_start": pl.Date,
        "period_end": pl.Date,
        "numerator": pl.Float64,
        "denominator": pl.Float64,
        "value": pl.Float64,
        "expected": pl.Float64,
        "standard_error": pl.Float64,
        "revision": pl.Int64,
        "batch_id": pl.Int64,
    }
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


FORMULA_START = r"^[=+\-@\t\r]"
"""Text a spreadsheet may run as a formula when it opens a CSV file (OWASP's CSV injection list)."""


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells starting with ``= + - @``, a tab or a carriage return get a leading apostrophe, so a spreadsheet
    opening the CSV shows them as text instead of running them. Numbers are left as they are.

    >>> spreadsheet_safe(pl.DataFrame({"name": ["=cmd|' /C calc'!A0", "Alpha"], "value": [-1.0, 2.0]})).rows()
    [("'=cmd|' /C calc'!A0", -1.0), ('Alpha', 2.0)]
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def indicator_codes(conn: Connection) -> list[str]:
    return list(conn.execute(select(Indicator.code).order_by(Indicator.code)).scalars())


def counts(conn: Connection) -> dict[str, int]:
    """Row counts of the main tables (used by tests to check that nothing changed)."""
    from forewarn.store.models import Base

    existing = set(inspect(conn).get_table_names())  # a store downgraded below a table's migration lacks it
    result: dict[str, int] = {}
    for name, table in Base.metadata.tables.items():
        if name not in existing:
            continue
        result[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return result
