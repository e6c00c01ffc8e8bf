"""The analyst's Python API (``import forewarn as fw``) gives the command line's numbers on the same input.

The command line reads the bundled files (``forewarn funnel|spc|ranks|cusum|psychometrics FILE --json``); the API
reads the same files into pandas or Polars frames. Both run the one implementation in
``forewarn.tools``, and these tests hold them to it: every column of every row, to the last bit
for the tables and 1e-12 for the summaries. Charts are Altair charts that draw as SVG.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

import forewarn as fw
from forewarn.cli import app
from forewarn.tools.problems import AnalystInputError

ROOT = Path(__file__).resolve().parent.parent
AE = ROOT / "data" / "nhs_ae" / "nhs_ae_attendances.csv"
LQ = ROOT / "tests" / "fixtures" / "psychometrics" / "lq2002.csv"
LEAD = [f"LEAD{i:02d}" for i in range(1, 12)]


@pytest.fixture(scope="module")
def type1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Type 1 (major) A&E departments of the bundled NHS file, as a file the command line reads."""
    frame = pd.read_csv(AE, dtype={"type": str})
    frame = frame[frame["type"] == "1"].copy()
    frame["expected"] = frame.groupby("org_code")["admissions"].transform("mean")
    path = tmp_path_factory.mktemp("api") / "type1.csv"
    frame.to_csv(path, index=False)
    return path


