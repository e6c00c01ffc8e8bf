"""Responses uploaded from an organisation's own survey tool (CSV or Excel), validated like any Forewarn import.

The file has an ``org_code`` column and one column per item (named by item code, or renamed with
``column_map``); answers are scale values or their labels. Every problem is reported at once with its file, row,
column and value; nothing is written until there are none; the same file for the same wave is imported once.
Columns that are neither items nor ``org_code`` are refused unless named in ``ignore_columns``, so that nothing a
tool exports about a respondent (a name, an e-mail address, a timestamp) slips in unnoticed; ignored columns are
never read into the store. Rows are stored in random order under random ids, filed under the month of upload.
"""

from __future__ import annotations

import datetime as dt
import difflib
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, insert, select

from forewarn.ingest.mapping import FileSpec, file_checksum
from forewarn.ingest.problems import ImportRejected, Problem, ValidationReport
from forewarn.ingest.readers import ROW, UnreadableFile, columns_of, read_text, select_columns
from forewarn.store.models_surveys import SurveyResponse, SurveyUpload, SurveyWave
from forewarn.surveys.errors import SurveyError, WaveStateError
from forewarn.surveys.instrument import DIGITS, MISSING, Instrument
from forewarn.surveys.responses import first_of_month
from forewarn.surveys.waves import (
    WaveRef,
    now,
    organisation_ids,
    wave_instrument,
    wave_organisations,
    wave_state,
    who,
)

ORG_COLUMN = "org_code"
_NORMAL = "__normal"


@dataclass(frozen=True)
class UploadResult:
    """What an upload did, or that the same file had been imported into this wave before."""

    file: str
    wave: str
    upload_id: int | None
    already_imported: bool
    rows_read: int
    responses_inserted: int
    blank_rows_skipped: int
    ignored_columns: tuple[str, ...] = ()
    previous_upload_id: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        if self.already_imported:
            return f"{self.file}: already imported into wave {self.wave!r} as upload {self.previous_upload_id}; nothing changed"
        text = f"{self.file}: upload {self.upload_id} into wave {self.wave!r}, {self.responses_inserted} responses added"
        if self.blank_rows_skipped:
            text += f", {self.blank_rows_skipped} blank rows skipped"
        if self.ignored_columns:
            text += f"; columns ignored as asked: {', '.join(self.ignored_columns)}"
        return text


def _header_problems(
    name: str,
    header: list[str],
    instrument: Instrument,
    column_map: Mapping[str, str],
    ignore_columns: Sequence[str],
) -> tuple[list[Problem], dict[str, str]]:
    """Problems with the header, and file column -> canonical name (``org_code`` or an item code) for the rest."""
    problems: list[Problem] = []
    chosen: dict[str, str] = {}
    known = {ORG_COLUMN, *instrument.item_codes}
    for column in header:
        if column in ignore_columns:
            continue
        target = column_map.get(column, column)
        if target not in known:
            close = difflib.get_close_matches(target, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                Problem(
                    name,
                    1,
                    column,
                    None,
                    f"not an item of {instrument.label} nor {ORG_COLUMN!r}{hint} "
                    "(rename it with a column map, or ignore it if it is not an answer)",
                )
            )
        elif target in chosen.values():
            problems.append(Problem(name, 1, column, None, f"a second column for {target!r}"))
        else:
            chosen[column] = target
    if ORG_COLUMN not in chosen.values():
        problems.append(Problem(name, 1, ORG_COLUMN, None, f"the file needs an {ORG_COLUMN!r} column"))
    if not set(chosen.values()) - {ORG_COLUMN}:
        problems.append(Problem(name, 1, None, None, f"the file has no item columns of {instrument.label}"))
    return problems, chosen


def _answer_lookup(instrument: Instrument) -> dict[str, int]:
    """Every accepted spelling of an answer (after trimming, lower case, single spaces) -> its scale value."""
    lookup: dict[str, int] = {}
    for offset, label in enumerate(instrument.scale.labels):
        value = instrument.scale.min + offset
        lookup[" ".join(label.split()).lower()] = value
        lookup[str(value)] = value
        lookup[f"{value}.0"] = value
    return lookup


def _value_problems(frame: pl.DataFrame, column: str, lookup: dict[str, int], message: str) -> pl.DataFrame:
    normal = pl.col(column).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")
    return frame.filter(pl.col(column).is_not_null() & ~normal.is_in(list(lookup))).select(
        pl.col(ROW).alias("row"),
        pl.lit(column).alias("column"),
        pl.col(column).alias("value"),
        pl.lit(message).alias("message"),
    )


