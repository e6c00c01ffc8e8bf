"""A large Parquet file read in chunks (``forewarn.ingest.chunked``) gives what the whole file read at once gives.

The reference is the whole-file path (``validate_file`` and ``import_file`` below the threshold), tested for its
problems and stored rows elsewhere (test_importer, test_typed_parquet): the same problems (row, column, value,
message), the same organisations, attributes, observations, revisions and batches, ids included, on a fresh store
and on one that already holds the indicators; nothing stored when a chunk is bad or the write fails; nothing left
in the spill folder.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, text

from forewarn.ingest import chunked
from forewarn.ingest.importer import import_file, validate_file
from forewarn.ingest.mapping import parse_mapping
from forewarn.ingest.problems import ImportRejected, ValidationReport
from forewarn.store import adbc_write, bulk, bulk_parts, migrate, sqlite_segments
from forewarn.store.database import make_engine

MAPPING = """
version: 1
dataset: {code: chunked, name: Chunked extract}
columns: {org_code: text, org_name: text, period: date, indicator: text, numerator: integer, denominator: integer,
          expected: number, staff: integer, site: text}
organisation: {code: org_code, name: org_name, attributes: {staff: staff, site: site}}
period: {column: period, format: iso, frequency: month}
exclude:
  - {column: indicator, values: [retired], reason: no longer published}
indicators:
  - {code: seen, name: Seen, kind: proportion, polarity: higher_is_better, where: {indicator: seen},
     numerator: numerator, denominator: denominator}
  - {code: deaths, name: Deaths, kind: ratio_oe, polarity: lower_is_better, where: {indicator: deaths},
     numerator: numerator, expected: expected}
  - {code: falls, name: Falls, kind: count, polarity: lower_is_better, where: {indicator: falls},
     numerator: numerator, on_missing_value: skip}
"""
READ_ROWS = 37
"""Rows a chunk: not a multiple of anything in the file, so that chunks split months and organisations."""


def _frame(orgs: int = 12, months: int = 5, shift: int = 0) -> pl.DataFrame:
    """A long extract, month by month; names change from month to month (the last one stays), attributes are
    given in January and month 3 (the same date twice in the file in some organisations: the last one stays)."""
    rows: list[tuple[object, ...]] = []
    for m in range(months):
        period = dt.date(2021, m + 1, 1)
        for o in range(orgs):
            code = f"ORG{o:03d}"
            name = None if m == 4 and o % 2 else f"Org {o} v{m}"
            staff = 10 + o + m if m in (0, 2) else None
            site = f"site-{o % 3}" if m == 0 else None
            rows.append((code, name, period, "seen", 10 + (o + m + shift) % 7, 20 + o % 5, None, staff, site))
            rows.append((code, None, period, "deaths", (o + shift) % 3, None, 1.5 + o % 4, None, None))
            falls = None if (o + m) % 5 == 0 else (o * m + shift) % 4
            rows.append((code, None, period, "falls", falls, None, None, None, None))
            if o % 4 == 0:
                rows.append((code, None, period, "retired", 1, 1, None, None, None))
    return pl.DataFrame(
        rows,
        schema={
            "org_code": pl.String,
            "org_name": pl.String,
            "period": pl.Date,
            "indicator": pl.String,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
            "expected": pl.Float64,
            "staff": pl.Int64,
            "site": pl.String,
        },
        orient="row",
    )


def _parquet(frame: pl.DataFrame, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame.with_columns(pl.col("org_code", "indicator").cast(pl.Categorical)).write_parquet(
        path, row_group_size=50
    )
    return path


def _mapping_file(folder: Path) -> Path:
    path = folder / "mapping.yml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def _import(engine: Engine, path: Path, chunks: bool) -> Any:
    return import_file(
        engine,
        path,
        _mapping_file(path.parent),
        imported_by="test",
        chunked_rows=10 if chunks else 10**9,
        read_rows=READ_ROWS,
    )


TABLES = {
    "organisations": "id, code, name, type, region, parent_id, dataset_id, created_batch_id",
    "organisation_attributes": "id, organisation_id, name, valid_from, value_number, value_text, batch_id",
    "indicators": "id, code, name, kind, dataset_id",
    "import_batches": "id, source_name, rows_read, rows_skipped, rows_inserted, rows_updated, rows_unchanged, details",
    "observations": "id, organisation_id, indicator_id, period_start, period_end, numerator, denominator, value, "
    "expected, standard_error, batch_id, revision",
    "observation_revisions": "id, observation_id, revision, numerator, denominator, value, batch_id, "
    "replaced_by_batch_id",
    "indicator_data_versions": "indicator_id, version",
}


def _comparable(value: object) -> object:
    """Dates as text (SQLite stores them so); JSON (text on SQLite, read back as a dict on PostgreSQL) with its
    keys sorted (PostgreSQL's JSONB orders them)."""
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value) if isinstance(value, dt.date) else value


def _stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table: [
                tuple(_comparable(v) for v in row)
                for row in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1"))
            ]
            for table, columns in TABLES.items()
        }


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite store loaded the whole-file way, beside the store under test."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _spills(folder: Path) -> list[Path]:
    return sorted(folder.glob("forewarn-import-*"))


def test_a_file_read_in_chunks_stores_what_the_whole_file_stores(
    engine: Engine, reference: Engine, tmp_path: Path
) -> None:
    first = _parquet(_frame(), tmp_path / "first", "extract")
    whole = _import(reference, first, chunks=False)
    result = _import(engine, first, chunks=True)
    assert result.rows_read == whole.rows_read == 12 * 5 * 3 + 3 * 5
    assert result.skipped_reasons == whole.skipped_reasons
    assert result.skipped_reasons == {
        "excluded by mapping (indicator): no longer published": 15,
        "indicator falls: value missing in the file (skipped as the mapping asks)": 12,
    }
    assert result.observations_inserted == whole.observations_inserted == 12 * 5 * 3 - 12
    assert result.attributes_written == whole.attributes_written
    # A second file revises some values and adds a month, into a store that holds the indicators: the merge.
    second = _parquet(_frame(months=6, shift=1), tmp_path / "second", "extract")
    whole = _import(reference, second, chunks=False)
    result = _import(engine, second, chunks=True)
    assert result.observations_updated == whole.observations_updated > 0
    assert result.observations_inserted == whole.observations_inserted > 0
    assert _stored(engine) == _stored(reference)
    assert not _spills(tmp_path / "first") and not _spills(tmp_path / "second")
    # Idempotent: the same file again changes nothing.
    assert _import(engine, second, chunks=True).already_imported


def _bad(frame: pl.DataFrame) -> pl.DataFrame:
    """Problems in several chunks, and a duplicate key whose two rows are in different chunks."""
    index = pl.int_range(pl.len())
    frame = frame.with_columns(
        pl.when(index == 3).then(float("nan")).otherwise(pl.col("expected")).alias("expected"),
        pl.when(index == 100).then(-4).otherwise(pl.col("numerator")).alias("numerator"),
        pl.when(index == 150).then(None).otherwise(pl.col("org_code")).alias("org_code"),
        pl.when(index == 170).then(pl.lit("unheard of")).otherwise(pl.col("indicator")).alias("indicator"),
    )
    duplicate = frame.slice(1, 1)  # organisation ORG000, deaths, January: again at the end of the file
    return pl.concat([frame, duplicate])


def test_a_file_read_in_chunks_gives_the_problems_of_the_whole_file(tmp_path: Path) -> None:
    path = _parquet(_bad(_frame()), tmp_path, "bad")
    mapping = parse_mapping(MAPPING, "mapping.yml")
    whole, _ = validate_file(path, mapping)
    report = ValidationReport(file=path.name)
    spill = tmp_path / "spill"
    spill.mkdir()
    prepared = chunked.prepare_chunked(path, mapping, report, spill, chunk_rows=READ_ROWS)
    assert prepared is not None
    assert report.total_problems == whole.total_problems == 5
    assert sorted(map(str, report.problems)) == sorted(map(str, whole.problems))
    assert sorted(map(str, report.problems)) == [
        "bad.parquet, row 102, column 'numerator': negative count for indicator 'falls' (value '-4.0')",
        "bad.parquet, row 152, column 'org_code': missing organisation code",
        "bad.parquet, row 172, column 'indicator': unknown indicator: no indicator in the mapping matches "
        "indicator=unheard of (value 'unheard of')",
        # The two rows of the key are in different chunks (rows 1-37 and 186-198).
        "bad.parquet, row 197: duplicate key: organisation ORG000, indicator deaths, period starting 2021-01-01 "
        "already on row 3 (value 'ORG000 / deaths / 2021-01-01')",
        "bad.parquet, row 5, column 'expected': not a finite number: infinity and NaN are refused (value 'NaN')",
    ]


def test_a_bad_chunk_stores_nothing_and_names_every_problem(engine: Engine, tmp_path: Path) -> None:
    path = _parquet(_bad(_frame()), tmp_path, "bad")
    with pytest.raises(ImportRejected) as caught:
        _import(engine, path, chunks=True)
    assert caught.value.report.total_problems == 5
    assert all(rows == [] for rows in _stored(engine).values())
    assert not _spills(tmp_path)


def test_a_failure_while_writing_leaves_the_store_as_it_was(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = chunked.Chunked.observation_parts

    def failing(self: chunked.Chunked, order: list[str]) -> Iterator[pl.DataFrame]:
        parts = real(self, order)
        yield next(parts)
        raise OSError("disk full")

    first = _parquet(_frame(), tmp_path / "first", "extract")
    second = _parquet(_frame(months=6, shift=1), tmp_path / "second", "extract")
    # Into the empty store (the parts go straight into the table), then into one holding the indicators (the
    # merge).
    for path, load_first in ((first, False), (second, True)):
        if load_first:
            _import(engine, first, chunks=True)
        before = _stored(engine)
        with monkeypatch.context() as patch:
            patch.setattr(chunked.Chunked, "observation_parts", failing)
            with pytest.raises(OSError, match="disk full"):
                _import(engine, path, chunks=True)
        assert _stored(engine) == before
        assert not _spills(path.parent)
    assert _import(engine, second, chunks=True).observations_updated > 0


def test_a_failure_of_the_writer_midway_leaves_the_store_as_it_was(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts are made one ahead in a thread, and on SQLite written into segments by another while the one
    before is copied (``store.sqlite_segments``): a failure while the second part is written (its segment on
    SQLite, after the first was copied into the table; its ``COPY`` on PostgreSQL) rolls everything back and
    stops the threads."""
    real_write, real_load = adbc_write.write_file, bulk._bulk_load
    taken: list[int] = []

    def write(path: Path, frames: Iterable[pl.DataFrame]) -> None:
        def counted() -> Iterator[pl.DataFrame]:
            for frame in frames:
                taken.append(frame.height)
                if len(taken) == 2:
                    raise OSError("disk full")
                yield frame

        real_write(path, counted())

    def load(*args: Any) -> None:
        taken.append(args[2].height)
        if len(taken) == 2:
            raise OSError("disk full")
        real_load(*args)

    path = _parquet(_frame(), tmp_path / "first", "extract")
    before = _stored(engine)
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_segments, "write_file", write)
        patch.setattr(bulk_parts, "_bulk_load", load)
        with pytest.raises(OSError, match="disk full"):
            _import(engine, path, chunks=True)
    assert len(taken) == 2 and all(taken)
    assert _stored(engine) == before
    assert not [t for t in threading.enumerate() if t.name == "forewarn-parts-ahead"]
    assert not _spills(path.parent)
    assert not list(path.parent.glob("forewarn-segments-*")) and not list(
        tmp_path.glob("forewarn-segments-*")
    )
    assert _import(engine, path, chunks=True).observations_inserted == len(_stored(engine)["observations"])
