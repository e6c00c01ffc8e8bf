"""A rescan does only the work that changed: with nothing new it loads and computes nothing and carries the last
figures over; after a change of data, of a rebase or of the options its stored results are those of a scan from
scratch of the same data on a fresh store, row for row."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.store.models_surveillance import ScanRun, SpcBaseline
from forewarn.store.signals import current_signals
from forewarn.surveillance import scan as scan_module
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.scan import STATUS_COLUMNS, run_scan
from tests.conftest import POSTGRES_ADMIN_URL, test_database_kind
from tests.surveillance.test_scan import MAPPING, _panel_csv


@contextlib.contextmanager
def _fresh_store(tmp_path: Path) -> Iterator[Engine]:
    """A second migrated, empty store of the kind under test (the ``engine`` fixture is the first)."""
    if test_database_kind() == "postgresql":
        name = f"forewarn_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if test_database_kind() == "postgresql":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _stored(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every series_status and series_signals row, keyed by codes (ids and scan ids differ between stores), sorted;
    the packed signals as their text, floats included."""
    status_columns = ", ".join(f"s.{c}" for c in STATUS_COLUMNS)
    joins = "JOIN organisations o ON o.id = s.organisation_id JOIN indicators i ON i.id = s.indicator_id"
    with engine.connect() as conn:
        status = conn.exec_driver_sql(f"SELECT o.code, i.code, {status_columns} FROM series_status s {joins}")
        signals = conn.exec_driver_sql(
            f"SELECT o.code, i.code, s.signal_count, s.entries FROM series_signals s {joins}"
        )
        return sorted(map(tuple, status), key=repr), sorted(map(tuple, signals), key=repr)


def _spc_and_cusum(engine: Engine, indicator: str) -> list[tuple[object, ...]]:
    """The current SPC and CUSUM signals of one indicator's series, as stored (unpacked), sorted."""
    with engine.connect() as conn:
        signals = current_signals(conn).filter(
            pl.col("indicator_id").is_in(list(_ids(engine, indicator))) & (pl.col("method") != "funnel")
        )
    return sorted(signals.rows(), key=repr)


def _baseline(engine: Engine, org: str = "ORG00", indicator: str = "perf") -> None:
    with engine.begin() as conn:
        o = conn.execute(select(Organisation.id).where(Organisation.code == org)).scalar_one()
        i = conn.execute(select(Indicator.id).where(Indicator.code == indicator)).scalar_one()
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=o,
                indicator_id=i,
                rebase_from=dt.date(2021, 1, 1),
                reason="new pathway",
                created_by="tester",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def _revised_csv(path: Path, tmp_path: Path) -> Path:
    """The same file with ORG05's deaths revised in three months: the mortality indicator changes, perf does not."""
    frame = pl.read_csv(path)
    revised = frame.with_columns(
        pl.when(
            (pl.col("org") == "ORG05") & pl.col("period").is_in(["2021-06-01", "2021-07-01", "2021-08-01"])
        )
        .then(pl.col("deaths") * 3)
        .otherwise(pl.col("deaths"))
        .alias("deaths")
    )
    out = tmp_path / "revised.csv"
    revised.write_csv(out)
    return out


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    path = _panel_csv(tmp_path)
    import_file(engine, path, mapping_text=MAPPING)
    run_scan(engine)
    return engine, path


def _loads(monkeypatch: pytest.MonkeyPatch) -> list[set[int] | None]:
    """The scan's reads of observations: the indicator ids each read asked for (None: all)."""
    calls: list[set[int] | None] = []
    load = scan_module.load_partitions

    def counting(conn, indicator_ids=None, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(None if indicator_ids is None else set(indicator_ids))
        return load(conn, indicator_ids, **kwargs)

    monkeypatch.setattr(scan_module, "load_partitions", counting)
    return calls


def _ids(engine: Engine, *codes: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(Indicator.id).where(Indicator.code.in_(codes))).scalars())


