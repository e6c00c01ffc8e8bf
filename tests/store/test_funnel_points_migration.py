"""Migration 0006 adds to series_status exactly the funnel columns the model describes, and undoes them without
losing a row; the next scan fills them in."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.models import Base
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.surveillance.scan import run_scan
from tests.surveillance.test_scan import MAPPING, _panel_csv

FUNNEL_COLUMNS = {
    "funnel_data_type",
    "funnel_ratio",
    "funnel_denominator",
    "funnel_lower",
    "funnel_upper",
    "funnel_target",
    "funnel_phi",
    "funnel_tau2",
}


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("series_status")}


def test_migration_matches_the_model(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if "series_status" in repr(d)]
    assert diffs == []


def test_downgrade_drops_the_funnel_columns_and_upgrade_restores_them(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, _panel_csv(tmp_path), mapping_text=MAPPING)
    run_scan(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(SeriesStatus)).scalar_one()
    assert rows == 40 and _columns(engine) >= FUNNEL_COLUMNS

    migrate.downgrade(engine, "0005")
    assert migrate.current_revision(engine) == "0005"
    assert not FUNNEL_COLUMNS & _columns(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SeriesStatus)).scalar_one() == 40

    migrate.upgrade(engine)
    assert _columns(engine) >= FUNNEL_COLUMNS
    with engine.connect() as conn:
        filled = select(func.count()).where(SeriesStatus.funnel_ratio.is_not(None))
        assert conn.execute(filled).scalar_one() == 0
    # The next scan sees the new columns differ and rewrites every compared series with them.
    again = run_scan(engine)
    with engine.connect() as conn:
        assert conn.execute(filled).scalar_one() == again.summary["funnel_tests"] == 40
