"""A large Parquet file of observations validated and written in chunks, so that memory does not grow with it.

:func:`~forewarn.ingest.transform.prepare` holds the whole file, its checked rows and all its observations at
once: about 250 bytes a row at the simulator's 7.2M rows, 9 to 10 GB for the 36M rows of 50,000 organisations over
three years. Here the file is read ``chunk_rows`` rows at a time (:func:`~forewarn.ingest.readers.parquet_chunks`)
and each chunk gets the row checks of every import (:func:`~forewarn.ingest.transform.checked_rows` and
:func:`~forewarn.ingest.transform.observation_rows`, row by row, so the same problems); the rows each indicator reads
are set aside in a spill folder, one Arrow IPC file per indicator and chunk, and only the organisations and their
dated attributes (one row each, not one per observation) stay in memory. Each indicator is then checked on all its
rows at once (:func:`~forewarn.ingest.indicator_rows.indicator_rows`, and the duplicate keys, which cannot span two
indicators), as the whole file would be: at most one indicator's rows in memory.

Nothing is written before every chunk and every indicator is checked: a file with a problem anywhere is refused
whole, with every problem named by row and column, as before. The writing (:func:`Chunked.observation_parts`)
computes each indicator's observations again from its spilled rows, one indicator at a time, in the order the
store keeps them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from forewarn.ingest.checks import Checker
from forewarn.ingest.indicator_rows import KEY_COLUMNS, duplicates, indicator_rows, spec_columns, where
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import IndicatorSpec, Mapping
from forewarn.ingest.problems import ValidationReport
from forewarn.ingest.readers import UnreadableFile, detect_format, parquet_chunks, parquet_rows
from forewarn.ingest.transform import (
    checked_rows,
    combine_organisations,
    empty_events,
    observation_rows,
    organisation_rows,
)

CHUNKED_ROWS = 2_000_000
"""A Parquet file of observations with more rows than this is validated and written in chunks."""
CHUNK_ROWS = 1_000_000
"""Rows read at a time."""

__all__ = ["CHUNKED_ROWS", "CHUNK_ROWS", "Chunked", "chunked_file", "prepare_chunked"]


def chunked_file(path: Path, mapping: Mapping, threshold: int = CHUNKED_ROWS) -> bool:
    """True when ``path`` is read in chunks: a Parquet file of observations with more than ``threshold`` rows."""
    if mapping.records != "observations" or detect_format(path, mapping.file) != "parquet":
        return False
    rows = parquet_rows(path) if path.is_file() else None
    return rows is not None and rows > threshold


@dataclass
class Chunked:
    """What an import of a file read in chunks would write, once the report is clean: the organisations and
    attributes in memory, each indicator's rows in ``folder`` (the caller's, removed by the caller)."""

    organisations: pl.DataFrame
    attributes: pl.DataFrame
    events: pl.DataFrame
    rows_read: int
    rows_skipped: int
    folder: Path
    mapping: Mapping
    spills: dict[int, list[Path]]
    observation_rows: dict[str, int]
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    def _rows_of(self, index: int) -> pl.DataFrame | None:
        files = self.spills.get(index)
        if not files:
            return None
        return pl.concat([pl.read_ipc(path) for path in files], rechunk=False)

    def observation_parts(self, order: list[str]) -> Iterator[pl.DataFrame]:
        """Each indicator's observations (as :func:`~forewarn.ingest.transform.prepare` gives them, organisation
        codes as text), one indicator at a time in the order of ``order`` (indicator codes); indicators without
        rows are left out."""
        by_code = {spec.code: i for i, spec in enumerate(self.mapping.indicators)}
        for code in order:
            index = by_code[code]
            rows = self._rows_of(index)
            if rows is None:
                continue
            part = indicator_rows(rows, self.mapping.indicators[index], Checker(), {})
            del rows
            if part.height:
                yield part.with_columns(pl.col("org_code").cast(pl.String))


def _spill(rows: pl.DataFrame, spec: IndicatorSpec, path: Path) -> bool:
    part = rows.filter(where(spec, rows.schema)).select(sorted(spec_columns(spec) | KEY_COLUMNS))
    if part.height == 0:
        return False
    part.write_ipc(path, compression="lz4")
    return True


def prepare_chunked(
    path: Path,
    mapping: Mapping,
    report: ValidationReport,
    folder: Path,
    limits: Limits | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Chunked | None:
    """Validate ``path`` chunk by chunk (problems into ``report``, as :func:`~forewarn.ingest.transform.prepare`
    finds them), spilling each indicator's rows into ``folder``. None when the file cannot be read."""
    limits = limits or Limits()
    checks = Checker()
    skipped: dict[str, int] = {}
    organisations = []
    spills: dict[int, list[Path]] = {}
    rows_read = 0
    try:
        for n, table in zip(
            itertools.count(),
            parquet_chunks(path, mapping.file, list(mapping.columns), chunk_rows, limits),
            strict=False,
        ):
            rows_read += table.frame.height
            frame, excluded = checked_rows(table, mapping, checks, limits)
            del table
            for reason, count in excluded.items():
                skipped[reason] = skipped.get(reason, 0) + count
            frame = observation_rows(frame, mapping, checks, limits)
            organisations.append(organisation_rows(frame, mapping))
            for i, spec in enumerate(mapping.indicators):
                spill = folder / f"indicator-{i}-chunk-{n}.arrow"
                if _spill(frame, spec, spill):
                    spills.setdefault(i, []).append(spill)
            del frame
    except UnreadableFile as exc:
        report.extend(exc.problems)
        return None
    report.rows_read = rows_read
    heights: dict[str, int] = {}
    for i, spec in enumerate(mapping.indicators):
        files = spills.get(i)
        if not files:
            continue
        rows = pl.concat([pl.read_ipc(p) for p in files], rechunk=False)
        observations = indicator_rows(rows, spec, checks, skipped)
        del rows
        # A key names its indicator: two indicators' rows never share one, so each is checked on its own.
        duplicates(observations, [observations.height], checks)
        heights[spec.code] = observations.height
        del observations
    merged_organisations, attributes = combine_organisations(organisations, mapping)
    checks.report_into(report)
    return Chunked(
        organisations=merged_organisations,
        attributes=attributes,
        events=empty_events(),
        rows_read=rows_read,
        rows_skipped=sum(skipped.values()),
        folder=folder,
        mapping=mapping,
        spills=spills,
        observation_rows=heights,
        skipped_reasons=skipped,
    )
