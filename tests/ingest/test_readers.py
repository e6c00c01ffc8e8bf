"""Tests for forewarn.ingest.readers, the one file reader: one missing-value list in every format, one encoding
policy, one error type naming the row, the column and the problem."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.ingest.mapping import MISSING_VALUES, FileSpec
from forewarn.ingest.readers import (
    ROW,
    WINDOWS_1252,
    UnreadableFile,
    closest_column,
    columns_of,
    read_text,
    require_rows,
    select_columns,
)

ROWS = {"unit": ["A", "B", "C", "D", "E", "F", "G"], "value": ["1", "NA", "N/A", "n/a", "NULL", "null", ""]}


def problems(exc: pytest.ExceptionInfo[UnreadableFile]) -> list[str]:
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_one_missing_value_list_in_every_format(tmp_path: Path, suffix: str) -> None:
    frame = pl.DataFrame(ROWS)
    path = tmp_path / f"f{suffix}"
    {".csv": frame.write_csv, ".xlsx": frame.write_excel, ".parquet": frame.write_parquet}[suffix](path)
    table = read_text(path)
    assert table.frame["value"].to_list() == ["1", None, None, None, None, None, None]
    assert table.frame[ROW].to_list() == list(range(2, 9))  # the header is row 1
    assert set(MISSING_VALUES) == {"", "NA", "N/A", "n/a", "NULL", "null"}


def test_a_mapping_may_name_its_own_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    pl.DataFrame(ROWS).write_csv(path)
    table = read_text(path, FileSpec(missing_values=["", "-"]))
    assert table.frame["value"].to_list() == ["1", "NA", "N/A", "n/a", "NULL", "null", None]


def test_windows_1252_only_as_a_fallback_the_caller_asks_for(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("unit,value\nCaf\xe9,1\n".encode("cp1252"))
    with pytest.raises(UnreadableFile) as refused:
        read_text(path)
    assert problems(refused) == [
        "latin.csv, row 2: wrong encoding: this byte is not valid utf-8 (the file may be Windows-1252: set "
        "`file: {encoding: cp1252}` in the mapping) (value '0xe9')"
    ]
    assert read_text(path, fallback_encoding=WINDOWS_1252).frame["unit"].to_list() == ["Café"]
    assert read_text(path, FileSpec(encoding="cp1252")).frame["unit"].to_list() == ["Café"]


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfunit,value\nA,1\n")
    assert columns_of(read_text(path)) == ["unit", "value"]


def test_problems_name_the_row_and_the_column(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("unit,value\nA,1,2\nB\n")
    with pytest.raises(UnreadableFile) as exc:
        read_text(ragged)
    assert problems(exc) == [
        "ragged.csv, row 2: row has 3 fields where the header has 2",
        "ragged.csv, row 3: row has 1 fields where the header has 2",
    ]
    twice = tmp_path / "twice.csv"
    twice.write_text("unit, unit\nA,B\n")
    with pytest.raises(UnreadableFile) as exc:
        read_text(twice)
    assert problems(exc) == [
        "twice.csv, row 1, column 'unit': duplicate column in the header: 'unit' appears 2 times"
    ]


def test_which_columns_and_rows_are_needed_is_the_callers_question(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(" unit ,value\n")
    table = read_text(path)  # a header alone reads; the caller decides whether that is enough
    assert columns_of(table) == ["unit", "value"]
    with pytest.raises(UnreadableFile) as exc:
        require_rows(table)
    assert problems(exc) == ["header.csv: empty file: the header is there but no data rows"]
    with pytest.raises(UnreadableFile) as exc:
        select_columns(table, ["unit", "vaule"])
    assert problems(exc) == [
        "header.csv, row 1, column 'vaule': header does not match the mapping: column 'vaule' is missing "
        "(the file has 'unit', 'value'); did you mean 'value'?"
    ]


def test_closest_column() -> None:
    assert closest_column("provnum", ["Provnum", "deaths"]) == "Provnum"
    assert closest_column("DEATHS", ["provnum", "deaths"]) == "deaths"
    assert closest_column("zzz", ["provnum", "deaths"]) is None


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 3000), min_size=1, max_size=40),
    limit=st.integers(1, 2500),
    trailing=st.booleans(),
    block=st.integers(1, 5000),
)
def test_the_line_check_names_the_first_line_over_the_limit(
    tmp_path_factory: pytest.TempPathFactory, lengths: list[int], limit: int, trailing: bool, block: int
) -> None:
    """Line feeds found a block at once give the row that reading line by line gives, with or without a final
    line feed."""
    from forewarn.ingest.limits import Limits
    from forewarn.ingest.readers import UnreadableFile, _check_lines

    lines = [b"x" * n for n in lengths]
    data = b"\n".join(lines) + (b"\n" if trailing else b"")
    path = tmp_path_factory.mktemp("lines") / "f.csv"
    path.write_bytes(data)
    expected = next((i + 1 for i, line in enumerate(lines) if len(line) > limit), None)
    if expected is None:
        _check_lines(path, "f.csv", Limits(max_line_bytes=limit), block)
        return
    with pytest.raises(UnreadableFile) as info:
        _check_lines(path, "f.csv", Limits(max_line_bytes=limit), block)
    assert info.value.problems[0].row == expected


@settings(max_examples=60, deadline=None)
@given(widths=st.lists(st.integers(0, 4), min_size=1, max_size=30), trailing=st.booleans())
def test_the_quick_width_count_agrees_with_the_csv_module(widths: list[int], trailing: bool) -> None:
    """A line of ``w`` fields is ``w - 1`` delimiters (0: a blank line); the quick count says a file is well formed
    exactly when the csv module finds every non-blank row as wide as the header."""
    import csv
    import io

    from forewarn.ingest.readers import _all_rows_of_width

    lines = ["h1;h2;h3", *(";".join(["v"] * w) if w else "" for w in widths)]
    text = "\n".join(lines) + ("\n" if trailing else "")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    expected = all(len(r) == len(rows[0]) for r in rows[1:] if r)
    assert _all_rows_of_width(text.encode(), ";", 3) == expected
