"""Tests for forewarn.cli.analyst: ``forewarn funnel``, ``spc``, ``cusum`` and ``ranks`` end to end.

References: FunnelPlotR 0.6.0 (tests/fixtures/funnelplotr), NHSRplotthedots 0.2.2 (tests/fixtures/nhsrplotthedots)
and qicharts2 0.8.1 (tests/fixtures/qicharts2): the commands' CSV, Parquet and JSON output must reproduce them.
The commands are registered here as :mod:`forewarn.cli` registers them, so these tests do not depend on that file.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from forewarn.cli.analyst import cusum_command, funnel_command, ranks_command, spc_command

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FUNNEL = FIXTURES / "funnelplotr"
PTD = FIXTURES / "nhsrplotthedots"
QIC = FIXTURES / "qicharts2"
TOL = 1e-6

app = typer.Typer(pretty_exceptions_enable=False)
app.command("funnel")(funnel_command)
app.command("spc")(spc_command)
app.command("cusum")(cusum_command)
app.command("ranks")(ranks_command)
runner = CliRunner()

MEDPAR = ["--unit-col", "provnum"]


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def read_reference(path: Path) -> pl.DataFrame:
    header = pl.read_csv(path, n_rows=0).columns
    codes = {c: pl.String for c in ("group", "f") if c in header}
    return pl.read_csv(path, null_values="NA", infer_schema_length=None, schema_overrides=codes)


def stdout_table(result: Any) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(result.stdout), schema_overrides={"unit": pl.String, "series": pl.String})


def assert_close(actual: Any, expected: Any, what: str, tol: float = TOL) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=0,
        atol=tol,
        err_msg=what,
    )


def by_group(table: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    return reference.select(pl.col("group").alias("unit")).join(table, on="unit", how="left")


# ----------------------------------------------------------------------------------------------------------
# funnel
# ----------------------------------------------------------------------------------------------------------


def test_funnel_sr_shmi_998_reproduces_funnelplotr() -> None:
    """Reference: FunnelPlotR funnel_plot(medpar, los, prds, data_type = "SR", sr_method = "SHMI",
    limit = 99, draw_adjusted = TRUE): every limit column, z, ratio and outlier flag, to 1e-6."""
    result = invoke(
        "funnel",
        FUNNEL / "medpar_by_provider.csv",
        *MEDPAR,
        "--numerator-col",
        "los",
        "--denominator-col",
        "prds",
        "--data-type",
        "SR",
        "--od",
        "shmi",
        "--limit",
        "99.8",
        "--compat",
        "funnelplotr",
    )
    assert result.exit_code == 0, result.stderr
    reference = read_reference(FUNNEL / "medpar_SR_SHMI_adj_99_aggregated.csv")
    table = by_group(stdout_table(result), reference)
    pairs = {
        "value": "rr",
        "z": "Uzscore",
        "lower_95": "LCL95",
        "upper_95": "UCL95",
        "lower_99_8": "LCL99",
        "upper_99_8": "UCL99",
        "adjusted_lower_95": "OD95LCL",
        "adjusted_upper_95": "OD95UCL",
        "adjusted_lower_99_8": "OD99LCL",
        "adjusted_upper_99_8": "OD99UCL",
    }
    for ours, theirs in pairs.items():
        assert_close(table[ours], reference[theirs], theirs)
    assert table["outlier"].cast(pl.Int64).to_list() == reference["outlier"].to_list()
    assert "phi 8.53285, tau2 0.0284102 (limits adjusted)" in result.stderr
    assert "outside the 99.8% limits: 9 (2 high, 7 low); 0.11 expected by chance" in result.stderr


def test_funnel_pr_json_summary_reproduces_funnelplotr() -> None:
    """Reference: FunnelPlotR funnel_plot(medpar, died, n, data_type = "PR", limit = 99): phi, tau2, target
    and limits, from the JSON output."""
    result = invoke(
        "funnel",
        FUNNEL / "medpar_by_provider.csv",
        *MEDPAR,
        "--numerator-col",
        "died",
        "--denominator-col",
        "n",
        "--data-type",
        "pr",
        "--compat",
        "funnelplotr",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    summary = payload["summary"]
    assert summary["phi"] == pytest.approx(1.36073398509911, abs=TOL)
    assert summary["tau2"] == pytest.approx(0.00353333502020161, abs=TOL)
    assert summary["target"] == pytest.approx(0.34314381270903, abs=TOL)
    assert summary["n_outliers"] == 0
    assert summary["unadjusted_limits"] == "approximate"
    reference = read_reference(FUNNEL / "medpar_PR_died_adj_99_aggregated.csv")
    rows = pl.DataFrame(payload["rows"], infer_schema_length=None)
    table = by_group(rows, reference)
    for ours, theirs in (
        ("adjusted_lower_99_8", "OD99LCL"),
        ("adjusted_upper_99_8", "OD99UCL"),
        ("lower_95", "LCL95"),
    ):
        assert_close(table[ours], reference[theirs], theirs)


def test_funnel_output_parquet(tmp_path: Path) -> None:
    """--output by suffix: Parquet holds the same table as stdout CSV; nothing goes to stdout."""
    args = [
        "funnel",
        FUNNEL / "testdata_6groups.csv",
        "--unit-col",
        "group",
        "--numerator-col",
        "num",
        "--denominator-col",
        "denom",
        "--data-type",
        "SR",
        "--od",
        "shmi",
        "--compat",
        "funnelplotr",
    ]
    to_file = invoke(*args, "--output", tmp_path / "f.parquet")
    assert to_file.exit_code == 0, to_file.stderr
    assert to_file.stdout == ""
    assert f"wrote 6 rows to {tmp_path / 'f.parquet'}" in to_file.stderr
    written = pl.read_parquet(tmp_path / "f.parquet")
    printed = stdout_table(invoke(*args))
    assert_close(written["z_adjusted"], printed["z_adjusted"], "z_adjusted", tol=1e-12)
    reference = read_reference(FUNNEL / "testdata_SR_SHMI_adj_99_aggregated.csv")
    assert_close(by_group(written, reference)["adjusted_upper_99_8"], reference["OD99UCL"], "OD99UCL")


# ----------------------------------------------------------------------------------------------------------
# spc
# ----------------------------------------------------------------------------------------------------------


def test_spc_facets_reproduce_nhsrplotthedots(tmp_path: Path) -> None:
    """Reference: NHSRplotthedots ptd_spc(type1, performance, period, facet_field = org_code, target = 0.95)
    for 130 trusts x 36 months: points (limits, point types) and the variation and assurance counts."""
    result = invoke(
        "spc",
        PTD / "input_type1_36m_performance.csv",
        "--series-col",
        "org_code",
        "--period-col",
        "period",
        "--value-col",
        "performance",
        "--target",
        "0.95",
        "--output",
        tmp_path / "points.csv",
        "--series-output",
        tmp_path / "series.csv",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["variation"] == {
        "common_cause": 84,
        "special_cause_concern": 42,
        "special_cause_improvement": 4,
    }
    assert summary["assurance"] == {"consistent_fail": 87, "inconsistent": 41, "consistent_pass": 2}
    assert (
        "spc (XmR, Making Data Count): 130 series, 4680 rows; variation: common_cause 84, "
        "special_cause_concern 42, special_cause_improvement 4"
    ) in result.stderr
    assert (
        "assurance against target 0.95: consistent_fail 87, inconsistent 41, consistent_pass 2"
        in result.stderr
    )
    points = pl.read_csv(tmp_path / "points.csv")
    reference = read_reference(PTD / "type1_36m_performance_facets_points.csv")
    reference = reference.rename({c: f"ref_{c}" for c in reference.columns})
    joined = reference.join(points, left_on=["ref_f", "ref_x"], right_on=["series", "period"], how="left")
    assert joined.height == points.height == 4680
    for ours, theirs in (("mean", "mean_col"), ("lpl", "lpl"), ("upl", "upl")):
        assert_close(joined[ours], joined[f"ref_{theirs}"], theirs)
    for column in ("point_type", "special_cause_type", "outside_limits", "close_to_limits"):
        assert joined[column].to_list() == joined[f"ref_{column}"].to_list(), column
    series = pl.read_csv(tmp_path / "series.csv")
    ref_summary = read_reference(PTD / "type1_36m_performance_facets_summary.csv")
    both = ref_summary.join(series, left_on="f", right_on="series", how="left", suffix="_ours")
    assert both["variation_type"].to_list() == both["variation_type_ours"].to_list()
    assert both["assurance_type"].to_list() == both["assurance_type_ours"].to_list()
    assert_close(both["upl_ours"], both["upl"], "upl")


def test_spc_csv_points_on_stdout_match_nhsrplotthedots_limits() -> None:
    """Reference: NHSRplotthedots RRK breaches with improvement "decrease" (its README: mean 1711.875,
    LPL 849.7932, UPL 2573.9568, 8 points by the 7-below rule, 1 above the UPL)."""
    result = invoke(
        "spc",
        PTD / "input_rrk_stable.csv",
        "--period-col",
        "period",
        "--value-col",
        "breaches",
        "--improvement",
        "decrease",
    )
    assert result.exit_code == 0, result.stderr
    points = stdout_table(result)
    reference = read_reference(PTD / "rrk_stable_breaches_points.csv")
    assert (
        points["period"].to_list() == reference["x"].to_list()
    )  # input is newest first; output in time order
    assert_close(points["lpl"], reference["lpl"], "lpl", tol=1e-9)
    assert points["special_cause_type"].to_list() == reference["special_cause_type"].to_list()
    assert int(points["shift"].sum()) == 8
    assert int(points["outside_limits"].sum()) == 1


def test_spc_short_group_warning_on_stderr() -> None:
    """Reference: NHSRplotthedots warns about a rebase group under 13 points (rrk breaches rebased 2018-07-01);
    the command prints the warning and succeeds."""
    result = invoke(
        "spc",
        PTD / "input_rrk_all.csv",
        "--period-col",
        "period",
        "--value-col",
        "breaches",
        "--improvement",
        "decrease",
        "--rebase",
        "2018-07-01",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "warning: Some groups have 'n < 12' observations. These have trial limits, which will be revised with "
        "each additional observation until 'n = fix_after_n_points' has been reached. [all segment 1 (9 points)]"
    ) in result.stderr
    series = json.loads(result.stdout)["series"]
    reference = read_reference(PTD / "rrk_rebase_breaches_summary.csv")
    assert [s["variation_type"] for s in series] == reference["variation_type"].to_list()
    assert_close([s["mean"] for s in series], reference["mean_col"], "mean", tol=1e-6)


def test_spc_anhoej_reproduces_qicharts2() -> None:
    """Reference: qicharts2 qic(month, n, data = cdi): median 17, 32 useful, longest run 14 (limit 8),
    6 crossings (minimum 11): a signal."""
    result = invoke(
        "spc",
        QIC / "cdi_run_points.csv",
        "--period-col",
        "x",
        "--value-col",
        "y",
        "--rules",
        "anhoej",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    reference = read_reference(QIC / "cdi_run_summary.csv").row(0, named=True)
    (series,) = payload["series"]
    assert series["centre"] == reference["CL"] == 17
    for key in ("n.obs", "n.useful", "longest.run", "longest.run.max", "n.crossings", "n.crossings.min"):
        assert series[key.replace(".", "_")] == reference[key], key
    assert series["runs_signal"] is True
    points = read_reference(QIC / "cdi_run_points.csv")
    assert_close([row["centre"] for row in payload["rows"]], points["cl"], "cl")
    assert "spc (run chart, Anhoej rules): 1 series, 1 segments, 1 with a runs signal" in result.stderr


def test_spc_anhoej_freeze_reproduces_qicharts2() -> None:
    """Reference: qicharts2 qic(month, n, data = cdi, freeze = 24): median 19, 31 useful, longest run 15."""
    result = invoke(
        "spc",
        QIC / "cdi_run_freeze24_points.csv",
        "--period-col",
        "x",
        "--value-col",
        "y",
        "--rules",
        "anhoej",
        "--fix-after",
        "24",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    (series,) = json.loads(result.stdout)["series"]
    assert (series["centre"], series["n_useful"], series["longest_run"], series["n_crossings"]) == (
        19,
        31,
        15,
        8,
    )


# ----------------------------------------------------------------------------------------------------------
# cusum and ranks
# ----------------------------------------------------------------------------------------------------------


def test_cusum_command(tmp_path: Path) -> None:
    """Reference: the stats module's documented R examples: S = 0.579442, 1.852030, 0.352030, 2.317766 for
    O = 3, 4, 0, 5 and E = 1.5 (R = 2); for E = 2.4 and a target ARL of 60, h / ln 2 = 3.55 (ARL 66.3893,
    surveillance::arlCusum)."""
    path = tmp_path / "c.csv"
    path.write_text("month,deaths,expected\n2020-01,3,1.5\n2020-02,4,1.5\n2020-03,0,1.5\n2020-04,5,1.5\n")
    result = invoke(
        "cusum",
        path,
        "--period-col",
        "month",
        "--observed-col",
        "deaths",
        "--expected-col",
        "expected",
        "--threshold",
        "3",
        "--baseline",
        "given",
    )
    assert result.exit_code == 0, result.stderr
    assert_close(stdout_table(result)["statistic"], [0.579442, 1.852030, 0.352030, 2.317766], "S")
    assert "threshold h = 3.000000 (given); 0 alarm(s) in 0 of 1 series" in result.stderr
    path.write_text("month,deaths,expected\n" + "".join(f"2020-{m:02d},2,2.4\n" for m in range(1, 13)))
    found = invoke(
        "cusum",
        path,
        "--period-col",
        "month",
        "--observed-col",
        "deaths",
        "--expected-col",
        "expected",
        "--baseline",
        "given",
        "--json",
    )
    assert found.exit_code == 0, found.stderr
    summary = json.loads(found.stdout)["summary"]
    assert summary["threshold"] / math.log(2) == pytest.approx(3.55, abs=1e-9)
    assert summary["arl_at_threshold"] == pytest.approx(66.3893, abs=1e-4)


def test_ranks_command(tmp_path: Path) -> None:
    """Reference: the stats module's documented example (R: rank(c(100, 0, 200))): certain ranks."""
    path = tmp_path / "r.csv"
    path.write_text("unit,est,se\nb,100,1\na,0,1\nc,200,1\n")
    result = invoke(
        "ranks", path, "--unit-col", "unit", "--estimate-col", "est", "--se-col", "se", "--higher-is-better"
    )
    assert result.exit_code == 0, result.stderr
    table = stdout_table(result)
    assert table.select("unit", "rank", "median_rank", "lower_rank", "upper_rank").rows() == [
        ("b", 2, 2.0, 2, 2),
        ("a", 3, 3.0, 3, 3),
        ("c", 1, 1.0, 1, 1),
    ]
    assert (
        "ranks: 3 units in 1 table(s), rank 1 = highest; 2 can be told apart from the middle" in result.stderr
    )


