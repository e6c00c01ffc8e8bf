"""Uploads of an organisation's own survey export: validated like every Forewarn import (each problem with file,
row, column and value, all at once), all or nothing, and idempotent by file checksum."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import xlsxwriter
from sqlalchemy import Engine, func, select

from forewarn.ingest.problems import ImportRejected
from forewarn.store.models_surveys import SurveyResponse, SurveyUpload
from forewarn.surveys.errors import SurveyError, WaveStateError
from forewarn.surveys.responses import load_wave_responses
from forewarn.surveys.uploads import import_responses
from forewarn.surveys.waves import WaveInfo, close_wave

SCALE = (
    "not an answer on the 5-point scale: expected a whole number from 1 to 5 or its label (1 = 'Strongly disagree', "
    "2 = 'Disagree', 3 = 'Neither agree nor disagree', 4 = 'Agree', 5 = 'Strongly agree')"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(SurveyResponse)).scalar_one(),
            conn.execute(select(func.count()).select_from(SurveyUpload)).scalar_one(),
        )


def problems_of(engine: Engine, wave: str, path: Path, **kwargs: object) -> list[str]:
    before = stored(engine)
    with pytest.raises(ImportRejected) as info:
        import_responses(engine, wave, path, **kwargs)  # type: ignore[arg-type]
    assert stored(engine) == before, "a rejected upload writes nothing"
    return [str(p) for p in info.value.report.problems]


def test_every_problem_is_reported_at_once(
    engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path
) -> None:
    rows = [
        "org_code,acq_1,acq_2,asm_1,Email",
        "AAA,4,Agree,5,a@example.org",  # row 2: fine apart from the e-mail column
        ",3,3,3,b@example.org",  # row 3: no organisation
        "CCC,3,3,3,",  # row 4: organisation not in the wave
        "BBB,6,often,3,",  # row 5: two values off the scale
        "BBB,,,,c@example.org",  # row 6: no answers
        ",,,,",  # row 7: blank, skipped
    ]
    path = write(tmp_path, "export.csv", "\n".join(rows) + "\n")
    assert problems_of(engine, "spring 2026", path) == [
        "export.csv, row 1, column 'Email': not an item of forewarn_lc@1.0 nor 'org_code' "
        "(rename it with a column map, or ignore it if it is not an answer)",
        "export.csv, row 3, column 'org_code': missing organisation code",
        "export.csv, row 4, column 'org_code': not one of the organisations in wave 'spring 2026' (value 'CCC')",
        f"export.csv, row 5, column 'acq_1': {SCALE} (value '6')",
        f"export.csv, row 5, column 'acq_2': {SCALE} (value 'often')",
        "export.csv, row 6: no answers in this row",
    ]


def test_a_clean_export_is_stored_once_without_its_extra_columns(
    engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path
) -> None:
    rows = [
        "Respondent,org_code,Q1,acq_2,asm_1",
        "r1,AAA,4,agree,5",
        "r2,AAA, Strongly Disagree ,,2",
        ",,,,",
        "r3,BBB,3,4.0,",
    ]
    path = write(tmp_path, "export.csv", "\n".join(rows) + "\n")
    result = import_responses(
        engine,
        "spring 2026",
        path,
        column_map={"Q1": "acq_1"},
        ignore_columns=["Respondent"],
        imported_by="AAA admin",
    )
    assert (result.rows_read, result.responses_inserted, result.blank_rows_skipped) == (4, 3, 1)
    assert result.ignored_columns == ("Respondent",) and not result.already_imported
    with engine.connect() as conn:
        data = load_wave_responses(conn, open_wave_aaa_bbb.id)
        stored_rows = conn.execute(select(SurveyResponse.__table__)).mappings().all()
    answered = sorted(
        (data.organisation_codes[g], tuple(None if math.isnan(v) else v for v in row[[0, 1, 4]].tolist()))
        for g, row in zip(data.organisation_index, data.answers, strict=True)
    )
    assert answered == [("AAA", (1.0, None, 2.0)), ("AAA", (4.0, 4.0, 5.0)), ("BBB", (3.0, 4.0, None))]
    assert {r["source"] for r in stored_rows} == {"import"} and {r["upload_id"] for r in stored_rows} == {
        result.upload_id
    }
    assert not any("r1" in str(dict(r)) for r in stored_rows), "ignored columns never reach the store"

    again = import_responses(
        engine, "spring 2026", path, column_map={"Q1": "acq_1"}, ignore_columns=["Respondent"]
    )
    assert again.already_imported and again.previous_upload_id == result.upload_id
    assert stored(engine) == (3, 1)


def test_excel_exports_are_read_too(engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet("Responses")
    sheet.write_row(0, 0, ["org_code", "acq_1", "acq_2"])
    sheet.write_row(1, 0, ["AAA", 4, "Agree"])
    sheet.write_row(2, 0, ["BBB", 2.5, 1])
    workbook.close()
    assert problems_of(engine, "spring 2026", path) == [
        f"export.xlsx, row 3, column 'acq_1': {SCALE} (value '2.5')"
    ]


def test_unreadable_files_and_wrong_headers_are_reported(
    engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path
) -> None:
    assert problems_of(engine, "spring 2026", write(tmp_path, "empty.csv", "")) == [
        "empty.csv: empty file: it has no header and no rows"
    ]
    assert problems_of(engine, "spring 2026", write(tmp_path, "no_org.csv", "acq_1\n3\n")) == [
        "no_org.csv, row 1, column 'org_code': the file needs an 'org_code' column"
    ]
    assert problems_of(engine, "spring 2026", write(tmp_path, "no_items.csv", "org_code\nAAA\n")) == [
        "no_items.csv, row 1: the file has no item columns of forewarn_lc@1.0"
    ]
    assert problems_of(engine, "spring 2026", write(tmp_path, "typo.csv", "org_code,acq1\nAAA,3\n"))[0] == (
        "typo.csv, row 1, column 'acq1': not an item of forewarn_lc@1.0 nor 'org_code'; did you mean 'acq_1'? "
        "(rename it with a column map, or ignore it if it is not an answer)"
    )
    latin = tmp_path / "latin.csv"
    latin.write_bytes("org_code,acq_1\nAAA,3\nBBB,caf\xe9\n".encode("cp1252"))
    assert problems_of(engine, "spring 2026", latin)[0].startswith("latin.csv, row 3: wrong encoding")
    with pytest.raises(SurveyError, match=r"not items of forewarn_lc@1\.0: Q1 -> q_one"):
        import_responses(engine, "spring 2026", latin, column_map={"Q1": "q_one"})


def test_only_an_open_wave_takes_uploads(engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path) -> None:
    path = write(tmp_path, "late.csv", "org_code,acq_1\nAAA,3\n")
    close_wave(engine, "spring 2026", floor=5)
    with pytest.raises(
        WaveStateError, match="'spring 2026' is closed; responses can only be added to an open wave"
    ):
        import_responses(engine, "spring 2026", path)
    assert stored(engine) == (0, 0)
