"""Tests for forewarn.tools: the analyst's tools as service functions.

References: FunnelPlotR 0.6.0 (tests/fixtures/funnelplotr), NHSRplotthedots 0.2.2 (tests/fixtures/nhsrplotthedots)
and qicharts2 0.8.1 (tests/fixtures/qicharts2), each named by its SOURCE.md or the shared reference README; the
CUSUM and rank figures are checked against derivations written out here and the stats modules' documented R
calls. Bad input is checked message by message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import special, stats

from forewarn.tools.cusum import CusumRequest, cusum_file
from forewarn.tools.funnel import FunnelRequest, funnel_file
from forewarn.tools.output import write_table
from forewarn.tools.problems import AnalystInputError
from forewarn.tools.ranks import RanksRequest, ranks_file
from forewarn.tools.spc import SHORT_GROUP_MESSAGE, SpcRequest, spc_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FUNNEL = FIXTURES / "funnelplotr"
PTD = FIXTURES / "nhsrplotthedots"
QIC = FIXTURES / "qicharts2"
TOL = 1e-6


def read_reference(path: Path) -> pl.DataFrame:
    """A reference table, with unit and facet codes ("030001") kept as text."""
    header = pl.read_csv(path, n_rows=0).columns
    codes = {c: pl.String for c in ("group", "f", "provnum") if c in header}
    return pl.read_csv(path, null_values="NA", infer_schema_length=None, schema_overrides=codes)


def assert_close(actual: Any, expected: Any, what: str, tol: float = TOL) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=0,
        atol=tol,
        err_msg=what,
    )


def write_csv(tmp_path: Path, text: str, name: str = "input.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(exc: pytest.ExceptionInfo[AnalystInputError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


# ----------------------------------------------------------------------------------------------------------
# Funnel: FunnelPlotR
# ----------------------------------------------------------------------------------------------------------

FUNNEL_SUMMARY = {entry["variant"]: entry for entry in json.loads((FUNNEL / "summary.json").read_text())}


def funnel_request(name: str, **changes: Any) -> tuple[Path, FunnelRequest]:
    """The file and options that reproduce one FunnelPlotR run (see the fixture's SOURCE.md)."""
    info = FUNNEL_SUMMARY[name]
    if name.startswith("medpar"):
        path, unit = FUNNEL / "medpar_by_provider.csv", "provnum"
        numerator, denominator = {"SR": ("los", "prds"), "PR": ("died", "n"), "RC": ("died", "alive")}[
            info["data_type"]
        ]
    elif info["data_type"] == "PR":
        # This run used N = denom + 50; its own table holds the inputs.
        path, unit, numerator, denominator = (
            FUNNEL / f"{name}_aggregated.csv",
            "group",
            "numerator",
            "denominator",
        )
    else:
        path, unit, numerator, denominator = FUNNEL / "testdata_6groups.csv", "group", "num", "denom"
    # FunnelPlotR's sr_method picks the SR scale and estimator; PR and RC are always winsorised.
    method = ("shmi" if info["sr_method"] == "SHMI" else "cqc") if info["data_type"] == "SR" else "cqc"
    request = FunnelRequest(
        unit_col=unit,
        numerator_col=numerator,
        denominator_col=denominator,
        data_type=info["data_type"],
        overdispersion=method if info["draw_adjusted_requested"] else "none",
        trim=info["trim_by"],
        limit=99.8 if info["limit"] == 99 else 95.0,
        sr_scale=("log" if method == "shmi" else "sqrt") if info["data_type"] == "SR" else None,
        compat="funnelplotr",
    )
    return path, FunnelRequest(**{**request.__dict__, **changes})


def in_reference_order(table: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    return reference.select(pl.col("group").alias("unit")).join(table, on="unit", how="left")


@pytest.mark.parametrize("name", list(FUNNEL_SUMMARY))
def test_funnel_matches_funnelplotr(name: str) -> None:
    """Reference: FunnelPlotR aggregated_data and summary for every stored run, reproduced under compat."""
    path, request = funnel_request(name)
    result = funnel_file(path, request)
    reference = read_reference(FUNNEL / f"{name}_aggregated.csv")
    table = in_reference_order(result.table, reference)
    info = FUNNEL_SUMMARY[name]
    assert_close(table["value"], reference["rr"], "rr")
    assert_close(table["z"], reference["Uzscore"], "Uzscore")
    assert table["outlier"].cast(pl.Int64).to_list() == reference["outlier"].to_list()
    for tag, ours in (("95", "95"), ("99", "99_8")):
        assert_close(table[f"lower_{ours}"], reference[f"LCL{tag}"], f"LCL{tag}")
        assert_close(table[f"upper_{ours}"], reference[f"UCL{tag}"], f"UCL{tag}")
        if info["draw_adjusted_requested"]:
            assert_close(table[f"adjusted_lower_{ours}"], reference[f"OD{tag}LCL"], f"OD{tag}LCL")
            assert_close(table[f"adjusted_upper_{ours}"], reference[f"OD{tag}UCL"], f"OD{tag}UCL")
    summary = result.summary
    assert summary["phi"] == pytest.approx(info["phi"], abs=TOL)
    assert summary["tau2"] == pytest.approx(info["tau2"], abs=TOL)
    assert summary["target"] == pytest.approx(info["target"], abs=TOL)
    assert summary["n_units"] == info["n_groups"]
    assert sorted(summary["outliers"]) == info["outliers"]
    assert summary["n_outliers"] == info["n_outliers"]


@pytest.mark.parametrize(
    "name", ["medpar_SR_SHMI_adj_99", "medpar_PR_died_adj_99", "testdata_SR_CQC_trim05_adj_95"]
)
def test_funnel_adjusted_z_from_reference_columns(name: str) -> None:
    """Derivation from FunnelPlotR's own Y, target and s columns: z_adj = (Y - Y0) / sqrt(s^2 + tau2), and the
    two-sided p-value 2 Phi(-|z_adj|) with Benjamini-Hochberg q-values (scipy's false_discovery_control)."""
    path, request = funnel_request(name)
    result = funnel_file(path, request)
    reference = read_reference(FUNNEL / f"{name}_aggregated.csv")
    table = in_reference_order(result.table, reference)
    tau2 = FUNNEL_SUMMARY[name]["tau2"]
    y, y0, s = (reference[c].to_numpy() for c in ("Y", "target_transformed", "s"))
    expected_z = (y - y0) / np.sqrt(s**2 + tau2)
    assert_close(table["z_adjusted"], expected_z, "z_adjusted")
    assert_close(table["p_value"], special.erfc(np.abs(expected_z) / math.sqrt(2)), "p_value")
    assert_close(table["q_value"], stats.false_discovery_control(table["p_value"].to_numpy()), "q_value")


def test_funnel_default_cqc_limits_are_squared_back() -> None:
    """Derivation: FunnelPlotR leaves CQC limits on the square-root scale (its quirk); the default squares them
    back, so default limit = max(FunnelPlotR limit, 0)^2 with the same phi and tau2."""
    path, request = funnel_request("medpar_SR_CQC_adj_99", compat=None)
    result = funnel_file(path, request)
    reference = read_reference(FUNNEL / "medpar_SR_CQC_adj_99_aggregated.csv")
    table = in_reference_order(result.table, reference)
    for tag, ours in (("95", "95"), ("99", "99_8")):
        lower = np.maximum(reference[f"OD{tag}LCL"].to_numpy(), 0.0) ** 2
        assert_close(table[f"adjusted_lower_{ours}"], lower, f"OD{tag}LCL squared")
        assert_close(
            table[f"adjusted_upper_{ours}"], reference[f"OD{tag}UCL"].to_numpy() ** 2, f"OD{tag}UCL sq."
        )
    assert result.summary["phi"] == pytest.approx(FUNNEL_SUMMARY["medpar_SR_CQC_adj_99"]["phi"], abs=TOL)


def test_funnel_sums_rows_by_unit(tmp_path: Path) -> None:
    """FunnelPlotR sums numerator and denominator by group: splitting every provider into two rows (in another
    order) gives the same table as the per-provider file."""
    rows = pl.read_csv(FUNNEL / "medpar_by_provider.csv", schema_overrides={"provnum": pl.String})
    first = rows.with_columns(pl.col("los") // 2, pl.col("prds") / 3)
    second = rows.with_columns(pl.col("los") - pl.col("los") // 2, pl.col("prds") * 2 / 3)
    split = pl.concat([second, first]).sort("los")
    split_path = tmp_path / "split.csv"
    split.write_csv(split_path)
    path, request = funnel_request("medpar_SR_SHMI_adj_99", compat=None)
    whole = funnel_file(path, request)
    parts = funnel_file(split_path, request)
    assert parts.summary["n_rows"] == 108
    assert parts.table["rows"].unique().to_list() == [2]
    joined = whole.table.join(parts.table, on="unit", suffix="_parts")
    assert joined.height == 54
    for column in ("numerator", "denominator", "z_adjusted", "adjusted_lower_99_8", "upper_95"):
        assert_close(joined[f"{column}_parts"], joined[column], column, tol=1e-9)


def test_funnel_cqc_sr_stays_on_the_square_root_scale(tmp_path: Path) -> None:
    """Derivation: with --od cqc and no --scale, an SR funnel is on the square-root scale (CQC, Spiegelhalter
    2005; FunnelPlotR's sr_method "CQC"), and so are its unadjusted approximate limits:
    (sqrt(1) +- q / (2 sqrt(E)))^2, the lower root floored at 0 (not exp(+- q / sqrt(E)), the log scale)."""
    path, request = funnel_request(
        "medpar_SR_CQC_adj_99", compat=None, sr_scale=None, unadjusted="approximate"
    )
    result = funnel_file(path, request)
    assert result.summary["scale"] == "sqrt_sr"
    assert result.summary["phi"] == pytest.approx(FUNNEL_SUMMARY["medpar_SR_CQC_adj_99"]["phi"], abs=TOL)
    expected = result.table["denominator"].to_numpy()
    for tag, q in (("95", 1.959964), ("99_8", 3.090232)):
        half_width = q / (2 * np.sqrt(expected))
        assert_close(result.table[f"lower_{tag}"], np.maximum(1 - half_width, 0) ** 2, f"lower_{tag}")
        assert_close(result.table[f"upper_{tag}"], (1 + half_width) ** 2, f"upper_{tag}")
    # Asking for the scale explicitly gives the same table.
    explicit = funnel_file(path, FunnelRequest(**{**request.__dict__, "sr_scale": "sqrt"}))
    assert explicit.table.equals(result.table)


@pytest.mark.parametrize(
    "name", ["medpar_PR_died_adj_99", "medpar_RC_died_vs_alive_adj_99", "testdata_PR_adj_99"]
)
def test_funnelplotr_compat_winsorises_proportions_whatever_the_method(name: str) -> None:
    """Reference: FunnelPlotR ignores sr_method for proportions and ratios of counts and always winsorises (these
    runs were made with sr_method = "SHMI"); under compat, --od shmi gives its phi, tau2 and outliers, with a
    warning. Without compat, shmi truncates as asked."""
    path, request = funnel_request(name, overdispersion="shmi")
    result = funnel_file(path, request)
    info = FUNNEL_SUMMARY[name]
    assert result.summary["overdispersion"] == "cqc"
    assert result.summary["phi"] == pytest.approx(info["phi"], abs=TOL)
    assert result.summary["tau2"] == pytest.approx(info["tau2"], abs=TOL)
    assert sorted(result.summary["outliers"]) == info["outliers"]
    assert any("FunnelPlotR winsorises" in w and "--od shmi is taken as cqc" in w for w in result.warnings)
    own = funnel_file(path, FunnelRequest(**{**request.__dict__, "compat": None}))
    assert own.summary["overdispersion"] == "shmi"
    assert own.summary["phi"] != pytest.approx(info["phi"], abs=1e-3)
    assert not own.warnings


def test_funnel_summary_counts_and_chance() -> None:
    """Flags expected by chance are n alpha (0.002 at 99.8%), and direction follows the side of the limits."""
    path, request = funnel_request("medpar_SR_SHMI_adj_95")
    result = funnel_file(path, request)
    assert result.summary["expected_by_chance"] == pytest.approx(54 * 0.05)
    table = result.table
    high = table.filter(pl.col("direction") == "high")
    low = table.filter(pl.col("direction") == "low")
    assert (high["value"] > high["adjusted_upper_95"]).all()
    assert (low["value"] < low["adjusted_lower_95"]).all()
    assert high.height + low.height == result.summary["n_outliers"] == 16


# ----------------------------------------------------------------------------------------------------------
# SPC: NHSRplotthedots and qicharts2
# ----------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------
# CUSUM
# ----------------------------------------------------------------------------------------------------------


def cusum_reference(observed: list[float], expected: list[float], rate_ratio: float, h: float) -> list[float]:
    """The risk-adjusted Poisson CUSUM written out: S = max(0, S + O ln R - (R - 1) E), reset to 0 at S >= h."""
    s, out = 0.0, []
    for o, e in zip(observed, expected, strict=True):
        s = max(0.0, s + o * math.log(rate_ratio) - (rate_ratio - 1.0) * e)
        out.append(s)
        if s >= h:
            s = 0.0
    return out


CUSUM_CSV = """trust,month,deaths,expected,cases
A,2020-01,3,1.5,40
A,2020-02,4,1.5,40
A,2020-03,0,1.5,40
A,2020-04,5,1.5,40
B,2020-01,1,2.4,50
B,2020-02,6,2.4,50
B,2020-03,5,2.4,50
B,2020-04,0,2.4,50
"""


def test_cusum_statistic_matches_the_recursion(tmp_path: Path) -> None:
    """Derivation: the recursion above; series A is the stats module's documented example (R:
    Reduce(function(s, w) max(0, s + w), O * log(2) - E, 0, accumulate = TRUE))."""
    path = write_csv(tmp_path, CUSUM_CSV)
    request = CusumRequest(
        series_col="trust",
        period_col="month",
        observed_col="deaths",
        expected_col="expected",
        threshold=1.8,
        baseline="given",
    )
    result = cusum_file(path, request)
    table = result.table
    for trust, observed, expected in (("A", [3, 4, 0, 5], [1.5] * 4), ("B", [1, 6, 5, 0], [2.4] * 4)):
        rows = table.filter(pl.col("series") == trust)
        want = cusum_reference(observed, expected, 2.0, 1.8)
        assert_close(rows["statistic"], want, f"S of {trust}", tol=1e-12)
        assert rows["alarm"].to_list() == [s >= 1.8 for s in want]
    assert_close(table.filter(pl.col("series") == "A")["statistic"][:2], [0.579442, 1.852030], "R", tol=1e-6)
    series = result.series_table
    assert series.select("series", "n_alarms", "first_alarm").rows() == [
        ("A", 2, "2020-02"),
        ("B", 1, "2020-03"),
    ]
    assert result.summary["threshold_method"] == "given"


def test_cusum_threshold_from_target_arl(tmp_path: Path) -> None:
    """Reference: the stats module's documented example, R surveillance::arlCusum(h = 3.55, k = 3.4625,
    theta = 2.4): with R = 2 and E = 2.4 a month, a target ARL of 60 gives h / ln 2 = 3.55, ARL 66.3893."""
    rows = "\n".join(
        f"2020-{m:02d},{o},2.4"
        for m, o in zip(range(1, 13), [1, 3, 2, 4, 2, 2, 5, 1, 0, 3, 2, 6], strict=True)
    )
    path = write_csv(tmp_path, "month,deaths,expected\n" + rows + "\n")
    result = cusum_file(
        path,
        CusumRequest(period_col="month", observed_col="deaths", expected_col="expected", baseline="given"),
    )
    assert result.summary["threshold"] / math.log(2) == pytest.approx(3.55, abs=1e-9)
    assert result.summary["arl_at_threshold"] == pytest.approx(66.3893, abs=1e-4)
    assert result.summary["typical_expected"] == pytest.approx(2.4)


def test_cusum_bernoulli_increment(tmp_path: Path) -> None:
    """Derivation: the Bernoulli form adds O ln R - N ln(1 - p + R p), p = E / N (Steiner et al. 2000)."""
    path = write_csv(tmp_path, CUSUM_CSV)
    request = CusumRequest(
        series_col="trust",
        period_col="month",
        observed_col="deaths",
        expected_col="expected",
        denominator_col="cases",
        form="bernoulli",
        threshold=50.0,
        baseline="given",
    )
    table = cusum_file(path, request).table
    o, e, n = (table[c].to_numpy() for c in ("observed", "expected", "denominator"))
    assert_close(table["increment"], o * math.log(2) - n * np.log(1 - e / n + 2 * e / n), "W", tol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Ranks
# ----------------------------------------------------------------------------------------------------------


def test_ranks_far_apart_are_certain(tmp_path: Path) -> None:
    """Reference: the stats module's documented example (R: rank(c(100, 0, 200))): far-apart units have certain
    ranks, and only the middle one cannot be told apart from the middle."""
    path = write_csv(tmp_path, "unit,est,se\nb,100,1\na,0,1\nc,200,1\n")
    table = ranks_file(path, RanksRequest(unit_col="unit", estimate_col="est", se_col="se")).table
    assert table.select("unit", "rank", "lower_rank", "upper_rank", "differs_from_middle").rows() == [
        ("b", 2, 2, 2, False),
        ("a", 1, 1, 1, True),
        ("c", 3, 3, 3, True),
    ]
    higher = ranks_file(
        path, RanksRequest(unit_col="unit", estimate_col="est", se_col="se", higher_is_better=True)
    )
    assert higher.table["rank"].to_list() == [2, 3, 1]
    assert higher.summary["rank_1_is"] == "highest"


def test_ranks_mean_agrees_with_exact_expected_rank(tmp_path: Path) -> None:
    """Derivation: E[rank_i] = 1 + sum_j Phi((x_i - x_j) / sqrt(se_i^2 + se_j^2)) (Goldstein & Spiegelhalter
    1996), written out here; the simulated mean rank agrees within 4 Monte Carlo standard errors."""
    estimate = np.array([0.10, 0.12, 0.15, 0.11, 0.30, 0.13])
    se = np.array([0.02, 0.03, 0.02, 0.05, 0.04, 0.01])
    lines = "\n".join(
        f"u{i},{e},{s},{'x' if i % 2 else 'y'}" for i, (e, s) in enumerate(zip(estimate, se, strict=True))
    )
    path = write_csv(tmp_path, "unit,est,se,table\n" + lines + "\n")
    result = ranks_file(path, RanksRequest(unit_col="unit", estimate_col="est", se_col="se", replicates=4000))
    gap = (estimate[:, None] - estimate[None, :]) / np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    exact = 1.0 + stats.norm.cdf(gap).sum(axis=1) - 0.5
    assert_close(result.table["expected_rank"], exact, "expected rank", tol=1e-9)
    # A rank's sd is at most (n - 1)/2, so the Monte Carlo error of the mean is at most 2.5 / sqrt(4000).
    bound = 4 * 2.5 / math.sqrt(4000)
    assert np.all(np.abs(result.table["mean_rank"].to_numpy() - exact) <= bound)
    grouped = ranks_file(
        path,
        RanksRequest(unit_col="unit", estimate_col="est", se_col="se", group_col="table", replicates=200),
    )
    assert grouped.table["group_size"].to_list() == [3] * 6
    assert grouped.summary["n_groups"] == 2
    in_table = np.arange(6) % 2 == 1
    same = in_table[:, None] == in_table[None, :]
    exact_grouped = 1.0 + np.where(same, stats.norm.cdf(gap), 0.0).sum(axis=1) - 0.5
    assert_close(grouped.table["expected_rank"], exact_grouped, "expected rank within tables", tol=1e-9)


def test_ranks_from_counts(tmp_path: Path) -> None:
    """Derivation: a proportion O/N is ranked with se = sqrt(p~ (1 - p~) / N), p~ = (O + 1/2) / (N + 1), and a
    ratio O/E with se = sqrt(O + 1/2) / E."""
    path = write_csv(tmp_path, "unit,died,n\na,5,100\nb,0,40\nc,30,120\n")
    table = ranks_file(path, RanksRequest(unit_col="unit", numerator_col="died", denominator_col="n")).table
    o, n = np.array([5.0, 0.0, 30.0]), np.array([100.0, 40.0, 120.0])
    p = (o + 0.5) / (n + 1)
    assert_close(table["estimate"], o / n, "p", tol=1e-12)
    assert_close(table["se"], np.sqrt(p * (1 - p) / n), "se", tol=1e-12)
    assert table["rank"].to_list() == [2, 1, 3]
    ratio = ranks_file(
        path, RanksRequest(unit_col="unit", numerator_col="died", denominator_col="n", data_type="SR")
    ).table
    assert_close(ratio["se"], np.sqrt(o + 0.5) / n, "se SR", tol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------------------


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


def test_output_by_suffix(tmp_path: Path) -> None:
    path, request = funnel_request("testdata_SR_SHMI_adj_99")
    table = funnel_file(path, request).table
    write_table(table, tmp_path / "out" / "funnel.parquet")
    write_table(table, tmp_path / "funnel.csv")
    assert pl.read_parquet(tmp_path / "out" / "funnel.parquet").equals(table)
    assert pl.read_csv(tmp_path / "funnel.csv", schema=table.schema).equals(table)


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


# ----------------------------------------------------------------------------------------------------------
# Bad input: every problem, each naming row, column and value
# ----------------------------------------------------------------------------------------------------------


def test_funnel_bad_cells_listed_together(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "unit,died,n\na,5,100\nb,x,0\nc,30,20\n,1,2\ne,-1,\nf,2,1e400\n")
    request = FunnelRequest(unit_col="unit", numerator_col="died", denominator_col="n", data_type="PR")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(path, request)
    assert exc.value.exit_code == 1
    assert problems_of(exc) == [
        "input.csv, row 3, column 'died': not a number (value 'x')",
        "input.csv, row 3, column 'n': denominator is 0: the ratio is undefined (value '0')",
        "input.csv, row 4, column 'died': numerator exceeds the denominator (20): a proportion needs "
        "numerator <= denominator (value '30')",
        "input.csv, row 5, column 'unit': empty: every row needs a unit",
        "input.csv, row 6, column 'died': must not be negative (value '-1')",
        "input.csv, row 6, column 'n': empty: a number is needed here",
        "input.csv, row 7, column 'n': not a finite number (value '1e400')",
    ]
    assert exc.value.summary() == "input.csv: 7 problem(s) found; nothing was computed"


def test_funnel_thousands_separators_are_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path, 'unit,o,e\na,"1,200","1,000.5"\nb,900,"1,100"\nc,80,100\n')
    table = funnel_file(path, FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e")).table
    assert table["numerator"].to_list() == [1200.0, 900.0, 80.0]
    assert table["denominator"].to_list() == [1000.5, 1100.0, 100.0]
    comma = write_csv(tmp_path, 'unit,o,e\na,"0,5",1\n', "comma.csv")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(comma, FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e"))
    assert problems_of(exc) == ["comma.csv, row 2, column 'o': not a number (value '0,5')"]


def test_funnel_unit_level_problems(tmp_path: Path) -> None:
    """Problems that appear once rows are summed are reported at the unit's first row."""
    path = write_csv(tmp_path, "unit,o,e\na,0,5\nb,3,4\na,0,2\n")
    request = FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e", overdispersion="shmi")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(path, request)
    assert problems_of(exc) == [
        "input.csv, row 2, column 'o': unit 'a' has no events: a standardised ratio on the log scale (SHMI) "
        "needs at least one; use --scale sqrt (the CQC scale)"
    ]


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


def test_cusum_bad_input(tmp_path: Path) -> None:
    text = "month,deaths,expected,cases\n2020-01,3,1.5,0\n2020-02,9,1.5,5\n2020-03,-1,x,4\n2020-02,1,1,4\n"
    path = write_csv(tmp_path, text)
    request = CusumRequest(
        period_col="month",
        observed_col="deaths",
        expected_col="expected",
        denominator_col="cases",
        form="bernoulli",
    )
    with pytest.raises(AnalystInputError) as exc:
        cusum_file(path, request)
    assert problems_of(exc) == [
        "input.csv, row 2, column 'cases': denominator is 0: leave the row out (or the cell empty) for a period "
        "without cases (value '0')",
        "input.csv, row 3, column 'deaths': observed exceeds the denominator (5): deaths cannot outnumber cases "
        "(value '9')",
        "input.csv, row 4, column 'deaths': must not be negative (value '-1')",
        "input.csv, row 4, column 'expected': not a number (value 'x')",
        "input.csv, row 5, column 'month': period appears more than once (first at row 3) (value '2020-02')",
    ]
    with pytest.raises(AnalystInputError) as exc:
        cusum_file(
            path, CusumRequest(period_col="month", observed_col="deaths", expected_col="e", form="bernoulli")
        )
    assert exc.value.exit_code == 2
    assert problems_of(exc) == ["input.csv: --form bernoulli needs --denominator-col (cases per period)"]


def test_ranks_sum_rows_by_unit_as_the_funnel_does(tmp_path: Path) -> None:
    """A file the funnel takes (several rows per unit, here per month) is ranked on each unit's totals: the same
    table as the file of totals, and the funnel of the same file sums the same way."""
    monthly = write_csv(
        tmp_path,
        "unit,month,died,n\na,1,3,40\nb,1,1,50\na,2,2,60\nc,1,9,70\nb,2,4,50\nc,2,1,30\n",
        "monthly.csv",
    )
    totals = write_csv(tmp_path, "unit,died,n\na,5,100\nb,5,100\nc,10,100\n", "totals.csv")
    request = RanksRequest(unit_col="unit", numerator_col="died", denominator_col="n", replicates=200)
    by_month = ranks_file(monthly, request)
    by_unit = ranks_file(totals, request)
    assert by_month.table.equals(by_unit.table)
    assert by_month.table["unit"].to_list() == ["a", "b", "c"]
    assert by_month.table["estimate"].to_list() == pytest.approx([0.05, 0.05, 0.10])
    assert (by_month.summary["n_units"], by_month.summary["n_rows"]) == (3, 6)
    funnel = funnel_file(
        monthly, FunnelRequest(unit_col="unit", numerator_col="died", denominator_col="n", data_type="PR")
    )
    assert funnel.table["value"].to_list() == pytest.approx(by_month.table["estimate"].to_list())
    grouped = write_csv(tmp_path, "ind,unit,died,n\nx,a,1,10\ny,a,2,10\nx,a,3,10\nx,b,1,20\n", "grouped.csv")
    table = ranks_file(grouped, RanksRequest(**{**request.__dict__, "group_col": "ind"})).table
    assert table.select("group", "unit", "estimate").rows() == [
        ("x", "a", pytest.approx(0.2)),
        ("y", "a", pytest.approx(0.2)),
        ("x", "b", pytest.approx(0.05)),
    ]


def test_ranks_bad_input(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "unit,est,se\na,1,0.1\na,2,0.1\nb,3,-0.2\n")
    with pytest.raises(AnalystInputError) as exc:
        ranks_file(path, RanksRequest(unit_col="unit", estimate_col="est", se_col="se"))
    assert problems_of(exc) == [
        "input.csv, row 3, column 'unit': unit appears more than once (first at row 2): give one row per unit "
        "with an estimate (rows are summed by unit only with --numerator-col and --denominator-col) (value 'a')",
        "input.csv, row 4, column 'se': a standard error must not be negative (value '-0.2')",
    ]
    with pytest.raises(AnalystInputError) as exc:
        ranks_file(path, RanksRequest(unit_col="unit", estimate_col="est"))
    assert exc.value.exit_code == 2
    assert problems_of(exc) == ["input.csv: --estimate-col and --se-col go together"]


def test_problem_list_is_capped_but_counted(tmp_path: Path) -> None:
    rows = "\n".join(f"u{i},x,1" for i in range(1500))
    path = write_csv(tmp_path, "unit,o,e\n" + rows + "\n")
    with pytest.raises(AnalystInputError) as exc:
        funnel_file(path, FunnelRequest(unit_col="unit", numerator_col="o", denominator_col="e"))
    assert len(exc.value.problems) == 1000
    assert exc.value.total == 1500
    assert exc.value.summary() == "input.csv: 1500 problem(s) found (first 1000 listed); nothing was computed"
