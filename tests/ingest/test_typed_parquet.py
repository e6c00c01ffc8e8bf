"""Parquet validated in its own types (numbers, dates, dictionary-encoded text), not through text.

The reference is the text path: the same cells written as CSV must give the same observations and the same
problems (row, column, value, message), which the text rules were tested for (test_importer, test_bad_files).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file, validate_file
from forewarn.ingest.mapping import Mapping, parse_mapping
from forewarn.ingest.problems import ImportRejected
from forewarn.ingest.transform import Prepared
from forewarn.store.queries import counts

MAPPING = """
version: 1
dataset: {code: typed, name: Typed extract}
columns: {org_code: text, period: date, indicator: text, numerator: integer, denominator: integer,
          expected: number}
organisation: {code: org_code}
period: {column: period, format: iso, frequency: month}
indicators:
  - {code: seen, name: Seen, kind: proportion, polarity: higher_is_better, where: {indicator: seen},
     numerator: numerator, denominator: denominator}
  - {code: deaths, name: Deaths, kind: ratio_oe, polarity: lower_is_better, where: {indicator: deaths},
     numerator: numerator, expected: expected}
"""


def _mapping() -> Mapping:
    return parse_mapping(MAPPING, "mapping.yml")


def _frame(orgs: int = 50, months: int = 4) -> pl.DataFrame:
    """A clean long extract, one row per organisation, month and indicator, month by month as the simulator
    writes it."""
    rows = []
    for m in range(months):
        for o in range(orgs):
            period = dt.date(2020 + m // 12, m % 12 + 1, 1)
            rows.append((f"ORG{o:05d}", period, "seen", 10 + o % 7, 20 + o % 5, None))
            rows.append((f"ORG{o:05d}", period, "deaths", o % 3, None, 1.5 + o % 4))
    return pl.DataFrame(
        rows,
        schema={
            "org_code": pl.String,
            "period": pl.Date,
            "indicator": pl.String,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
            "expected": pl.Float64,
        },
        orient="row",
    )


def _write(frame: pl.DataFrame, tmp_path: Path, name: str, dictionary: bool = True) -> tuple[Path, Path]:
    """The frame as Parquet (text dictionary-encoded, as the simulator writes it, when ``dictionary``) and as
    CSV."""
    parquet, text = tmp_path / f"{name}.parquet", tmp_path / f"{name}.csv"
    stored = frame.with_columns(pl.col("org_code", "indicator").cast(pl.Categorical)) if dictionary else frame
    stored.write_parquet(parquet)
    frame.write_csv(text)
    return parquet, text


def _problems(path: Path) -> list[str]:
    report, _ = validate_file(path, _mapping())
    return sorted(str(p).removeprefix(f"{path.name}, ") for p in report.problems)


def _prepared(path: Path) -> Prepared:
    report, prepared = validate_file(path, _mapping())
    assert report.ok, report.problems
    assert prepared is not None
    return prepared


@pytest.mark.parametrize("dictionary", [True, False])
def test_a_clean_parquet_file_gives_what_its_csv_gives(tmp_path: Path, dictionary: bool) -> None:
    parquet, text = _write(_frame(), tmp_path, "clean", dictionary)
    typed, reference = _prepared(parquet), _prepared(text)
    assert typed.observations.schema == reference.observations.schema
    assert typed.observations.equals(reference.observations)
    assert typed.organisations.equals(reference.organisations)
    assert typed.attributes.equals(reference.attributes)


def test_a_bad_number_deep_in_a_large_file_is_named_by_row_and_column(tmp_path: Path) -> None:
    frame = _frame(orgs=2000, months=40)  # 160,000 rows
    assert frame.height == 160_000
    # Row 123,457 of the file is the frame's row 123,455 (the header is row 1, as in a CSV file).
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 123_455)
        .then(float("nan"))
        .otherwise(pl.col("expected"))
        .alias("expected")
    )
    parquet, _ = _write(frame, tmp_path, "nan")
    report, _ = validate_file(parquet, _mapping())
    assert [str(p) for p in report.problems] == [
        "nan.parquet, row 123457, column 'expected': not a finite number: infinity and NaN are refused "
        "(value 'NaN')"
    ]


def test_bad_cells_give_the_problems_their_csv_gives(tmp_path: Path) -> None:
    frame = _frame().with_columns(
        # Row 2 (frame row 0): a denominator below its numerator; row 5: a negative count; row 9: an infinity.
        pl.when(pl.int_range(pl.len()) == 0).then(5).otherwise(pl.col("denominator")).alias("denominator"),
        pl.when(pl.int_range(pl.len()) == 3).then(-1).otherwise(pl.col("numerator")).alias("numerator"),
        pl.when(pl.int_range(pl.len()) == 7)
        .then(float("inf"))
        .otherwise(pl.col("expected"))
        .alias("expected"),
    )
    parquet, text = _write(frame, tmp_path, "bad")
    problems = _problems(parquet)
    assert problems == _problems(text)
    assert problems == [
        "row 2, column 'numerator': numerator above denominator (5.0) for indicator 'seen' (value '10.0')",
        "row 5, column 'numerator': negative count for indicator 'deaths' (value '-1.0')",
        "row 9, column 'expected': not a finite number: infinity and NaN are refused (value 'inf')",
    ]


def test_dictionary_encoded_text_is_checked_per_value_and_named_by_row(tmp_path: Path) -> None:
    frame = _frame(orgs=5, months=2).with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("ORG\x00BAD"))
        .otherwise(pl.col("org_code"))
        .alias("org_code"),
        pl.when(pl.int_range(pl.len()) == 6)
        .then(pl.lit("unknown"))
        .otherwise(pl.col("indicator"))
        .alias("indicator"),
    )
    parquet, text = _write(frame, tmp_path, "text")
    problems = _problems(parquet)
    assert problems == _problems(text)
    assert problems == [
        "row 6, column 'org_code': control character (such as NUL) in the text: remove it "
        "(value 'ORG\\x00BAD')",
        "row 8, column 'indicator': unknown indicator: no indicator in the mapping matches indicator=unknown "
        "(value 'unknown')",
    ]


def test_codes_are_normalised_from_dictionary_encoded_text(tmp_path: Path) -> None:
    frame = _frame(orgs=3, months=1).with_columns(pl.col("org_code").str.to_lowercase() + " ")
    parquet, text = _write(frame, tmp_path, "lower")
    typed = _prepared(parquet)
    assert typed.observations.equals(_prepared(text).observations)
    assert typed.organisations["org_code"].to_list() == ["ORG00000", "ORG00001", "ORG00002"]


def test_duplicate_keys_are_named_in_a_typed_file(tmp_path: Path) -> None:
    frame = _frame(orgs=3, months=1)
    frame = pl.concat([frame, frame.slice(2, 1)])  # row 8 repeats row 4
    parquet, text = _write(frame, tmp_path, "dup")
    problems = _problems(parquet)
    assert problems == _problems(text)
    assert problems == [
        "row 8: duplicate key: organisation ORG00001, indicator seen, period starting 2020-01-01 already on "
        "row 4 (value 'ORG00001 / seen / 2020-01-01')"
    ]


def test_whole_numbers_stored_as_floats_are_read_and_fractions_refused(tmp_path: Path) -> None:
    frame = _frame(orgs=2, months=1).with_columns(pl.col("numerator", "denominator").cast(pl.Float64))
    good, _ = _write(frame, tmp_path, "floats")
    assert _prepared(good).observations["numerator"].to_list() == [10.0, 11.0, 0.0, 1.0]
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(10.5).otherwise(pl.col("numerator")).alias("numerator")
    )
    path, _ = _write(bad, tmp_path, "fraction")
    assert _problems(path) == ["row 2, column 'numerator': not a whole number (value '10.5')"]


def test_missing_value_markers_apply_to_typed_columns(tmp_path: Path) -> None:
    """A marker is matched against a cell's text, as the text reader reads it: the mapping's "-1" makes a
    stored -1 missing, and the default markers leave numbers alone."""
    frame = _frame(orgs=2, months=1).with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(-1.0).otherwise(pl.col("expected")).alias("expected")
    )
    path, _ = _write(frame, tmp_path, "marker")
    marked = parse_mapping(MAPPING + "file: {missing_values: ['-1.0']}\n", "m.yml")
    report, _ = validate_file(path, marked)
    assert [str(p).removeprefix("marker.parquet, ") for p in report.problems] == [
        "row 3, column 'expected': missing value for indicator 'deaths'"
    ]
    report, _ = validate_file(path, _mapping())
    assert [str(p).removeprefix("marker.parquet, ") for p in report.problems] == [
        "row 3, column 'expected': negative count for indicator 'deaths' (value '-1.0')"
    ]


def test_a_typed_file_with_a_problem_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    frame = _frame(orgs=20, months=2).with_columns(
        pl.when(pl.int_range(pl.len()) == 32).then(None).otherwise(pl.col("denominator")).alias("denominator")
    )
    parquet, _ = _write(frame, tmp_path, "missing")
    (tmp_path / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    with engine.connect() as conn:
        before = counts(conn)
    with pytest.raises(ImportRejected) as info:
        import_file(engine, parquet, tmp_path / "mapping.yml")
    assert [str(p) for p in info.value.report.problems] == [
        "missing.parquet, row 34, column 'denominator': missing value for indicator 'seen'"
    ]
    with engine.connect() as conn:
        assert counts(conn) == before


def test_a_missing_value_marker_in_dictionary_encoded_text_is_missing(tmp_path: Path) -> None:
    frame = _frame(orgs=2, months=1).with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("NA"))
        .otherwise(pl.col("org_code"))
        .alias("org_code")
    )
    parquet, text = _write(frame, tmp_path, "na")
    problems = _problems(parquet)
    assert problems == _problems(text)
    assert problems == ["row 4, column 'org_code': missing organisation code"]