def cli_json(*args: str | Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def same(api_rows: list[dict[str, Any]], cli_rows: list[dict[str, Any]]) -> None:
    assert len(api_rows) == len(cli_rows)
    for mine, theirs in zip(api_rows, cli_rows, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            got = mine[key]
            if isinstance(value, float) or isinstance(got, float):
                if value is None or got is None or (isinstance(got, float) and math.isnan(got)):
                    assert (value is None) and (got is None or math.isnan(got)), (key, got, value)
                else:
                    assert got == pytest.approx(value, rel=0, abs=0), (key, got, value)
            else:
                assert got == value, (key, got, value)


def rows_of(table: Any) -> list[dict[str, Any]]:
    frame = table if isinstance(table, pl.DataFrame) else pl.from_pandas(table)
    out = frame.to_dicts()
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in out]


def close_summary(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    for key, value in theirs.items():
        if isinstance(value, float):
            assert mine[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert mine[key] == value, key


def test_funnel_equals_the_command_line(type1: Path) -> None:
    cli = cli_json(
        "funnel", type1, "--unit-col", "org_code", "--numerator-col", "breaches",
        "--denominator-col", "attendances", "--data-type", "PR",
    )  # fmt: skip
    frame = pd.read_csv(type1, dtype={"type": str})
    result = fw.funnel(
        frame, unit_col="org_code", numerator_col="breaches", denominator_col="attendances", data_type="PR"
    )
    assert isinstance(result.table, pd.DataFrame)
    same(rows_of(result.table), cli["rows"])
    close_summary(result.summary, cli["summary"])
    assert {"target", "phi", "tau2", "n_outliers", "expected_by_chance"} <= result.summary.keys()
    assert result.summary["n_outliers"] == len(result.summary["outliers"]) > 0


def test_spc_equals_the_command_line_from_pandas_and_polars(type1: Path) -> None:
    args = ["--period-col", "period", "--value-col", "attendances", "--series-col", "org_code"]
    cli = cli_json("spc", type1, *args, "--improvement", "neutral")
    options = {"period_col": "period", "value_col": "attendances", "series_col": "org_code"}
    from_pandas = fw.spc(pd.read_csv(type1, dtype={"type": str}), improvement="neutral", **options)
    from_polars = fw.spc(pl.read_csv(type1), improvement="neutral", **options)
    assert isinstance(from_polars.table, pl.DataFrame) and isinstance(from_pandas.series, pd.DataFrame)
    same(rows_of(from_pandas.table), cli["rows"])
    same(rows_of(from_polars.table), cli["rows"])
    same(rows_of(from_polars.series), cli["series"])
    assert from_pandas.summary == from_polars.summary == cli["summary"]
    assert sum(from_pandas.summary["variation"].values()) == 140


def test_ranks_and_cusum_equal_the_command_line(type1: Path) -> None:
    frame = pl.read_csv(type1)
    cli = cli_json(
        "ranks",
        type1,
        "--unit-col",
        "org_code",
        "--numerator-col",
        "breaches",
        "--denominator-col",
        "attendances",
    )
    result = fw.ranks(frame, unit_col="org_code", numerator_col="breaches", denominator_col="attendances")
    same(rows_of(result.table), cli["rows"])
    cli = cli_json(
        "cusum", type1, "--period-col", "period", "--observed-col", "admissions",
        "--expected-col", "expected", "--series-col", "org_code",
    )  # fmt: skip
    result = fw.cusum(
        frame, period_col="period", observed_col="admissions", expected_col="expected", series_col="org_code"
    )
    assert result.summary["baseline"] == "own"  # the command line's default
    same(rows_of(result.table), cli["rows"])
    close_summary(result.summary, cli["summary"])


def test_psychometrics_equals_the_command_line() -> None:
    cli = cli_json(
        "psychometrics", LQ, "--group-col", "COMPID", "--items", ",".join(LEAD), "--resamples", "0"
    )
    result = fw.psychometrics(pd.read_csv(LQ), group_col="COMPID", items=LEAD, resamples=0)
    dimension = cli["analysis"]["dimensions"][0]
    for key in ("alpha", "alpha_ci_lower", "alpha_ci_upper", "omega", "icc1", "icc2"):
        assert result.summary[key] == dimension[key], key
    assert result.summary["icc1"] == pytest.approx(0.0879562185216011, abs=1e-9)  # R multilevel::ICC1
    cells = {c["group"]: c for c in cli["analysis"]["cells"]}
    for row in rows_of(result.table):
        assert row["mean"] == cells[row["group"]]["mean"]
        assert row["n"] == str(cells[row["group"]]["n"])


def test_ewma_charts_each_series_against_its_baseline() -> None:
    frame = pl.DataFrame(
        {"t": list(range(1, 31)), "v": [10.0, 12.0, 11.0, 9.0, 10.0, 11.0] * 3 + [16.0] * 12}
    )
    result = fw.ewma(frame, period_col="t", value_col="v", L=3.0)
    table = result.table
    assert table["centre"][0] == pytest.approx(np.mean([10, 12, 11, 9, 10, 11] * 2))
    assert result.summary["L"] == 3.0 and result.summary["n_alarms"] > 0
    assert table.filter(pl.col("alarm"))["direction"].unique().to_list() == ["high"]
    default = fw.ewma(frame, period_col="t", value_col="v")
    assert default.summary["L"] == pytest.approx(2.86, abs=0.01)  # ewma_crit(0.2, 370), varying limits


def test_every_result_draws_an_altair_chart_that_saves_as_svg(type1: Path, tmp_path: Path) -> None:
    frame = pl.read_csv(type1)
    results = {
        "funnel": fw.funnel(frame, unit_col="org_code", numerator_col="breaches", denominator_col="attendances", data_type="PR"),
        "spc": fw.spc(frame, period_col="period", value_col="attendances", series_col="org_code"),
        "run": fw.spc(frame, period_col="period", value_col="attendances", series_col="org_code", rules="anhoej"),
        "ewma": fw.ewma(frame, period_col="period", value_col="attendances", series_col="org_code"),
        "ranks": fw.ranks(frame, unit_col="org_code", numerator_col="breaches", denominator_col="attendances"),
        "psychometrics": fw.psychometrics(pd.read_csv(LQ), group_col="COMPID", items=LEAD, resamples=0),
    }  # fmt: skip
    for name, result in results.items():
        chart = result.chart()
        assert isinstance(chart, alt.LayerChart), name
        chart.to_dict(validate=True)
        path = tmp_path / f"{name}.svg"
        chart.save(path)
        assert path.read_text().startswith("<svg"), name
    assert "XmR chart of RF4" in results["spc"].chart("RF4").to_dict()["description"]
    with pytest.raises(ValueError, match="no series 'nope'"):
        results["spc"].chart("nope")


def test_bad_input_names_the_row_position_column_and_option() -> None:
    frame = pd.DataFrame({"unit": ["A", "B", "C"], "o": [1.0, -2.0, 3.0], "n": [10.0, 10.0, 0.0]})
    with pytest.raises(AnalystInputError) as raised:
        fw.funnel(frame, unit_col="unit", numerator_col="o", denominator_col="n", data_type="PR")
    assert [str(p) for p in raised.value.problems] == [
        "data, row 1, column 'o': must not be negative (value '-2.0')",
        "data, row 2, column 'n': denominator is 0: the ratio is undefined (value '0.0')",
        "data, row 2, column 'o': numerator exceeds the denominator (0.0): a proportion needs numerator <= "
        "denominator (value '3.0')",
    ]
    with pytest.raises(
        AnalystInputError, match="unit_col names a column that is not in the frame; did you mean 'unit'"
    ):
        fw.funnel(frame, unit_col="Unit", numerator_col="o", denominator_col="n", data_type="PR")
    with pytest.raises(TypeError, match="pandas or Polars"):
        fw.funnel([1, 2], unit_col="u", numerator_col="o", denominator_col="n", data_type="PR")


def test_a_missing_value_in_pandas_is_missing_not_an_error() -> None:
    frame = pd.DataFrame(
        {"m": [f"2020-{i:02d}" for i in range(1, 13)], "v": [5.0, float("nan")] + [6.0] * 10}
    )
    result = fw.spc(frame, period_col="m", value_col="v")
    assert result.warnings and "1 row(s) have no value" in result.warnings[0]
