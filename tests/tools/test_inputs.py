"""Tests for forewarn.tools.inputs: every format read alike, periods in other forms, missing or misnamed
columns, empty and missing files, and the capped problem list."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forewarn.tools.funnel import FunnelRequest, funnel_file
from forewarn.tools.problems import AnalystInputError
from forewarn.tools.spc import SpcRequest, spc_file
from tests.tools.helpers import (
    FUNNEL,
    PTD,
    problems_of,
    write_csv,
)


def test_excel_and_parquet_inputs_match_csv(tmp_path: Path) -> None:
    """The same data as CSV, Excel and Parquet (numbers as numbers, dates as dates) give the same tables."""
    frame = pl.read_csv(PTD / "input_rrk_all.csv", try_parse_dates=True)
    frame.write_excel(tmp_path / "rrk.xlsx")
    frame.write_parquet(tmp_path / "rrk.parquet")
    request = SpcRequest(
        period_col="period", value_col="breaches", improvement="decrease", rebase=("2018-07-01",)
    )
    csv = spc_file(PTD / "input_rrk_all.csv", request)
    for name in ("rrk.xlsx", "rrk.parquet"):
        other = spc_file(tmp_path / name, request)
        assert other.table.equals(csv.table), name
        assert other.series_table is not None and csv.series_table is not None
        assert other.series_table.equals(csv.series_table), name


def test_periods_in_other_forms(tmp_path: Path) -> None:
    """Months, UK dates, financial years and plain numbers are ordered as periods, not as text."""
    forms = {
        "month": ["2019-11", "2019-12", "2020-01", "2020-02"],
        "uk": ["30/11/2019", "31/12/2019", "31/01/2020", "29/02/2020"],
        "fy": ["2016/17", "2017/18", "2018/19", "2019/20"],
        "number": ["9", "10", "11", "12"],
    }
    for name, labels in forms.items():
        rows = [(labels[i], v) for i, v in ((2, 5.0), (0, 1.0), (3, 9.0), (1, 3.0))]
        path = write_csv(tmp_path, "p,v\n" + "\n".join(f"{p},{v}" for p, v in rows) + "\n", f"{name}.csv")
        table = spc_file(path, SpcRequest(period_col="p", value_col="v")).table
        assert table["period"].to_list() == labels, name
        assert table["value"].to_list() == [1.0, 3.0, 5.0, 9.0], name


def test_missing_columns_are_usage_problems_with_a_suggestion() -> None:
    request = FunnelRequest(
        unit_col="Provnum", numerator_col="loss", denominator_col="expected", data_type="SR"
    )
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(FUNNEL / "medpar_by_provider.csv", request)
    assert exc.value.exit_code == 2
    header = "(the header has 'provnum', 'los', 'prds', 'died', 'alive', 'n')"
    assert problems_of(exc) == [
        f"medpar_by_provider.csv, row 1, column 'Provnum': --unit-col names a column that is not in the header; "
        f"did you mean 'provnum'? {header}",
        f"medpar_by_provider.csv, row 1, column 'loss': --numerator-col names a column that is not in the "
        f"header; did you mean 'los'? {header}",
        f"medpar_by_provider.csv, row 1, column 'expected': --denominator-col names a column that is not in the "
        f"header {header}",
    ]


def test_empty_files(tmp_path: Path) -> None:
    request = SpcRequest(period_col="p", value_col="v")
    with pytest.raises(AnalystInputError) as exc:
        spc_file(write_csv(tmp_path, ""), request)
    assert problems_of(exc) == ["input.csv: empty file: it has no header and no rows"]
    assert exc.value.exit_code == 1
    with pytest.raises(AnalystInputError) as exc:
        spc_file(write_csv(tmp_path, "p,v\n", "header.csv"), request)
    assert problems_of(exc) == ["header.csv: empty file: the header is there but no data rows"]


def test_missing_file_is_a_usage_problem(tmp_path: Path) -> None:
    with pytest.raises(AnalystInputError) as exc:
        spc_file(tmp_path / "nope.csv", SpcRequest(period_col="p", value_col="v"))
    assert exc.value.exit_code == 2
    assert problems_of(exc) == [f"nope.csv: file not found: {tmp_path / 'nope.csv'}"]


def test_problem_list_is_capped_but_counted(tmp_path: Path) -> None:
    rows = "\n".join(f"u{i},x,1" for i in range(1500))
    path = write_csv(tmp_path, "unit,o,e\n" + rows + "\n")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(path, FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e"))
    assert len(exc.value.problems) == 1000
    assert exc.value.total == 1500
    assert exc.value.summary() == "input.csv: 1500 problem(s) found (first 1000 listed); nothing was computed"


def test_windows_1252_csv_as_excel_saves_it(tmp_path: Path) -> None:
    """The tools take a bare file (no mapping to name an encoding): a CSV that is not UTF-8 is read as Windows-1252
    by the one reader."""
    utf8 = write_csv(tmp_path, "unit,o,e\nCafé,10,12\nB,25,20\nC,14,15\n", "utf8.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(utf8.read_bytes().decode("utf-8").encode("cp1252"))
    request = FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e", overdispersion="none")
    assert funnel_file(latin, request).table.equals(funnel_file(utf8, request).table)


def test_ragged_rows_are_named_by_the_reader(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "unit,o,e\nA,10,12\nB,25\n")
    request = FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(path, request)
    assert problems_of(exc) == ["input.csv, row 3: row has 2 fields where the header has 3"]
    assert exc.value.exit_code == 1
