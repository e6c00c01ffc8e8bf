"""Tests for forewarn.tools.spc against NHSRplotthedots 0.2.2 (tests/fixtures/nhsrplotthedots) and qicharts2
0.8.1 (tests/fixtures/qicharts2), and its bad input, message by message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forewarn.tools.problems import AnalystInputError
from forewarn.tools.spc import SHORT_GROUP_MESSAGE, SpcRequest, spc_file
from tests.tools.helpers import (
    PTD,
    QIC,
    assert_close,
    problems_of,
    read_reference,
    write_csv,
)

PTD_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # The rrk and rnorm runs read x and y from their own points tables (the inputs as the package saw them).
    "rrk_stable_breaches": ("rrk_stable_breaches_points.csv", {"improvement": "decrease"}),
    "rrk_performance_target95": ("rrk_performance_target95_points.csv", {"target": 0.95}),
    "rrk_performance_target95_noscreen": (
        "rrk_performance_target95_noscreen_points.csv",
        {"target": 0.95, "screen_outliers": False},
    ),
    "rrk_performance_fix12": ("rrk_performance_fix12_points.csv", {"fix_after": 12}),
    "testfixture_rnorm20": ("input_testfixture_rnorm20.csv", {}),
    "testfixture_rnorm20_y15eq10_screened": ("testfixture_rnorm20_y15eq10_screened_points.csv", {}),
    "testfixture_rnorm20_y15eq10_unscreened": (
        "testfixture_rnorm20_y15eq10_unscreened_points.csv",
        {"screen_outliers": False},
    ),
    "rrk_rebase_breaches": (
        "input_rrk_all.csv",
        {
            "period_col": "period",
            "value_col": "breaches",
            "improvement": "decrease",
            "rebase": ("2018-07-01",),
        },
    ),
    "type1_36m_performance_facets": (
        "input_type1_36m_performance.csv",
        {"series_col": "org_code", "period_col": "period", "value_col": "performance", "target": 0.95},
    ),
    "type1_36m_breaches_facets_neutral": (
        "input_type1_36m_performance.csv",
        {"series_col": "org_code", "period_col": "period", "value_col": "breaches", "improvement": "neutral"},
    ),
}


def ptd_run(name: str) -> tuple[SpcRequest, Any]:
    file, options = PTD_VARIANTS[name]
    request = SpcRequest(**{"period_col": "x", "value_col": "y", **options})
    return request, spc_file(PTD / file, request)


@pytest.mark.parametrize("name", list(PTD_VARIANTS))
def test_spc_points_match_nhsrplotthedots(name: str) -> None:
    """Reference: NHSRplotthedots ptd_spc() points (limits, rule flags, labels, point types, rebase groups)."""
    request, result = ptd_run(name)
    reference = read_reference(PTD / f"{name}_points.csv")
    faceted = request.series_col is not None
    keys = ["f", "x"] if faceted else ["x"]
    ours = ["series", "period"] if faceted else ["period"]
    joined = reference.rename({c: f"ref_{c}" for c in reference.columns}).join(
        result.table, left_on=[f"ref_{k}" for k in keys], right_on=ours, how="left"
    )
    assert joined.height == result.table.height == reference.height
    scale = max(1.0, float(reference["y"].abs().max()))  # breaches run to thousands: compare relative to them
    for theirs, mine in (("mean_col", "mean"), ("lpl", "lpl"), ("upl", "upl"), ("y", "value")):
        assert_close(joined[mine] / scale, joined[f"ref_{theirs}"] / scale, theirs)
    for theirs, mine in (
        ("rebase_group", "segment"),
        ("short_group_warning", "short_group_warning"),
        ("outside_limits", "outside_limits"),
        ("relative_to_mean", "relative_to_mean"),
        ("close_to_limits", "close_to_limits"),
        ("special_cause_type", "special_cause_type"),
        ("special_cause_flag", "special_cause_flag"),
        ("point_type", "point_type"),
    ):
        assert joined[mine].to_list() == joined[f"ref_{theirs}"].to_list(), theirs


@pytest.mark.parametrize("name", list(PTD_VARIANTS))
def test_spc_summary_matches_nhsrplotthedots(name: str) -> None:
    """Reference: NHSRplotthedots summary() (one row per facet and rebase group)."""
    _, result = ptd_run(name)
    reference = read_reference(PTD / f"{name}_summary.csv")
    ours = result.series_table
    if "f" in reference.columns:
        ours = reference.select(pl.col("f").alias("series")).join(ours, on="series", how="left")
    assert ours.height == reference.height
    scale = max(1.0, float(reference["upl"].abs().max()))
    for theirs, mine in (("mean_col", "mean"), ("lpl", "lpl"), ("upl", "upl")):
        assert_close(ours[mine] / scale, reference[theirs] / scale, theirs)
    columns = ["n", "common_cause", "special_cause_improvement", "special_cause_concern", "variation_type"]
    if "assurance_type" in reference.columns:
        columns.append("assurance_type")
    for column in columns:
        assert ours[column].to_list() == reference[column].to_list(), column


def test_spc_facets_variation_and_assurance_counts() -> None:
    """Reference: the NHSRplotthedots README figures for 130 trusts x 36 months of 4-hour performance:
    variation 84 common cause, 42 concern, 4 improvement; assurance 87 fail, 41 inconsistent, 2 pass."""
    _, result = ptd_run("type1_36m_performance_facets")
    assert result.summary["variation"] == {
        "common_cause": 84,
        "special_cause_concern": 42,
        "special_cause_improvement": 4,
    }
    assert result.summary["assurance"] == {"consistent_fail": 87, "inconsistent": 41, "consistent_pass": 2}
    assert result.summary["n_series"] == 130
    assert result.warnings == ()


def test_spc_short_group_warning_is_a_warning() -> None:
    """Reference: NHSRplotthedots warns (does not fail) when a rebase group has fewer than 13 points; its
    message is given word for word, followed by the groups concerned."""
    _, result = ptd_run("rrk_rebase_breaches")
    assert result.warnings == (f"{SHORT_GROUP_MESSAGE} [all segment 1 (9 points)]",)
    assert result.series_table["short_group_warning"].to_list() == [False, True]


RUN_VARIANTS: dict[str, dict[str, Any]] = {
    "cdi_run": {},
    "cdi_run_freeze24": {"fix_after": 24},
    "cdi_run_part24": {"rebase": ("2014-11-01",)},  # qicharts2 part = 24: the 25th month starts phase 2
}


@pytest.mark.parametrize("name", list(RUN_VARIANTS))
def test_run_chart_matches_qicharts2(name: str) -> None:
    """Reference: qicharts2 qic(month, n, data = cdi) run charts: centre line per point and the Anhoej runs
    analysis per part (n.obs, n.useful, longest run and its limit, crossings and their limit, signal)."""
    request = SpcRequest(period_col="x", value_col="y", rules="anhoej", **RUN_VARIANTS[name])
    result = spc_file(QIC / f"{name}_points.csv", request)
    points = read_reference(QIC / f"{name}_points.csv")
    assert_close(result.table["centre"], points["cl"], "cl")
    assert (result.table["segment"] + 1).to_list() == points["part"].to_list()
    summary = read_reference(QIC / f"{name}_summary.csv")
    ours = result.series_table
    assert_close(ours["centre"], summary["CL"], "CL")
    for theirs in ("n.obs", "n.useful", "longest.run", "longest.run.max", "n.crossings", "n.crossings.min"):
        assert ours[theirs.replace(".", "_")].to_list() == summary[theirs].to_list(), theirs
    assert ours["runs_signal"].cast(pl.Int64).to_list() == summary["runs.signal"].to_list()


def test_spc_one_call_for_all_series_keeps_each_series_apart(tmp_path: Path) -> None:
    """Two series in one file give the same charts as each series alone (the panel keeps them apart), and
    input order does not matter (rows are placed by period)."""
    both = pl.read_csv(PTD / "input_type1_36m_performance.csv").filter(
        pl.col("org_code").is_in(["R1F", "R1H"])
    )
    shuffled = both.sample(fraction=1.0, shuffle=True, seed=7)
    shuffled.write_csv(tmp_path / "both.csv")
    both.filter(pl.col("org_code") == "R1H").write_csv(tmp_path / "one.csv")
    request = SpcRequest(series_col="org_code", period_col="period", value_col="performance")
    together = spc_file(tmp_path / "both.csv", request).table.filter(pl.col("series") == "R1H")
    alone = spc_file(tmp_path / "one.csv", request).table
    assert together.sort("period").drop("series").equals(alone.sort("period").drop("series"))


def test_spc_rebase_for_one_series(tmp_path: Path) -> None:
    """SERIES=DATE rebases that series only: R1H gets two segments, R1F keeps one."""
    both = pl.read_csv(PTD / "input_type1_36m_performance.csv").filter(
        pl.col("org_code").is_in(["R1F", "R1H"])
    )
    both.write_csv(tmp_path / "both.csv")
    request = SpcRequest(
        series_col="org_code", period_col="period", value_col="performance", rebase=("R1H=2017-10-01",)
    )
    result = spc_file(tmp_path / "both.csv", request)
    segments = result.series_table.select("series", "segment", "from_period", "n").rows()
    assert segments == [
        ("R1F", 0, "2016-04-01", 36),
        ("R1H", 0, "2016-04-01", 18),
        ("R1H", 1, "2017-10-01", 18),
    ]


def test_spc_missing_value_is_skipped(tmp_path: Path) -> None:
    """An empty value leaves the point out (the moving range bridges it, as if the row were absent)."""
    text = (PTD / "input_testfixture_rnorm20.csv").read_text().splitlines()
    holed = [*text[:6], text[6].split(",")[0] + ",", *text[7:]]
    path = write_csv(tmp_path, "\n".join(holed) + "\n")
    dropped = write_csv(tmp_path, "\n".join([*text[:6], *text[7:]]) + "\n", "dropped.csv")
    request = SpcRequest(period_col="x", value_col="y")
    with_gap = spc_file(path, request)
    without = spc_file(dropped, request)
    assert with_gap.summary["n_missing_values"] == 1
    assert with_gap.warnings[0].startswith("1 row(s) have no value")
    assert with_gap.table.filter(pl.col("value").is_null())["point_type"].to_list() == [None]
    assert with_gap.series_table.drop("from_period", "to_period").equals(
        without.series_table.drop("from_period", "to_period")
    )


def test_spc_duplicated_periods_and_bad_cells(tmp_path: Path) -> None:
    text = "org,month,v\nA,2020-01-01,1\nA,2020-02-01,2\nA,2020-01-01,3\nB,2020-01-01,x\nB,2020-13-01,2\n,2020-03-01,1\n"
    path = write_csv(tmp_path, text)
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(series_col="org", period_col="month", value_col="v"))
    assert problems_of(exc) == [
        "input.csv, row 4, column 'month': period appears more than once in series 'A' (first at row 2) "
        "(value '2020-01-01')",
        "input.csv, row 5, column 'v': not a number (value 'x')",
        "input.csv, row 6, column 'month': not a period in the form the other rows use (a date YYYY-MM-DD) "
        "(value '2020-13-01')",
        "input.csv, row 7, column 'org': empty: every row needs a series",
    ]


def test_spc_series_too_short(tmp_path: Path) -> None:
    text = "org,month,v\nA,2020-01,1\nA,2020-02,2\nA,2020-03,4\nB,2020-01,5\nC,2020-01,\nC,2020-02,\n"
    path = write_csv(tmp_path, text)
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(series_col="org", period_col="month", value_col="v"))
    assert problems_of(exc) == [
        "input.csv, row 5, column 'v': series 'B' has 1 point(s) with a value: too short for a chart, which needs "
        "at least 2",
        "input.csv, row 6, column 'v': series 'C' has 0 point(s) with a value: too short for a chart, which needs "
        "at least 2",
    ]
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(series_col="org", period_col="month", value_col="v", rebase=("A=2020-03",)))
    assert problems_of(exc)[0] == (
        "input.csv, row 4, column 'v': series 'A' from 2020-03 (after a rebase) has 1 point(s) with a value: too "
        "short for a chart, which needs at least 2"
    )


def test_spc_unreadable_periods(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "p,v\nJan,1\nFeb,2\n")
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(period_col="p", value_col="v"))
    expected = (
        "not a period: expected a date YYYY-MM-DD, a date DD/MM/YYYY, a month YYYY-MM, a year such as 2017, "
        "2017/18 or 2019 - 21, a number"
    )
    assert problems_of(exc) == [
        f"input.csv, row 2, column 'p': {expected} (value 'Jan')",
        f"input.csv, row 3, column 'p': {expected} (value 'Feb')",
    ]


def test_spc_usage_problems() -> None:
    path = PTD / "input_rrk_all.csv"
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(period_col="period", value_col="breaches", rebase=("July",)))
    assert exc.value.exit_code == 2
    assert problems_of(exc) == [
        "input_rrk_all.csv: --rebase 'July': not a period in the form of the file's periods (a date YYYY-MM-DD)"
    ]
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(period_col="period", value_col="breaches", fix_after=6))
    assert exc.value.exit_code == 2
    assert "fix_after_n_points must be an integer >= 12" in problems_of(exc)[0]
    with pytest.raises(AnalystInputError) as exc:
        spc_file(path, SpcRequest(period_col="period", value_col="breaches", rebase=("RRK=2018-07-01",)))
    assert problems_of(exc) == [
        "input_rrk_all.csv: --rebase 'RRK=2018-07-01' names a series, but no --series-col was given"
    ]