# ----------------------------------------------------------------------------------------------------------
# Bad input and usage
# ----------------------------------------------------------------------------------------------------------


def test_data_problems_exit_1_listing_all(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("unit,died,n\na,5,100\nb,x,0\nc,30,20\n")
    result = invoke(
        "funnel",
        path,
        "--unit-col",
        "unit",
        "--numerator-col",
        "died",
        "--denominator-col",
        "n",
        "--data-type",
        "PR",
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.csv, row 3, column 'died': not a number (value 'x')",
        "bad.csv, row 3, column 'n': denominator is 0: the ratio is undefined (value '0')",
        "bad.csv, row 4, column 'died': numerator exceeds the denominator (20): a proportion needs numerator <= "
        "denominator (value '30')",
        "error: bad.csv: 3 problem(s) found; nothing was computed",
    ]
    as_json = invoke(
        "funnel",
        path,
        "--unit-col",
        "unit",
        "--numerator-col",
        "died",
        "--denominator-col",
        "n",
        "--data-type",
        "PR",
        "--json",
    )
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False and payload["exit_code"] == 1 and payload["total_problems"] == 3
    assert payload["problems"][0] == {
        "file": "bad.csv",
        "row": 3,
        "column": "died",
        "value": "x",
        "message": "not a number",
    }


def test_missing_column_exits_2_with_suggestion() -> None:
    result = invoke("spc", PTD / "input_rrk_all.csv", "--period-col", "Period", "--value-col", "breach")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "input_rrk_all.csv, row 1, column 'Period': --period-col names a column that is not in the header; "
        "did you mean 'period'?"
    )
    assert lines[1].startswith(
        "input_rrk_all.csv, row 1, column 'breach': --value-col names a column that is not in the header; "
        "did you mean 'breaches'?"
    )
    assert lines[2] == "error: input_rrk_all.csv: 2 problem(s) found; nothing was computed"


