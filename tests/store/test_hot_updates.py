"""Migration 0034 (the series index without ``value``; on PostgreSQL, pages filled to 90% so that a revision is a
HOT update) stores exactly what the store before it stored: the same realistic extract (numerator and denominator
of three indicators, then a second file with revisions and new months) imported into a store migrated to 0033 and
into one at head gives the same rows, ids, revisions and data versions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, create_engine, text

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.pg_keys import CHECKED_ROWS
from tests.conftest import POSTGRES_ADMIN_URL, test_database_kind

ORGS, MONTHS, INDICATORS = 100, 24, 3
TABLES = {
    "observations": "id",
    "observation_revisions": "id",
    "indicator_data_versions": "indicator_id",
    "organisations": "id",
    "indicators": "id",
}


def _mapping() -> str:
    columns = "\n".join(f"  num_{i}: integer\n  den_{i}: integer" for i in range(INDICATORS))
    specs = "\n".join(
        f"  - {{code: ind_{i}, name: Indicator {i}, kind: proportion, polarity: higher_is_better, "
        f"numerator: num_{i}, denominator: den_{i}}}"
        for i in range(INDICATORS)
    )
    return (
        "version: 1\ndataset: {code: hot, name: HOT updates}\n"
        f"columns:\n  period: date\n  org_code: text\n{columns}\n"
        "organisation: {code: org_code}\nperiod: {column: period, format: iso, frequency: month}\n"
        f"indicators:\n{specs}\n"
    )


def _extract(first_month: int, months: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    periods = (np.datetime64("2018-01", "M") + first_month + np.arange(months)).astype("datetime64[D]")
    columns: dict[str, object] = {
        "period": np.tile(periods, ORGS),
        "org_code": np.repeat(np.char.add("ORG", np.arange(ORGS).astype(str)), months),
    }
    for i in range(INDICATORS):
        denominator = rng.integers(50, 5000, ORGS * months)
        columns[f"num_{i}"] = rng.binomial(denominator, 0.8)
        columns[f"den_{i}"] = denominator
    return pl.DataFrame(columns)


def _files(tmp_path: Path) -> tuple[Path, Path, Path, int]:
    """The first extract, and a second one: its last 12 months again, a quarter of the rows revised (every
    numerator one less), then 6 new months (as ``bench/import_bench.py`` makes them, smaller); and how many rows
    were revised."""
    first = _extract(0, MONTHS, seed=7)
    again = first.filter(pl.col("period") >= np.datetime64("2018-01", "M") + MONTHS - 12)
    revise = pl.Series(np.random.default_rng(8).random(again.height) < 0.25)
    again = again.with_columns(
        [
            pl.when(revise).then(pl.col(f"num_{i}") - 1).otherwise(pl.col(f"num_{i}"))
            for i in range(INDICATORS)
        ]
    )
    paths = (tmp_path / "first.csv", tmp_path / "second.csv", tmp_path / "mapping.yml")
    first.write_csv(paths[0])
    pl.concat([again, _extract(MONTHS, 6, seed=9)]).write_csv(paths[1])
    paths[2].write_text(_mapping(), encoding="utf-8")
    return (*paths, int(revise.sum()))


@contextmanager
def _store(tmp_path: Path, name: str) -> Iterator[Engine]:
    if test_database_kind() != "postgresql":
        engine = make_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    database = f"forewarn_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    engine = make_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))]
            for table, key in TABLES.items()
        }


def _imported(
    engine: Engine, first: Path, second: Path, mapping: Path, revised: int
) -> dict[str, list[tuple[object, ...]]]:
    import_file(engine, first, mapping)
    result = import_file(engine, second, mapping)
    # Each revised row changes every indicator's numerator, so each of its observations; 6 new months.
    assert (result.observations_updated, result.observations_inserted) == (
        revised * INDICATORS,
        ORGS * 6 * INDICATORS,
    )
    return _rows(engine)


def test_a_populated_import_stores_what_it_stored_before_0034(tmp_path: Path) -> None:
    first, second, mapping, revised = _files(tmp_path)
    # Large enough for the import's large-write path on PostgreSQL (keys checked once, triggers off).
    assert ORGS * (12 + 6) * INDICATORS >= CHECKED_ROWS
    with _store(tmp_path, "before") as before, _store(tmp_path, "after") as after:
        migrate.upgrade(before, "0033")
        migrate.upgrade(after)
        assert migrate.current_revision(after) == "0034"
        stored_before = _imported(before, first, second, mapping, revised)
        stored_after = _imported(after, first, second, mapping, revised)
    assert len(stored_after["observation_revisions"]) == revised * INDICATORS > 0
    assert len(stored_after["observations"]) == ORGS * (MONTHS + 6) * INDICATORS
    assert stored_after == stored_before
