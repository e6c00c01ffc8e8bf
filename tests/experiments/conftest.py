"""A small world for the registry: organisations in two regions, one indicator, monthly values for two years."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import Engine, insert, select, update

from forewarn.domain import Polarity
from forewarn.store.models import ImportBatch, Indicator, IndicatorKind, Observation, Organisation

START = dt.date(2024, 1, 1)
CODES = [f"ORG{i:02d}" for i in range(24)]


def months(n: int) -> list[dt.date]:
    return [dt.date(2023 + (m // 12), m % 12 + 1, 1) for m in range(n)]


def build_world(engine: Engine, *, seed: int = 0) -> None:
    """24 organisations (north/south), indicator 'waits' (lower is better), 24 months from January 2023."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Organisation),
            [
                {"code": c, "name": f"Organisation {c}", "region": ("north", "south")[i % 2], "type": "trust"}
                for i, c in enumerate(CODES)
            ],
        )
        conn.execute(
            insert(Indicator).values(
                code="waits",
                name="Waiting time",
                kind=IndicatorKind.MEAN,
                polarity=Polarity.LOWER_IS_BETTER,
                multiplier=1.0,
            )
        )
        batch = conn.execute(
            insert(ImportBatch)
            .values(
                source_name="test",
                checksum="x",
                mapping_checksum="y",
                imported_by="t",
                started_at=now,
                finished_at=now,
            )
            .returning(ImportBatch.id)
        ).scalar_one()
        indicator = conn.execute(select(Indicator.id)).scalar_one()
        orgs = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        rows = []
        for code in CODES:
            level = rng.normal(50, 5)
            for m in months(24):
                value = level + rng.normal(0, 2)
                rows.append(
                    {
                        "organisation_id": orgs[code],
                        "indicator_id": indicator,
                        "period_start": m,
                        "period_end": m,
                        "value": value,
                        "batch_id": batch,
                    }
                )
        conn.execute(insert(Observation), rows)


def inject(engine: Engine, arm_of: dict[str, str], effect: float, arm: str = "intervention") -> None:
    """Add ``effect`` to every value of the ``arm`` from START on: the known truth an analysis must recover."""
    with engine.begin() as conn:
        orgs = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        ids = [orgs[c] for c, a in arm_of.items() if a == arm]
        conn.execute(
            update(Observation)
            .where(Observation.organisation_id.in_(ids), Observation.period_start >= START)
            .values(value=Observation.value + effect)
        )


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine
