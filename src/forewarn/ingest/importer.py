"""Import one file through its mapping: validate everything, then write everything in one transaction, or nothing."""

from __future__ import annotations

import getpass
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

from forewarn.ingest.chunked import CHUNK_ROWS, CHUNKED_ROWS, Chunked, chunked_file, prepare_chunked
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import Mapping, file_checksum, parse_mapping, read_mapping_text, text_checksum
from forewarn.ingest.problems import ImportRejected, ValidationReport
from forewarn.ingest.readers import read_table
from forewarn.ingest.transform import Prepared, prepare
from forewarn.store import bulk, bulk_parts


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or, for a repeat of an earlier import, that it did nothing)."""

    file: str
    dataset: str
    batch_id: int | None
    already_imported: bool
    rows_read: int
    rows_skipped: int
    observations_inserted: int = 0
    observations_updated: int = 0
    observations_unchanged: int = 0
    organisations_created: int = 0
    indicators_created: int = 0
    events_inserted: int = 0
    attributes_written: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    previous_batch_id: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        if self.already_imported:
            return (
                f"{self.file}: already imported as batch {self.previous_batch_id} with this mapping; "
                "nothing changed"
            )
        parts = [
            f"{self.file}: batch {self.batch_id}",
            f"{self.rows_read} rows read",
            f"{self.observations_inserted} observations added",
            f"{self.observations_updated} revised",
            f"{self.observations_unchanged} unchanged",
        ]
        if self.events_inserted:
            parts.append(f"{self.events_inserted} events added")
        if self.organisations_created:
            parts.append(f"{self.organisations_created} new organisations")
        if self.rows_skipped:
            parts.append(f"{self.rows_skipped} skipped")
        return ", ".join(parts)


Stage = Callable[[str, int | None], Callable[[int], None]]


def _no_stage(_name: str, _total: int | None) -> Callable[[int], None]:
    return lambda _n: None


def validate_file(
    path: Path, mapping: Mapping, max_listed: int = 1000, limits: Limits | None = None
) -> tuple[ValidationReport, Prepared | None]:
    """Read and check ``path``; the report lists every problem. ``Prepared`` is None when the file is unreadable.

    ``limits`` (file size, rows, cell length, workbook inflation, date horizon): the caller's, from its settings
    (:meth:`Limits.from_settings`); the settings' defaults when not given."""
    from forewarn.ingest.readers import UnreadableFile

    limits = limits or Limits()
    report = ValidationReport(file=path.name, max_listed=max_listed)
    try:
        table = read_table(path, mapping.file, list(mapping.columns), limits)
    except UnreadableFile as exc:
        report.extend(exc.problems)
        return report, None
    prepared = prepare(table, mapping, report, limits)
    return report, prepared


def _indicator_rows(mapping: Mapping, dataset_id: int) -> list[dict[str, object]]:
    frequency = mapping.period.frequency if mapping.period else None
    return [
        {
            "code": spec.code,
            "name": spec.name,
            "unit": spec.unit,
            "kind": spec.kind,
            "polarity": spec.polarity,
            "target": spec.target,
            "multiplier": spec.multiplier,
            "frequency": frequency or (mapping.period.format if mapping.period else None),
            "description": spec.description,
            "dataset_id": dataset_id,
        }
        for spec in mapping.indicators
    ]