def test_a_rescan_with_nothing_new_loads_nothing_and_carries_the_figures(
    scanned: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = scanned
    before = _stored(engine)
    with engine.connect() as conn:
        first = conn.execute(select(ScanRun.id, ScanRun.summary).order_by(ScanRun.id.desc())).first()
    assert first is not None and first.summary is not None
    loads = _loads(monkeypatch)
    again = run_scan(engine)
    assert loads == []
    assert (again.series_scanned, again.series_changed, again.signals_written) == (40, 0, 0)
    assert again.summary == {**first.summary, "series_removed": 0, "unchanged_since_scan": first.id}
    assert _stored(engine) == before
    with engine.connect() as conn:
        last = conn.execute(
            select(ScanRun.summary, ScanRun.finished_at, ScanRun.series_scanned).where(
                ScanRun.id == again.scan_id
            )
        ).one()
    assert last.summary == again.summary and last.finished_at is not None and last.series_scanned == 40
    # --full recomputes all the same, and finds nothing to write.
    full = run_scan(engine, full=True)
    assert loads == [_ids(engine, "perf", "mort")]
    assert full.series_changed == 0 and full.signals_written == 0
    assert {k: v for k, v in full.summary.items() if k != "series_removed"} == {
        k: v for k, v in first.summary.items() if k != "series_removed"
    }


def test_a_revised_indicator_is_rescanned_as_a_fresh_store_would_be(
    scanned: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = scanned
    revised = _revised_csv(path, tmp_path)
    import_file(engine, revised, mapping_text=MAPPING)
    perf_before = _spc_and_cusum(engine, "perf")
    loads = _loads(monkeypatch)
    result = run_scan(engine)
    # Only the revised indicator is loaded and computed; perf's rows are kept, its funnels' q recomputed.
    assert loads == [_ids(engine, "mort")]
    assert result.series_changed > 0
    # perf's SPC and CUSUM signals are those of the first scan, carried (not recomputed) into the series whose
    # funnel q moved, and still the first scan's rows elsewhere; only mort's were computed again.
    assert perf_before and _spc_and_cusum(engine, "perf") == perf_before
    with _fresh_store(tmp_path) as fresh:
        import_file(fresh, revised, mapping_text=MAPPING)
        scratch = run_scan(fresh)
        assert _stored(engine) == _stored(fresh)
    assert {k: v for k, v in result.summary.items() if k != "series_removed"} == {
        k: v for k, v in scratch.summary.items() if k != "series_removed"
    }
    # And the next rescan has nothing new again (the fresh store's scan loaded once too).
    assert run_scan(engine).series_changed == 0 and len(loads) == 2


def test_a_new_rebase_is_rescanned_as_a_fresh_store_would_be(
    scanned: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = scanned
    _baseline(engine)
    loads = _loads(monkeypatch)
    result = run_scan(engine)
    assert loads == [_ids(engine, "perf")] and result.series_changed > 0
    with _fresh_store(tmp_path) as fresh:
        import_file(fresh, path, mapping_text=MAPPING)
        _baseline(fresh)
        run_scan(fresh)
        assert _stored(engine) == _stored(fresh)


def test_changed_options_are_rescanned_as_a_fresh_store_would_be(
    scanned: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = scanned
    options = ScanOptions(fdr_alpha=0.2, cusum_rate_ratio=1.5)
    loads = _loads(monkeypatch)
    result = run_scan(engine, options)
    assert len(loads) == 1 and result.series_changed > 0
    with _fresh_store(tmp_path) as fresh:
        import_file(fresh, path, mapping_text=MAPPING)
        run_scan(fresh, options)
        assert _stored(engine) == _stored(fresh)
    # The same options again: nothing new; back to the defaults: everything recomputed (the fresh store's scan
    # loaded once too).
    assert run_scan(engine, options).series_changed == 0 and len(loads) == 2
    run_scan(engine)
    assert len(loads) == 3


def test_an_edit_outside_the_importer_is_seen_by_a_full_scan_only(
    scanned: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value changed in place (no import) leaves the data versions as they were: a rescan skips it, by design
    (it reads one row per indicator, not the observations), and ``full=True`` sees it."""
    engine, _ = scanned
    with engine.begin() as conn:
        row = conn.execute(select(Observation.id, Observation.numerator).limit(1)).one()
        conn.execute(
            Observation.__table__.update().where(Observation.id == row.id).values(numerator=row.numerator - 1)
        )
    loads = _loads(monkeypatch)
    assert run_scan(engine).series_changed == 0
    assert len(loads) == 0
    assert run_scan(engine, full=True).series_changed > 0
    assert len(loads) == 1


def test_a_deletion_outside_the_importer_is_seen_by_a_full_scan_only(
    scanned: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = scanned
    with engine.begin() as conn:
        conn.execute(Observation.__table__.delete().where(Observation.period_start == dt.date(2021, 12, 1)))
    loads = _loads(monkeypatch)
    assert run_scan(engine).series_changed == 0 and len(loads) == 0
    assert run_scan(engine, full=True).series_changed > 0
    assert len(loads) == 1


def test_an_import_of_new_months_is_seen(
    scanned: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import that only adds rows (no revision of earlier ones) moves the version and is rescanned."""
    engine, path = scanned
    frame = pl.read_csv(path)
    later = frame.filter(pl.col("period") == "2021-12-01").with_columns(pl.lit("2022-01-01").alias("period"))
    added = tmp_path / "added.csv"
    pl.concat([frame, later]).write_csv(added)
    result = import_file(engine, added, mapping_text=MAPPING)
    assert result.observations_inserted > 0 and result.observations_updated == 0
    loads = _loads(monkeypatch)
    assert run_scan(engine).series_changed > 0
    assert len(loads) == 1


def test_the_scan_command_skips_an_unchanged_store_unless_full(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from forewarn.cli import app
    from forewarn.settings import get_settings

    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        engine = make_engine(database_url)
        migrate.upgrade(engine)
        import_file(engine, _panel_csv(tmp_path), mapping_text=MAPPING)
        engine.dispose()
        first = runner.invoke(app, ["scan", "--json"])
        assert first.exit_code == 0, first.stderr
        loads = _loads(monkeypatch)
        again = runner.invoke(app, ["scan", "--json"])
        assert again.exit_code == 0 and loads == []
        assert (
            json.loads(again.stdout)["summary"]["unchanged_since_scan"] == json.loads(first.stdout)["scan_id"]
        )
        full = runner.invoke(app, ["scan", "--json", "--full"])
        assert full.exit_code == 0 and len(loads) == 1
        assert "unchanged_since_scan" not in json.loads(full.stdout)["summary"]
    finally:
        get_settings.cache_clear()
