"""Input that used to be silently wrong (issue 16): numbers read strictly, non-finite values, duplicate headers,
control characters, organisation codes in two cases, periods far in the future; and the limits on size.

Every refusal names the row and column, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.ingest.limits import MIB, Limits
from forewarn.ingest.mapping import MappingError
from forewarn.ingest.problems import ImportRejected
from forewarn.store.queries import counts, observations_frame
from tests.ingest.test_importer import HEADER, MAPPING, write

MAPPING_TEXT = MAPPING.read_text(encoding="utf-8")


def mapping_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in MAPPING_TEXT
    return write(tmp_path, "mapping.yml", MAPPING_TEXT.replace(old, new))


def problems_of(
    engine: Engine, path: Path, mapping: Path = MAPPING, limits: Limits | None = None
) -> list[str]:
    with engine.connect() as conn:
        before = counts(conn)
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, mapping, limits=limits or Limits())
    with engine.connect() as conn:
        assert counts(conn) == before, "a rejected import must write nothing"
    return [str(p) for p in info.value.report.problems]


def breaches(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        frame = observations_frame(conn, "breaches")
    return dict(zip(frame["org_code"], frame["numerator"], strict=True))


def test_a_decimal_comma_is_not_read_as_a_thousands_separator(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", HEADER + '2020-01-01,AAA,Alpha,1000,"10,5"\n')
    assert problems_of(engine, path) == [
        "f.csv, row 2, column 'breaches': not a number: a comma that is not a thousands separator "
        "(for a decimal comma, set `file: {decimal: comma}` in the mapping) (value '10,5')"
    ]


def test_thousands_separators_are_read_where_they_cannot_be_decimals(engine: Engine, tmp_path: Path) -> None:
    rows = [
        '2020-01-01,AAA,A,"1,234,567","21,289"',
        '2020-01-01,BBB,B,"2,000","1,234.5"',
        "2020-01-01,CCC,C,1000, 7 ",
        "2020-01-01,DDD,D,1000,+.5e1",
    ]
    import_file(engine, write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n"), MAPPING)
    assert breaches(engine) == {"AAA": 21289.0, "BBB": 1234.5, "CCC": 7.0, "DDD": 5.0}


def test_a_single_group_is_ambiguous_in_a_column_with_decimal_commas(engine: Engine, tmp_path: Path) -> None:
    rows = ['2020-01-01,AAA,A,1000,"1,234"', '2020-01-01,BBB,B,1000,"0,5"']
    problems = problems_of(engine, write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n"))
    assert problems[0] == (
        "f.csv, row 2, column 'breaches': ambiguous number: the comma may separate thousands or decimals, "
        "and this column has decimal commas elsewhere (set `file: {decimal: comma}` if they are decimals) "
        "(value '1,234')"
    )
    assert problems[1].startswith("f.csv, row 3, column 'breaches': not a number: a comma that is not")


def test_decimal_comma_mapping_reads_european_exports(engine: Engine, tmp_path: Path) -> None:
    mapping = mapping_with(tmp_path, "dataset: {", "file: {decimal: comma, delimiter: ';'}\ndataset: {")
    text = "period;org_code;org_name;attendances;breaches\n"
    text += "2020-01-01;AAA;A;1.234.567;10,5\n2020-01-01;BBB;B;2 000;1.234,25\n2020-01-01;CCC;C;100;3\n"
    import_file(engine, write(tmp_path, "f.csv", text), mapping)
    assert breaches(engine) == {"AAA": 10.5, "BBB": 1234.25, "CCC": 3.0}
    bad = write(
        tmp_path, "g.csv", "period;org_code;org_name;attendances;breaches\n2020-02-01;AAA;A;100;10.5\n"
    )
    assert problems_of(engine, bad, mapping) == [
        "g.csv, row 2, column 'breaches': not a number: a point that is not a thousands separator "
        "(the mapping says `decimal: comma`) (value '10.5')"
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1e309", "not a finite number: beyond the largest number stored (about 1.8e308)"),
        ("-1e400", "not a finite number: beyond the largest number stored (about 1.8e308)"),
        ("inf", "not a finite number: infinity and NaN are refused"),
        ("-Infinity", "not a finite number: infinity and NaN are refused"),
        ("NaN", "not a finite number: infinity and NaN are refused"),
    ],
)
def test_non_finite_numbers_are_refused(engine: Engine, tmp_path: Path, cell: str, message: str) -> None:
    path = write(tmp_path, "f.csv", HEADER + f"2020-01-01,AAA,A,1000,{cell}\n")
    assert problems_of(engine, path) == [f"f.csv, row 2, column 'breaches': {message} (value {cell!r})"]


def test_nan_from_a_division_is_not_called_numerator_above_denominator(
    engine: Engine, tmp_path: Path
) -> None:
    mapping = mapping_with(tmp_path, "numerator: attendances - breaches", "numerator: breaches / attendances")
    path = write(tmp_path, "f.csv", HEADER + "2020-01-01,AAA,A,0,0\n")
    problems = problems_of(engine, path, mapping)
    assert not any("above denominator" in p for p in problems)
    assert (
        "f.csv, row 2, column 'numerator (breaches / attendances)': numerator is not a finite number "
        "(a division by zero?) for indicator 'perf' (value 'NaN')"
    ) in problems


def test_a_header_naming_a_column_twice_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", HEADER.replace("org_name", "breaches") + "2020-01-01,AAA,1,1000,100\n")
    assert problems_of(engine, path) == [
        "f.csv, row 1, column 'breaches': duplicate column in the header: 'breaches' appears 2 times"
    ]
    spaced = write(
        tmp_path, "g.csv", HEADER.replace("org_name", " breaches ") + "2020-01-01,AAA,1,1000,100\n"
    )
    assert problems_of(engine, spaced)[0].startswith("g.csv, row 1, column 'breaches': duplicate column")


def test_control_characters_in_text_are_refused_before_any_write(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", (HEADER + "2020-01-01,AAA,Al\x00pha,1000,100\n").encode())
    assert problems_of(engine, path) == [
        "f.csv, row 2, column 'org_name': control character (such as NUL) in the text: remove it "
        "(value 'Al\\x00pha')"
    ]


def test_organisation_codes_are_trimmed_and_upper_cased(engine: Engine, tmp_path: Path) -> None:
    rows = ["2020-01-01, bad01 ,A,1000,100", "2020-02-01,BAD01,A,1000,100"]
    result = import_file(engine, write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n"), MAPPING)
    assert result.organisations_created == 1
    assert set(breaches(engine)) == {"BAD01"}
    same_period = write(tmp_path, "g.csv", HEADER + "2020-03-01,bad01,A,1,1\n2020-03-01,BAD01,A,1,1\n")
    assert "already on row 2" in problems_of(engine, same_period)[0]


def test_a_mapping_can_keep_the_case_of_codes(engine: Engine, tmp_path: Path) -> None:
    mapping = mapping_with(
        tmp_path, "organisation: {code: org_code,", "organisation: {code: org_code, case: preserve,"
    )
    rows = ["2020-01-01,bad01,A,1000,100", "2020-01-01,BAD01,A,1000,100"]
    result = import_file(engine, write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n"), mapping)
    assert result.organisations_created == 2


def test_periods_beyond_the_horizon_are_refused(engine: Engine, tmp_path: Path) -> None:
    limits = Limits(today=dt.date(2025, 6, 1), max_future_days=366)
    rows = ["2026-06-02,AAA,A,1000,100", "2026-06-03,BBB,B,1000,100", "1700-01-01,CCC,C,1,1"]
    path = write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n")
    assert problems_of(engine, path, limits=limits) == [
        "f.csv, row 3, column 'period': period starts after 2026-06-02, more than 366 days from today "
        "(FOREWARN_IMPORT_MAX_FUTURE_DAYS) (value '2026-06-03')",
        "f.csv, row 4, column 'period': period starts before 1800-01-01: not a plausible date "
        "(value '1700-01-01')",
    ]


def test_a_2099_period_is_refused_by_default(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", HEADER + "2099-01-01,AAA,A,1000,100\n")
    (problem,) = problems_of(engine, path, limits=Limits())
    assert problem.startswith("f.csv, row 2, column 'period': period starts after ")


def test_a_huge_organisation_code_is_refused_and_not_echoed_whole(engine: Engine, tmp_path: Path) -> None:
    code = "X" * 100_000
    path = write(tmp_path, "f.csv", HEADER + f"2020-01-01,{code},A,1000,100\n")
    problems = problems_of(engine, path)
    assert problems == [
        "f.csv, row 2, column 'org_code': cell of 100000 characters, longer than the 10,000 an import accepts "
        f"(FOREWARN_IMPORT_MAX_FIELD_CHARS) (value '{'X' * 60}…')",
        "f.csv, row 2, column 'org_code': organisation code of 100000 characters, longer than the 64 the "
        f"store keeps (value '{'X' * 60}…')",
    ]


def test_an_organisation_code_longer_than_the_store_column_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", HEADER + f"2020-01-01,{'C' * 65},A,1000,100\n")
    (problem,) = problems_of(engine, path)
    assert "organisation code of 65 characters, longer than the 64 the store keeps" in problem


def test_a_file_over_the_size_limit_is_refused_unread(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", HEADER + "2020-01-01,AAA,A,1000,100\n" * 2000)
    (problem,) = problems_of(engine, path, limits=Limits(max_file_bytes=MIB // 64))
    assert problem == (
        "f.csv: file of 51 KB is larger than the 16 KB an import reads (FOREWARN_IMPORT_MAX_FILE_MB)"
    )


def test_too_many_rows_are_refused(engine: Engine, tmp_path: Path) -> None:
    rows = "".join(f"2020-01-01,A{i},A,1000,100\n" for i in range(11))
    (problem,) = problems_of(engine, write(tmp_path, "f.csv", HEADER + rows), limits=Limits(max_rows=10))
    assert problem == "f.csv: 11 rows, more than the 10 an import accepts (FOREWARN_IMPORT_MAX_ROWS)"


def test_a_parquet_file_with_too_many_rows_is_refused_from_its_metadata(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "f.parquet"
    pl.DataFrame({"period": ["2020-01-01"] * 11, "org_code": [f"A{i}" for i in range(11)]}).with_columns(
        org_name=pl.lit("A"), attendances=pl.lit(10.0), breaches=pl.lit(1.0)
    ).write_parquet(path)
    (problem,) = problems_of(engine, path, limits=Limits(max_rows=10))
    assert problem == "f.parquet: 11 rows, more than the 10 an import accepts (FOREWARN_IMPORT_MAX_ROWS)"


def peak_memory(work: Callable[[], list[str]]) -> tuple[int, list[str]]:
    """The most memory Python and NumPy held at once (tracemalloc) while ``work`` ran, and its result: what
    "without reading it whole" means, checked without timing anything."""
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def test_a_huge_single_line_is_refused_without_reading_it_whole(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    with path.open("wb") as out:
        out.write(HEADER.encode() + b"2020-01-01,AAA,")
        block = b"x" * MIB
        for _ in range(100):
            out.write(block)
        out.write(b",1,1\n")
    peak, (problem,) = peak_memory(
        lambda: problems_of(engine, path, limits=Limits(max_file_bytes=1024 * MIB))
    )
    assert problem == (
        "line.csv, row 2: line longer than 1,024 KB, the most an import reads (FOREWARN_IMPORT_MAX_LINE_KB); "
        "nothing after it was read"
    )
    assert peak < 16 * MIB, peak  # the line is 100 MiB: reading it whole would hold at least that


def test_a_workbook_that_inflates_beyond_the_limit_is_refused_from_its_directory(
    engine: Engine, tmp_path: Path
) -> None:
    from tests.ingest.bad_files import zip_bomb_xlsx

    path = zip_bomb_xlsx(tmp_path / "bomb.xlsx", inflated_mb=400)
    assert path.stat().st_size < 2 * MIB
    peak, (problem,) = peak_memory(lambda: problems_of(engine, path, limits=Limits()))
    assert problem == (
        "bomb.xlsx: workbook inflates to 400 MB when unzipped, more than the 256 MB an import reads "
        "(FOREWARN_IMPORT_MAX_INFLATED_MB)"
    )
    assert peak < 16 * MIB, peak  # refused from the zip's directory: nothing of the 400 MB is inflated


def test_ragged_rows_are_named_by_row(engine: Engine, tmp_path: Path) -> None:
    rows = ["2020-01-01,AAA,A,1000,100,extra", "2020-01-01,BBB,B,1000", "2020-01-01,CCC,C,1000,100"]
    assert problems_of(engine, write(tmp_path, "f.csv", HEADER + "\n".join(rows) + "\n")) == [
        "f.csv, row 2: row has 6 fields where the header has 5",
        "f.csv, row 3: row has 4 fields where the header has 5",
    ]


def test_a_mapping_that_is_not_utf8_gives_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    mapping = write(tmp_path, "mapping.yml", MAPPING_TEXT.replace("Test extract", "Caf\xe9").encode("cp1252"))
    path = write(tmp_path, "f.csv", HEADER + "2020-01-01,AAA,A,1000,100\n")
    with pytest.raises(MappingError) as info:
        import_file(engine, path, mapping)
    assert str(info.value) == (
        f"{mapping}, row 2: mapping file is not UTF-8 text: save it as UTF-8 (YAML files are UTF-8) "
        "(value '0xe9')"
    )