def import_file(
    engine: Engine,
    path: Path,
    mapping_path: Path | None = None,
    *,
    mapping_text: str | None = None,
    imported_by: str | None = None,
    chunk_rows: int = 100_000,
    max_listed: int = 1000,
    stage: Stage = _no_stage,
    limits: Limits | None = None,
    chunked_rows: int = CHUNKED_ROWS,
    read_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Validate ``path`` against its mapping and write it, all or nothing.

    Raises :class:`ImportRejected` (with the full report) when anything is wrong; nothing is written then.
    Re-importing a file already imported with the same mapping changes nothing and says so.

    A Parquet file of observations of more than ``chunked_rows`` rows is read ``read_rows`` at a time
    (:mod:`forewarn.ingest.chunked`): the same checks, problems and stored rows, in memory that does not grow
    with the file.
    """
    if mapping_text is None:
        if mapping_path is None:
            raise ValueError("give a mapping file or mapping text")
        mapping_text = read_mapping_text(mapping_path)
        mapping = parse_mapping(mapping_text, str(mapping_path))
    else:
        mapping = parse_mapping(mapping_text, mapping_path.name if mapping_path else "mapping")
    checksum = file_checksum(path) if path.exists() else ""
    mapping_sum = text_checksum(mapping_text)

    with engine.connect() as conn:
        previous = bulk.find_batch(conn, checksum, mapping_sum) if checksum else None
    if previous is not None:
        return ImportResult(
            file=path.name,
            dataset=mapping.dataset.code,
            batch_id=None,
            already_imported=True,
            rows_read=int(previous["rows_read"]),
            rows_skipped=int(previous["rows_skipped"]),
            previous_batch_id=int(previous["id"]),
        )

    tick = stage("Validating", None)
    if chunked_file(path, mapping, chunked_rows):
        with _spill_folder(path) as folder:
            report = ValidationReport(file=path.name, max_listed=max_listed)
            chunked = prepare_chunked(path, mapping, report, folder, limits, read_rows)
            tick(1)
            if not report.ok or chunked is None:
                raise ImportRejected(report)
            return _write(
                engine, path, mapping, checksum, mapping_sum, imported_by, chunked, chunk_rows, stage
            )
    report, prepared = validate_file(path, mapping, max_listed, limits)
    tick(1)
    if not report.ok or prepared is None:
        raise ImportRejected(report)
    return _write(engine, path, mapping, checksum, mapping_sum, imported_by, prepared, chunk_rows, stage)


@contextmanager
def _spill_folder(path: Path) -> Iterator[Path]:
    """A folder for the rows of a file read in chunks: beside the file (a disk with room for it), or the
    temporary folder when that one is read-only to us; removed afterwards."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="forewarn-import-", dir=path.parent))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="forewarn-import-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ids(observations: pl.DataFrame, org_ids: dict[str, int], indicator_ids: dict[str, int]) -> pl.DataFrame:
    return observations.select(
        pl.col("org_code").replace_strict(org_ids, return_dtype=pl.Int64).alias("organisation_id"),
        pl.col("indicator_code").replace_strict(indicator_ids, return_dtype=pl.Int64).alias("indicator_id"),
        "period_start",
        "period_end",
        "numerator",
        "denominator",
        "value",
        "expected",
        "standard_error",
    )


def _write_chunked(
    conn: Connection,
    chunked: Chunked,
    org_ids: dict[str, int],
    indicator_ids: dict[str, int],
    batch_id: int,
    chunk_rows: int,
    progress: Callable[[int], None],
) -> tuple[int, int, int]:
    """The observations of a file read in chunks, one indicator at a time (in the order of their ids, each
    sorted as the store's key), straight into the table when the store holds none of its indicators; else (a
    file of indicators already stored) all at once through the merge, as any file."""
    order = sorted(chunked.observation_rows, key=lambda code: indicator_ids[code])
    parts = (
        _ids(part, org_ids, indicator_ids).sort("organisation_id", "period_start")
        for part in chunked.observation_parts(order)
    )
    if not sum(chunked.observation_rows.values()):
        return 0, 0, 0
    if bulk_parts.holds_observations(conn, [indicator_ids[code] for code in order]):
        observations = pl.concat(list(parts))
        return bulk.write_observations(conn, observations, batch_id, chunk_rows=chunk_rows, progress=progress)
    inserted = bulk_parts.insert_parts(conn, parts, batch_id, chunk_rows=chunk_rows, progress=progress)
    return inserted, 0, 0


def _write(
    engine: Engine,
    path: Path,
    mapping: Mapping,
    checksum: str,
    mapping_sum: str,
    imported_by: str | None,
    prepared: Prepared | Chunked,
    chunk_rows: int,
    stage: Stage,
) -> ImportResult:
    """Write what was validated, all in one transaction (or nothing)."""
    who = imported_by or getpass.getuser()
    with bulk.import_transaction(engine) as conn:
        dataset_id = bulk.upsert_dataset(
            conn,
            mapping.dataset.code,
            {
                "name": mapping.dataset.name,
                "source": mapping.dataset.source,
                "licence": mapping.dataset.licence,
                "simulated": mapping.dataset.simulated,
                "publication_lag_days": mapping.dataset.publication_lag_days,
            },
        )
        batch_id = bulk.start_batch(
            conn,
            {
                "source_name": path.name,
                "checksum": checksum,
                "mapping_checksum": mapping_sum,
                "dataset_id": dataset_id,
                "imported_by": who,
                "rows_read": prepared.rows_read,
                "rows_skipped": prepared.rows_skipped,
            },
        )
        indicator_ids, indicators_created = bulk.upsert_indicators(conn, _indicator_rows(mapping, dataset_id))
        org_ids, orgs_created = bulk.upsert_organisations(conn, prepared.organisations, dataset_id, batch_id)
        attributes = bulk.write_attributes(conn, prepared.attributes, org_ids, batch_id)
        events = bulk.write_events(conn, prepared.events, org_ids, batch_id)
        if isinstance(prepared, Chunked):
            total = sum(prepared.observation_rows.values())
            inserted, updated, unchanged = _write_chunked(
                conn, prepared, org_ids, indicator_ids, batch_id, chunk_rows, stage("Writing", total)
            )
        else:
            observations = _ids(prepared.observations, org_ids, indicator_ids)
            inserted, updated, unchanged = bulk.write_observations(
                conn,
                observations,
                batch_id,
                chunk_rows=chunk_rows,
                progress=stage("Writing", observations.height),
            )
        bulk.finish_batch(
            conn,
            batch_id,
            {
                "rows_inserted": inserted,
                "rows_updated": updated,
                "rows_unchanged": unchanged,
                "details": {
                    "skipped": prepared.skipped_reasons,
                    "events_inserted": events,
                    "organisations_created": orgs_created,
                    "indicators_created": indicators_created,
                },
            },
        )
    return ImportResult(
        file=path.name,
        dataset=mapping.dataset.code,
        batch_id=batch_id,
        already_imported=False,
        rows_read=prepared.rows_read,
        rows_skipped=prepared.rows_skipped,
        observations_inserted=inserted,
        observations_updated=updated,
        observations_unchanged=unchanged,
        organisations_created=orgs_created,
        indicators_created=indicators_created,
        events_inserted=events,
        attributes_written=attributes,
        skipped_reasons=prepared.skipped_reasons,
    )
