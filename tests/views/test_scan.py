"""The latest scan and its options, with the defaults before the first scan; the store's data version."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, insert, select, update

from forewarn.store.database import read_connection, writes_on
from forewarn.store.models import Event, ImportBatch, Indicator, Organisation
from forewarn.store.models_surveillance import SpcBaseline
from forewarn.store.models_surveys import SurveyWave
from forewarn.surveillance.scan import run_scan
from forewarn.views.scan import (
    DEFAULT_FDR_ALPHA,
    DEFAULT_FUNNEL_LIMIT,
    data_version,
    funnel_limit_and_alpha,
    latest_scan,
)
from tests.web.risk_world import store_risk_scores
from tests.web.world import build_world


def test_no_scan_then_the_latest(engine: Engine) -> None:
    build_world(engine, scan=False)
    with engine.connect() as conn:
        assert latest_scan(conn) is None
        assert funnel_limit_and_alpha(conn) == (DEFAULT_FUNNEL_LIMIT, DEFAULT_FDR_ALPHA)
    run_scan(engine)
    run_scan(engine)
    with engine.connect() as conn:
        scan = latest_scan(conn)
        assert scan is not None and scan.id == 2 and scan.series_scanned == 8
        assert scan.started_at.tzinfo is not None  # served as UTC on every store
        assert funnel_limit_and_alpha(conn) == (99.8, 0.05)


def test_the_data_version_moves_with_every_change_a_kept_page_depends_on(engine: Engine) -> None:
    """Each change that may alter a page moves the version (a scan, an import, a new organisation, a baseline
    set, a baseline removed, an event recorded, a survey wave closed), and reading moves nothing."""
    world = build_world(engine, scan=False)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

    def version() -> tuple[int, ...]:
        with engine.connect() as conn:
            return data_version(conn)

    seen = [version()]
    assert version() == seen[0]
    run_scan(engine)
    seen.append(version())
    with engine.begin() as conn:
        conn.execute(
            insert(ImportBatch).values(
                source_name="f.csv",
                checksum="c",
                mapping_checksum="m",
                imported_by="t",
                started_at=now,
                finished_at=now,
                status="complete",
            )
        )
    seen.append(version())
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(code="NEW1", name="New Trust"))
    seen.append(version())
    with engine.begin() as conn:
        org = conn.execute(select(Organisation.id).where(Organisation.code == "NEW1")).scalar_one()
        indicator = conn.execute(select(Indicator.id).limit(1)).scalar_one()
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=org,
                indicator_id=indicator,
                rebase_from=dt.date(2024, 1, 1),
                reason="r",
                created_by="t",
                created_at=now,
            )
        )
    seen.append(version())
    with engine.begin() as conn:
        conn.execute(delete(SpcBaseline))
    seen.append(version())
    with engine.begin() as conn:  # a case records the start of an intervention (issue 14)
        conn.execute(
            insert(Event).values(organisation_id=org, date=dt.date(2024, 2, 1), kind="intervention_start")
        )
    seen.append(version())
    with engine.begin() as conn:  # a survey wave closes: its results are published (soft measures)
        conn.execute(update(SurveyWave).where(SurveyWave.status == "open").values(status="closed"))
    seen.append(version())
    store_risk_scores(world, engine)  # a model scores the organisations (issue 11: why on the watchlist)
    seen.append(version())
    assert len(set(seen)) == len(seen), seen


def test_a_connection_reads_the_version_once_until_its_transaction_ends(engine: Engine) -> None:
    """A request reads the data version once for all its kept reads; a write on its connection
    (``writes_on``) ends that, so what the request reads after its own change is keyed by the new version."""
    build_world(engine, scan=False)
    with read_connection(engine) as conn:
        first = data_version(conn)
        with engine.begin() as other:  # another request's change, during this one: not seen until it ends
            other.execute(insert(Organisation).values(code="ELSEWHERE", name="Elsewhere"))
        assert data_version(conn) == first
        with writes_on(conn):
            conn.execute(insert(Organisation).values(code="MINE", name="Mine"))
        after = data_version(conn)
    assert after.organisation > first.organisation
    with engine.connect() as conn:
        assert data_version(conn) == after
