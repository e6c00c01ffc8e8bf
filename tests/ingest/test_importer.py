"""Imports: every bad input named by row, column and value; all-or-nothing; idempotent; revisions recorded.

The expected messages are the exact text a user sees on the command line.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select

from forewarn.ingest.importer import import_file
from forewarn.ingest.mapping import MappingError
from forewarn.ingest.problems import ImportRejected
from forewarn.store.models import ObservationRevision
from forewarn.store.queries import counts, observations_frame
from tests.conftest import FIXTURES

MAPPING = FIXTURES / "ingest" / "mapping.yml"
LONG_MAPPING = FIXTURES / "ingest" / "long_mapping.yml"
HEADER = "period,org_code,org_name,attendances,breaches\n"
GOOD_ROWS = [
    "2020-01-01,AAA,Alpha,1000,100",
    "2020-02-01,AAA,Alpha,1100,150",
    "2020-01-01,BBB,Beta,500,20",
    "2020-02-01,BBB,Beta,520,40",
]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rejected(engine: Engine, path: Path, mapping: Path = MAPPING) -> list[str]:
    before = _counts(engine)
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, mapping)
    assert _counts(engine) == before, "a rejected import must write nothing"
    return [str(p) for p in info.value.report.problems]


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return counts(conn)


def test_good_file_imports_every_observation(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "good.csv", HEADER + "\n".join(GOOD_ROWS) + "\n")
    result = import_file(engine, path, MAPPING, imported_by="tester")
    assert (result.rows_read, result.observations_inserted, result.organisations_created) == (4, 8, 2)
    with engine.connect() as conn:
        perf = observations_frame(conn, "perf")
    first = perf.filter(pl.col("org_code") == "AAA").row(0, named=True)
    assert first["numerator"] == 900 and first["denominator"] == 1000 and first["value"] == pytest.approx(0.9)
    assert str(first["period_end"]) == "2020-01-31"
    assert first["org_name"] == "Alpha"


def test_every_problem_is_reported_at_once_with_row_column_and_value(engine: Engine, tmp_path: Path) -> None:
    rows = [
        "2020-01-01,,Nameless,1000,100",  # row 2: missing org code
        "2020-13-01,AAA,Alpha,1000,100",  # row 3: unparseable date
        "2020-01-01,BBB,Beta,100,-5",  # row 4: negative count
        "2020-01-01,CCC,Gamma,100,abc",  # row 5: not a number
        "2020-01-01,DDD,Delta,-10,0",  # row 6: negative count in the denominator
        "2020-01-01,EEE,Eps,0,0",  # row 7: zero denominator
        "2020-01-01,FFF,Phi,10,0",  # row 8: fine
        "2020-01-01,FFF,Phi,10,0",  # row 9: duplicate of row 8
    ]
    problems = rejected(engine, write(tmp_path, "bad.csv", HEADER + "\n".join(rows) + "\n"))
    assert "bad.csv, row 2, column 'org_code': missing organisation code" in problems
    assert (
        "bad.csv, row 3, column 'period': not a date (expected YYYY-MM-DD) (value '2020-13-01')" in problems
    )
    assert (
        "bad.csv, row 4, column 'breaches': negative count for indicator 'breaches' (value '-5.0')"
        in problems
    )
    assert "bad.csv, row 5, column 'breaches': not a number (value 'abc')" in problems
    assert (
        "bad.csv, row 6, column 'attendances': negative count for indicator 'perf' (value '-10.0')"
        in problems
    )
    assert (
        "bad.csv, row 7, column 'attendances': denominator is zero for indicator 'perf' (value '0.0')"
        in problems
    )
    assert (
        "bad.csv, row 9: duplicate key: organisation FFF, indicator perf, period starting 2020-01-01 "
        "already on row 8 (value 'FFF / perf / 2020-01-01')"
    ) in problems


def test_numerator_above_denominator(engine: Engine, tmp_path: Path) -> None:
    problems = rejected(engine, write(tmp_path, "over.csv", HEADER + "2020-01-01,AAA,Alpha,100,-50\n"))
    assert (
        "over.csv, row 2, column 'numerator (attendances - breaches)': numerator above denominator (100.0) "
        "for indicator 'perf' (value '150.0')"
    ) in problems


def test_unknown_indicator_in_long_form(engine: Engine, tmp_path: Path) -> None:
    text = "area,period,indicator,value\nE1,2019/20,Smoking,14.1\nE1,2019/20,Smokin,14.1\n"
    problems = rejected(engine, write(tmp_path, "long.csv", text), LONG_MAPPING)
    assert problems == [
        "long.csv, row 3, column 'indicator': unknown indicator: no indicator in the mapping matches "
        "indicator=Smokin (value 'Smokin')"
    ]


def test_unparseable_period_label(engine: Engine, tmp_path: Path) -> None:
    text = "area,period,indicator,value\nE1,2019/21,Smoking,14.1\n"
    problems = rejected(engine, write(tmp_path, "long.csv", text), LONG_MAPPING)
    assert problems == [
        "long.csv, row 2, column 'period': unparseable period (expected format 'fingertips') (value '2019/21')"
    ]


def test_wrong_encoding_names_the_line(engine: Engine, tmp_path: Path) -> None:
    data = (HEADER + "2020-01-01,AAA,Caf\xe9,1000,100\n").encode("cp1252")
    problems = rejected(engine, write(tmp_path, "latin.csv", data))
    assert problems == [
        "latin.csv, row 2: wrong encoding: this byte is not valid utf-8 (the file may be Windows-1252: set "
        "`file: {encoding: cp1252}` in the mapping) (value '0xe9')"
    ]


def test_declared_encoding_is_used(engine: Engine, tmp_path: Path) -> None:
    data = (HEADER + "2020-01-01,AAA,Caf\xe9,1000,100\n").encode("cp1252")
    mapping = MAPPING.read_text().replace("version: 1", "version: 1\nfile: {encoding: cp1252}")
    import_file(engine, write(tmp_path, "latin.csv", data), mapping_text=mapping)
    with engine.connect() as conn:
        assert observations_frame(conn, "perf")["org_name"].to_list() == ["Café"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty.csv: empty file: it has no header and no rows"),
        (HEADER, "empty.csv: empty file: the header is there but no data rows"),
    ],
)
def test_empty_file(engine: Engine, tmp_path: Path, text: str, message: str) -> None:
    assert rejected(engine, write(tmp_path, "empty.csv", text)) == [message]


def test_header_that_does_not_match_the_mapping(engine: Engine, tmp_path: Path) -> None:
    text = "period,org_code,org_name,attendence,breaches\n2020-01-01,AAA,Alpha,1000,100\n"
    problems = rejected(engine, write(tmp_path, "header.csv", text))
    assert problems == [
        "header.csv, row 1, column 'attendances': header does not match the mapping: column 'attendances' is "
        "missing (the file has 'period', 'org_code', 'org_name', 'attendence', 'breaches'); did you mean 'attendence'?"
    ]


@pytest.mark.parametrize("lag", ["-1", "3661", "soon"])
def test_a_bad_publication_lag_is_named_and_nothing_is_written(
    engine: Engine, tmp_path: Path, lag: str
) -> None:
    text = MAPPING.read_text().replace(
        "dataset: {code: test_ae, name: Test extract}",
        f"dataset: {{code: test_ae, name: Test extract, publication_lag_days: {lag}}}",
    )
    with pytest.raises(MappingError, match=r"dataset\.publication_lag_days"):
        import_file(engine, write(tmp_path, "good.csv", HEADER + GOOD_ROWS[0]), mapping_text=text)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM datasets").scalar_one() == 0


def test_bad_mapping_is_named_before_reading_the_file(engine: Engine, tmp_path: Path) -> None:
    text = MAPPING.read_text().replace("kind: proportion", "kind: percentage")
    with pytest.raises(MappingError) as info:
        import_file(engine, write(tmp_path, "good.csv", HEADER + GOOD_ROWS[0]), mapping_text=text)
    assert "indicators.0.kind" in str(info.value)
    assert "'proportion'" in str(info.value)


def test_mapping_expression_cannot_run_code(engine: Engine, tmp_path: Path) -> None:
    text = MAPPING.read_text().replace("numerator: breaches", "numerator: __import__('os').getcwd()")
    with pytest.raises(MappingError, match="may only use numbers, column names"):
        import_file(engine, write(tmp_path, "good.csv", HEADER + GOOD_ROWS[0]), mapping_text=text)


def test_reimporting_the_same_file_changes_nothing_and_says_so(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "good.csv", HEADER + "\n".join(GOOD_ROWS) + "\n")
    first = import_file(engine, path, MAPPING)
    before = _counts(engine)
    again = import_file(engine, path, MAPPING)
    assert again.already_imported and again.previous_batch_id == first.batch_id
    assert "already imported as batch" in again.summary() and "nothing changed" in again.summary()
    assert _counts(engine) == before


def test_same_values_in_another_file_are_unchanged(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, write(tmp_path, "a.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"), MAPPING)
    again = import_file(
        engine, write(tmp_path, "b.csv", HEADER + "\n".join(reversed(GOOD_ROWS)) + "\n"), MAPPING
    )
    assert (again.observations_inserted, again.observations_updated, again.observations_unchanged) == (
        0,
        0,
        8,
    )


def test_corrected_reimport_replaces_values_and_records_the_revision(engine: Engine, tmp_path: Path) -> None:
    first = import_file(engine, write(tmp_path, "jan.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"), MAPPING)
    corrected = HEADER + "2020-02-01,AAA,Alpha,1100,110\n"  # February breaches revised from 150 to 110
    second = import_file(engine, write(tmp_path, "feb-revised.csv", corrected), MAPPING)
    assert (second.observations_inserted, second.observations_updated, second.observations_unchanged) == (
        0,
        2,
        0,
    )
    with engine.connect() as conn:
        perf = observations_frame(conn, "perf").filter(pl.col("org_code") == "AAA").sort("period_start")
        revisions = conn.execute(select(ObservationRevision.__table__)).mappings().all()
    assert perf["value"].to_list() == pytest.approx([0.9, 990 / 1100])
    assert perf["revision"].to_list() == [1, 2]
    assert perf["batch_id"].to_list() == [first.batch_id, second.batch_id]
    old = sorted((r["numerator"], r["value"]) for r in revisions)
    assert old == [(150.0, 150.0), (950.0, pytest.approx(950 / 1100))]
    assert {r["replaced_by_batch_id"] for r in revisions} == {second.batch_id}
    assert {r["batch_id"] for r in revisions} == {first.batch_id}


def test_a_second_correction_records_each_replaced_version_once(engine: Engine, tmp_path: Path) -> None:
    """A file mixing new, revised and unchanged rows into a populated store: the merge's counts, and every
    revision holds exactly the version it replaced (values, revision number, batch), as derived by hand below."""
    first = import_file(engine, write(tmp_path, "a.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"), MAPPING)
    second = import_file(
        engine,
        write(tmp_path, "b.csv", HEADER + "2020-02-01,AAA,Alpha,1100,110\n2020-03-01,AAA,Alpha,900,90\n"),
        MAPPING,
    )
    third = import_file(
        engine,
        write(
            tmp_path,
            "c.csv",
            HEADER
            + "2020-01-01,AAA,Alpha,1000,100\n2020-02-01,AAA,Alpha,1200,110\n2020-04-01,BBB,Beta,10,1\n",
        ),
        MAPPING,
    )
    # b.csv: AAA February's breaches (150 -> 110) change both of its indicators; March is new (2 observations).
    assert (second.observations_inserted, second.observations_updated, second.observations_unchanged) == (
        2,
        2,
        0,
    )
    # c.csv: January unchanged (2); February's attendances 1100 -> 1200 change the rate only, not the count of
    # breaches (1 revised, 1 unchanged); BBB April is new (2).
    assert (third.observations_inserted, third.observations_updated, third.observations_unchanged) == (
        2,
        1,
        3,
    )
    with engine.connect() as conn:
        revisions = conn.execute(select(ObservationRevision.__table__)).mappings().all()
    replaced = sorted(
        (
            (r["replaced_by_batch_id"], r["numerator"]),
            (r["revision"], r["numerator"], r["denominator"], r["batch_id"], r["replaced_by_batch_id"]),
        )
        for r in revisions
    )
    # The rate's February, 950/1100 (revision 1, first batch), then 990/1100 (revision 2, second batch); the count
    # of breaches' February once, 150 (revision 1), replaced by the second batch.
    assert [version for _, version in replaced] == [
        (1, 150.0, None, first.batch_id, second.batch_id),
        (1, 950.0, 1100.0, first.batch_id, second.batch_id),
        (2, 990.0, 1100.0, second.batch_id, third.batch_id),
    ]


def test_excel_and_parquet_read_like_csv(engine: Engine, tmp_path: Path) -> None:
    frame = pl.read_csv((HEADER + "\n".join(GOOD_ROWS) + "\n").encode(), infer_schema=False)
    frame.write_excel(tmp_path / "good.xlsx")
    import_file(engine, tmp_path / "good.xlsx", MAPPING)
    frame.with_columns(
        pl.col("period").str.to_date(), pl.col("attendances", "breaches").cast(pl.Float64)
    ).write_parquet(tmp_path / "good.parquet")
    again = import_file(engine, tmp_path / "good.parquet", MAPPING)
    assert (again.observations_inserted, again.observations_unchanged) == (0, 8)


def test_excel_problems_name_the_sheet_row(engine: Engine, tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, "2020-03-01,AAA,Alpha,lots,1"]
    pl.read_csv((HEADER + "\n".join(rows)).encode(), infer_schema=False).write_excel(tmp_path / "bad.xlsx")
    assert rejected(engine, tmp_path / "bad.xlsx") == [
        "bad.xlsx, row 6, column 'attendances': not a number (value 'lots')"
    ]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_bundled_nhs_ae_import_matches_the_source_file(engine: Engine) -> None:
    from tests.conftest import DATA

    source = DATA / "nhs_ae" / "nhs_ae_attendances.csv"
    rows = _csv_rows(source)
    result = import_file(engine, source, DATA / "nhs_ae" / "mapping.yml")
    type1 = [r for r in rows if r["type"] == "1"]
    org_periods = {(r["org_code"], r["period"]) for r in rows}
    assert result.rows_read == len(rows) == 12_765
    assert result.organisations_created == len({r["org_code"] for r in rows}) == 274
    # Three type-1 indicators, two summed over all department types per provider and month.
    assert result.observations_inserted == 3 * len(type1) + 2 * len(org_periods)
    with engine.connect() as conn:
        perf = observations_frame(conn, "ae_4h_type1")
    assert perf.height == len(type1)
    rrk = perf.filter(
        (pl.col("org_code") == "RRK") & (pl.col("period_start").cast(pl.String) == "2017-03-01")
    )
    source_row = next(r for r in type1 if r["org_code"] == "RRK" and r["period"] == "2017-03-01")
    attendances, breaches = float(source_row["attendances"]), float(source_row["breaches"])
    assert rrk["value"].item() == pytest.approx(1 - breaches / attendances, rel=1e-12)


def test_bundled_public_health_import_matches_the_source_file(engine: Engine) -> None:
    from tests.conftest import DATA

    source = DATA / "la_public_health" / "la_public_health_indicators.csv"
    rows = _csv_rows(source)
    result = import_file(engine, source, DATA / "la_public_health" / "mapping.yml")
    excluded = {"Life expectancy at birth", "Inequality in life expectancy at birth"}
    kept = [r for r in rows if r["indicator"] not in excluded]
    with_value = [r for r in kept if r["value"] != ""]
    assert result.rows_read == len(rows) == 56_781
    assert result.observations_inserted == len(with_value)
    assert result.rows_skipped == len(rows) - len(with_value)
    assert result.organisations_created == len({r["area_code"] for r in rows}) == 343


EVENTS_MAPPING = """
version: 1
dataset: {code: test_events, name: Test events}
records: events
columns: {org: text, date: text, kind: text, grade: text}
organisation: {code: org}
events: {date: date, kind: kind, grade: grade}
"""


def test_events_import_with_every_problem_named(engine: Engine, tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "events.csv",
        "org,date,kind,grade\nAAA,2020-03-01,inspection,good\nAAA,01/03/2020,inspection,good\n,2020-04-01,inspection,\n",
    )
    with pytest.raises(ImportRejected) as info:
        import_file(engine, bad, mapping_text=EVENTS_MAPPING)
    assert [str(p) for p in info.value.report.problems] == [
        "events.csv, row 3, column 'date': unparseable date (expected format 'iso') (value '01/03/2020')",
        "events.csv, row 4, column 'org': missing organisation code",
    ]
    good = write(
        tmp_path,
        "events2.csv",
        "org,date,kind,grade\nAAA,2020-03-01,inspection,good\nAAA,2021-03-01,inspection,requires_improvement\n",
    )
    assert import_file(engine, good, mapping_text=EVENTS_MAPPING).events_inserted == 2
    again = write(tmp_path, "events3.csv", "org,date,kind,grade\nAAA,2021-03-01,inspection,inadequate\n")
    assert import_file(engine, again, mapping_text=EVENTS_MAPPING).events_inserted == 0
    from forewarn.store.models import Event

    with engine.connect() as conn:
        grades = dict(conn.execute(select(Event.date, Event.grade)).all())
    assert grades[dt.date(2021, 3, 1)] == "inadequate"