def test_duplicated_periods_and_short_series(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("org,month,v\nA,2020-01,1\nA,2020-01,2\nB,2020-01,3\n")
    duplicated = invoke("spc", path, "--series-col", "org", "--period-col", "month", "--value-col", "v")
    assert duplicated.exit_code == 1
    assert duplicated.stderr.splitlines()[0] == (
        "s.csv, row 3, column 'month': period appears more than once in series 'A' (first at row 2) (value '2020-01')"
    )
    path.write_text("org,month,v\nA,2020-01,1\nA,2020-02,2\nB,2020-01,3\n")
    short = invoke("spc", path, "--series-col", "org", "--period-col", "month", "--value-col", "v")
    assert short.exit_code == 1
    assert short.stderr.splitlines()[0] == (
        "s.csv, row 4, column 'v': series 'B' has 1 point(s) with a value: too short for a chart, which needs at least 2"
    )


def test_empty_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    result = invoke("ranks", path, "--unit-col", "u", "--estimate-col", "e", "--se-col", "s")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "empty.csv: empty file: it has no header and no rows"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--data-type", "XX"], "Invalid value for '--data-type'"),
        (["--data-type", "SR", "--limit", "90"], "Invalid value for '--limit'"),
        (["--data-type", "SR", "--trim", "0.7"], "trim must be a fraction in (0, 0.5); got 0.7"),
    ],
)
def test_usage_problems_exit_2(args: list[str], fragment: str) -> None:
    result = invoke(
        "funnel",
        FUNNEL / "medpar_by_provider.csv",
        *MEDPAR,
        "--numerator-col",
        "los",
        "--denominator-col",
        "prds",
        *args,
    )
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("spc", tmp_path / "nope.csv", "--period-col", "p", "--value-col", "v")
    assert result.exit_code == 2
    assert "file not found" in result.stderr
