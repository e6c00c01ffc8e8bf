"""Tests for forewarn.tools.funnel against FunnelPlotR 0.6.0 (tests/fixtures/funnelplotr, see its SOURCE.md),
and its bad input, message by message."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import special, stats

from forewarn.tools.funnel import FunnelRequest, funnel_file
from forewarn.tools.problems import AnalystInputError
from tests.tools.helpers import (
    FUNNEL,
    TOL,
    assert_close,
    problems_of,
    read_reference,
    write_csv,
)

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