def import_responses(
    engine: Engine,
    wave: WaveRef,
    path: Path,
    *,
    imported_by: str | None = None,
    column_map: Mapping[str, str] | None = None,
    ignore_columns: Sequence[str] = (),
    sheet: str | None = None,
    max_listed: int = 1000,
    fieldwork_month: dt.date | None = None,
) -> UploadResult:
    """Validate an export of responses and add it to an open wave, all or nothing; idempotent by file checksum.

    The answers are dated in ``fieldwork_month`` (coarsened to its first day) when the export says when they were
    collected, otherwise in the month of the import.

    Raises :class:`ImportRejected` with the full report when anything is wrong (nothing is written then), and
    :class:`SurveyError` when the wave is not open.
    """
    column_map = dict(column_map or {})
    name = path.name
    with engine.connect() as conn:
        state = wave_state(conn, wave)
        wave_id, wave_name, wave_status = state.id, state.name, state.status
        members = wave_organisations(conn, wave_id)
        instrument = wave_instrument(conn, wave_id)
        checksum = file_checksum(path) if path.exists() else ""
        previous = conn.execute(
            select(SurveyUpload.id, SurveyUpload.rows_read).where(
                SurveyUpload.wave_id == wave_id, SurveyUpload.checksum == checksum
            )
        ).first()
    if previous is not None:
        return UploadResult(name, wave_name, None, True, int(previous.rows_read), 0, 0, (), int(previous.id))
    if wave_status != "open":
        raise WaveStateError(
            f"wave {wave_name!r} is {wave_status}; responses can only be added to an open wave"
        )
    bad_targets = {k: v for k, v in column_map.items() if v not in (ORG_COLUMN, *instrument.item_codes)}
    if bad_targets:
        raise SurveyError(
            "the column map renames to names that are not items of "
            f"{instrument.label}: {', '.join(f'{k} -> {v}' for k, v in bad_targets.items())}"
        )

    report = ValidationReport(file=name, max_listed=max_listed)
    spec = FileSpec(sheet=sheet)
    try:
        table = read_text(path, spec)
        header = columns_of(table)
        header_problems, chosen = _header_problems(name, header, instrument, column_map, ignore_columns)
        report.extend(header_problems)
        if ORG_COLUMN not in chosen.values() or len(chosen) < 2:
            raise ImportRejected(report)  # without an organisation or an answer there are no rows to check
        table = select_columns(table, list(chosen), spec)
    except UnreadableFile as exc:
        report.extend(exc.problems)
        raise ImportRejected(report) from None
    frame = table.frame.rename(chosen).with_columns(
        pl.col(c).str.strip_chars().replace("", None) for c in chosen.values()
    )
    report.rows_read = frame.height
    items = [c for c in instrument.item_codes if c in frame.columns]
    blank = pl.all_horizontal(pl.col(c).is_null() for c in [ORG_COLUMN, *items])
    blank_rows = int(frame.select(blank.sum()).item())
    frame = frame.filter(~blank)

    lookup = _answer_lookup(instrument)
    scale_message = instrument.scale_message
    wave_orgs = set(members)
    checks = [
        frame.filter(pl.col(ORG_COLUMN).is_null()).select(
            pl.col(ROW).alias("row"),
            pl.lit(ORG_COLUMN).alias("column"),
            pl.lit(None, pl.String).alias("value"),
            pl.lit("missing organisation code").alias("message"),
        ),
        frame.filter(pl.col(ORG_COLUMN).is_not_null() & ~pl.col(ORG_COLUMN).is_in(list(wave_orgs))).select(
            pl.col(ROW).alias("row"),
            pl.lit(ORG_COLUMN).alias("column"),
            pl.col(ORG_COLUMN).alias("value"),
            pl.lit(f"not one of the organisations in wave {wave_name!r}").alias("message"),
        ),
        frame.filter(
            pl.col(ORG_COLUMN).is_not_null() & pl.all_horizontal(pl.col(c).is_null() for c in items)
        ).select(
            pl.col(ROW).alias("row"),
            pl.lit(None, pl.String).alias("column"),
            pl.lit(None, pl.String).alias("value"),
            pl.lit("no answers in this row").alias("message"),
        ),
        *(_value_problems(frame, c, lookup, scale_message) for c in items),
    ]
    found = pl.concat(checks).sort("row", "column", nulls_last=False)
    report.extend(
        Problem(name, r["row"], r["column"], r["value"], r["message"]) for r in found.iter_rows(named=True)
    )
    if not report.ok:
        raise ImportRejected(report)

    packed = frame.select(
        pl.col(ORG_COLUMN),
        pl.concat_str(
            [
                (
                    pl.col(code)
                    .str.to_lowercase()
                    .str.replace_all(r"\s+", " ")
                    .replace_strict({k: DIGITS[v] for k, v in lookup.items()}, default=MISSING)
                    if code in items
                    else pl.lit(MISSING)
                )
                for code in instrument.item_codes
            ]
        ).alias("answers"),
    )
    rows = list(packed.iter_rows())
    random.SystemRandom().shuffle(rows)
    month = fieldwork_month.replace(day=1) if fieldwork_month is not None else first_of_month(now())
    with engine.begin() as conn:
        status = conn.execute(
            select(SurveyWave.status).where(SurveyWave.id == wave_id).with_for_update(read=True)
        ).scalar_one()
        if status != "open":
            raise WaveStateError(
                f"wave {wave_name!r} is {status}; responses can only be added to an open wave"
            )
        ids = organisation_ids(conn, sorted({r[0] for r in rows}))
        upload_id = conn.execute(
            insert(SurveyUpload)
            .values(
                wave_id=wave_id,
                source_name=name,
                checksum=checksum,
                imported_by=who(imported_by),
                imported_at=now(),
                rows_read=report.rows_read,
                responses_inserted=len(rows),
            )
            .returning(SurveyUpload.id)
        ).scalar_one()
        for start in range(0, len(rows), 50_000):
            conn.execute(
                insert(SurveyResponse),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "wave_id": wave_id,
                        "organisation_id": ids[org],
                        "submitted_month": month,
                        "source": "import",
                        "upload_id": upload_id,
                        "answers": answers,
                    }
                    for org, answers in rows[start : start + 50_000]
                ],
            )
    ignored = tuple(c for c in header if c in ignore_columns)
    return UploadResult(
        name, wave_name, int(upload_id), False, report.rows_read, len(rows), blank_rows, ignored
    )
