"""Tests for forewarn.stats.funnel.

References: FunnelPlotR 0.6.0 output in tests/fixtures/funnelplotr (see SOURCE.md there), reproduced under
``compat="funnelplotr"`` to 1e-6; the default (consistent) forms are checked against formulas written out here
(Spiegelhalter 2005, Stat Med 24:1185; Spiegelhalter 2005b, QSHC 14:347) and exact tail probabilities.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from forewarn.stats.funnel import (
    Z_95,
    Z_998,
    FunnelOptions,
    FunnelResult,
    funnel_denominator_grid,
    funnel_limit_curves,
    funnel_limit_curves_from_estimates,
    funnel_limits,
    funnel_statistics,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "funnelplotr"
TOL = 1e-6


def read_csv(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], name: str) -> NDArray[np.float64]:
    return np.array([math.nan if row[name] == "NA" else float(row[name]) for row in rows])


SUMMARY_CSV = {row["variant"]: row for row in read_csv("summary.csv")}
SUMMARY_JSON = {entry["variant"]: entry for entry in json.loads((FIXTURES / "summary.json").read_text())}


@dataclass(frozen=True)
class Variant:
    """One FunnelPlotR run: its inputs, by group, and the options that reproduce it."""

    name: str
    groups: list[str]
    numerator: NDArray[np.float64]
    denominator: NDArray[np.float64]
    options: FunnelOptions

    @property
    def table(self) -> list[dict[str, str]]:
        return read_csv(f"{self.name}_aggregated.csv")

    @property
    def summary(self) -> dict[str, Any]:
        entry: dict[str, Any] = SUMMARY_JSON[self.name]
        return entry

    def run(self, **changes: Any) -> FunnelResult:
        return funnel_statistics(self.numerator, self.denominator, options=replace(self.options, **changes))

    def in_table_order(self, values: NDArray[Any]) -> NDArray[Any]:
        position = {group: i for i, group in enumerate(self.groups)}
        return values[[position[row["group"]] for row in self.table]]


def make_variant(name: str) -> Variant:
    info = SUMMARY_JSON[name]
    if name.startswith("medpar"):
        rows = read_csv("medpar_by_provider.csv")
        groups = [row["provnum"] for row in rows]
        numerator, denominator = {
            "SR": ("los", "prds"),
            "PR": ("died", "n"),
            "RC": ("died", "alive"),
        }[info["data_type"]]
    elif info["data_type"] == "PR":
        # This variant was run with N = denom + 50; its own table holds the inputs.
        rows = read_csv(f"{name}_aggregated.csv")
        groups = [row["group"] for row in rows]
        numerator, denominator = "numerator", "denominator"
    else:
        rows = read_csv("testdata_6groups.csv")
        groups = [row["group"] for row in rows]
        numerator, denominator = "num", "denom"
    adjusted = info["draw_adjusted_requested"]
    method: Literal["cqc", "shmi"] = "cqc"
    scale: Literal["log", "sqrt"] | None = None
    if info["data_type"] == "SR":
        # FunnelPlotR's sr_method picks the scale and the phi estimator; for PR and RC it always winsorises.
        method = "shmi" if info["sr_method"] == "SHMI" else "cqc"
        scale = "log" if method == "shmi" else "sqrt"
    options = FunnelOptions(
        data_type=info["data_type"],
        overdispersion=method if adjusted else "none",
        limit=99.8 if info["limit"] == 99 else 95.0,
        trim=info["trim_by"],
        sr_scale=scale,
        # FunnelPlotR's unadjusted limits: exact Poisson for SR, the arcsine approximation for PR and RC.
        unadjusted="exact" if info["data_type"] == "SR" else "approximate",
        compat="funnelplotr",
    )
    return Variant(name, groups, column(rows, numerator), column(rows, denominator), options)


VARIANT_NAMES = list(SUMMARY_JSON)
ADJUSTED_NAMES = [name for name in VARIANT_NAMES if SUMMARY_JSON[name]["draw_adjusted_requested"]]


def assert_close(actual: ArrayLike, expected: ArrayLike, what: str, tol: float = TOL) -> None:
    got = np.asarray(actual, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(got, want, rtol=0, atol=tol, equal_nan=True, err_msg=what)


# FunnelPlotR reproduction (compat="funnelplotr")


def test_summary_csv_and_json_agree() -> None:
    """Reference: FunnelPlotR summary.csv and summary.json describe the same runs."""
    assert set(SUMMARY_CSV) == set(SUMMARY_JSON)
    for name, row in SUMMARY_CSV.items():
        entry = SUMMARY_JSON[name]
        assert float(row["phi"]) == pytest.approx(entry["phi"], abs=1e-12)
        assert float(row["tau2"]) == pytest.approx(entry["tau2"], abs=1e-12)
        assert (row["outliers"].split(";") if row["outliers"] else []) == entry["outliers"]


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_summary_matches_funnelplotr(name: str) -> None:
    """Reference: FunnelPlotR summary.json (phi, tau2, target, n_groups, outliers) for every variant."""
    variant = make_variant(name)
    result = variant.run()
    summary = variant.summary
    assert result.n_units.tolist() == [summary["n_groups"]]
    assert result.phi[0] == pytest.approx(summary["phi"], abs=TOL)
    assert result.tau2[0] == pytest.approx(summary["tau2"], abs=TOL)
    assert result.target[0] == pytest.approx(summary["target"], abs=TOL)
    assert bool(result.adjusted[0]) == summary["draw_adjusted_used"]
    flagged = sorted(np.asarray(variant.groups)[result.outlier].tolist())
    assert flagged == summary["outliers"]
    assert len(flagged) == summary["n_outliers"]


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_unit_table_matches_funnelplotr(name: str) -> None:
    """Reference: FunnelPlotR aggregated_data (rr, Y, z, winsorised/truncated z, s, outlier) per unit."""
    variant = make_variant(name)
    table = variant.table
    result = variant.run()
    assert_close(variant.in_table_order(result.ratio), column(table, "rr"), "rr")
    assert_close(variant.in_table_order(result.y), column(table, "Y"), "Y")
    assert_close(variant.in_table_order(result.z), column(table, "Uzscore"), "Uzscore")
    assert_close(variant.in_table_order(result.outlier), column(table, "outlier"), "outlier")
    if variant.options.data_type != "RC":
        # FunnelPlotR's `s` column is the limits' s; it equals z's s except for RC (quirk 2).
        assert_close(variant.in_table_order(result.se), column(table, "s"), "s")
    if variant.options.overdispersion != "none":
        assert_close(variant.in_table_order(result.z_trimmed), column(table, "Wuzscore"), "Wuzscore")
        flag = "truncated" if variant.options.overdispersion == "shmi" else "winsorised"
        assert_close(variant.in_table_order(result.trimmed), column(table, flag), flag)


@pytest.mark.parametrize("name", VARIANT_NAMES)
@pytest.mark.parametrize(("limit", "tag"), [(95.0, "95"), (99.8, "99")])
def test_limits_match_funnelplotr(name: str, limit: float, tag: str) -> None:
    """Reference: FunnelPlotR OD95/OD99 (adjusted) and LCL/UCL (unadjusted) limits at each unit."""
    variant = make_variant(name)
    table = variant.table
    if variant.options.overdispersion != "none":
        adjusted = variant.run(limit=limit)
    else:
        # With draw_adjusted = FALSE the OD columns hold the approximate limits with tau2 = 0.
        adjusted = variant.run(limit=limit, unadjusted="approximate")
    assert_close(variant.in_table_order(adjusted.lower), column(table, f"OD{tag}LCL"), f"OD{tag}LCL")
    assert_close(variant.in_table_order(adjusted.upper), column(table, f"OD{tag}UCL"), f"OD{tag}UCL")
    unadjusted = variant.run(limit=limit, overdispersion="none")
    assert_close(variant.in_table_order(unadjusted.lower), column(table, f"LCL{tag}"), f"LCL{tag}")
    assert_close(variant.in_table_order(unadjusted.upper), column(table, f"UCL{tag}"), f"UCL{tag}")


def test_package_unit_test_phi() -> None:
    """Reference: FunnelPlotR's own test asserts phi = 2.948033 on its 6-group data (SR, SHMI)."""
    rows = read_csv("testdata_6groups.csv")
    options = FunnelOptions(overdispersion="shmi", compat="funnelplotr")
    result = funnel_statistics(column(rows, "num"), column(rows, "denom"), options=options)
    assert result.phi[0] == pytest.approx(2.948033, abs=1e-6)


@pytest.mark.parametrize(("limit", "low", "high"), [(95.0, "ll95", "ul95"), (99.8, "ll998", "ul998")])
def test_exact_poisson_limits_match_funnelplotr(limit: float, low: str, high: str) -> None:
    """Reference: FunnelPlotR exact Poisson limits at target 1 (poisson_exact_limits_target1.csv)."""
    rows = read_csv("poisson_exact_limits_target1.csv")
    expected = column(rows, "number_seq")
    limits = funnel_limits(expected, 1.0, adjusted=False, options=FunnelOptions(limit=limit))
    np.testing.assert_allclose(limits.lower, column(rows, low), rtol=1e-10)
    np.testing.assert_allclose(limits.upper, column(rows, high), rtol=1e-10)


def test_many_funnels_in_one_call_match_each_reference() -> None:
    """Reference: FunnelPlotR medpar and 6-group SHMI runs, computed as two shuffled funnels in one call."""
    first, second = make_variant("medpar_SR_SHMI_adj_99"), make_variant("testdata_SR_SHMI_adj_99")
    numerator = np.concatenate([first.numerator, second.numerator])
    denominator = np.concatenate([first.denominator, second.denominator])
    funnel = np.repeat([0, 1], [first.numerator.size, second.numerator.size])
    shuffle = np.random.default_rng(7).permutation(numerator.size)
    result = funnel_statistics(
        numerator[shuffle], denominator[shuffle], funnel[shuffle], options=first.options
    )
    unshuffle = np.argsort(shuffle)
    for f, variant in enumerate((first, second)):
        assert result.phi[f] == pytest.approx(variant.summary["phi"], abs=TOL)
        assert result.tau2[f] == pytest.approx(variant.summary["tau2"], abs=TOL)
        mine = unshuffle[funnel == f]
        table = variant.table
        assert_close(variant.in_table_order(result.z[mine]), column(table, "Uzscore"), "Uzscore")
        assert_close(variant.in_table_order(result.upper[mine]), column(table, "OD99UCL"), "OD99UCL")
        assert_close(variant.in_table_order(result.trimmed[mine]), column(table, "truncated"), "truncated")


def test_many_proportion_funnels_match_each_reference() -> None:
    """Reference: FunnelPlotR PR runs (medpar died/n and the 6-group data) as two funnels in one call."""
    first, second = make_variant("medpar_PR_died_adj_99"), make_variant("testdata_PR_adj_99")
    result = funnel_statistics(
        np.concatenate([second.numerator, first.numerator]),
        np.concatenate([second.denominator, first.denominator]),
        np.repeat([1, 0], [second.numerator.size, first.numerator.size]),
        options=first.options,
    )
    assert result.target.tolist() == pytest.approx(
        [first.summary["target"], second.summary["target"]], abs=TOL
    )
    assert result.phi.tolist() == pytest.approx([first.summary["phi"], second.summary["phi"]], abs=TOL)
    assert result.tau2.tolist() == pytest.approx([first.summary["tau2"], second.summary["tau2"]], abs=TOL)
    lower = result.lower[second.numerator.size :]
    assert_close(first.in_table_order(lower), column(first.table, "OD99LCL"), "OD99LCL")


# The default (consistent) forms, by exact derivation


def medpar() -> dict[str, NDArray[np.float64]]:
    rows = read_csv("medpar_by_provider.csv")
    return {name: column(rows, name) for name in ("los", "prds", "died", "alive", "n")}


@pytest.mark.parametrize("limit", [95.0, 99.8])
def test_default_sqrt_scale_limits_are_squared_back(limit: float) -> None:
    """Derivation (Spiegelhalter 2005b): on the sqrt scale the limits are (1 +- q sqrt(s^2 + tau2))^2."""
    data = medpar()
    observed, expected = data["los"], data["prds"]
    result = funnel_statistics(observed, expected, options=FunnelOptions(overdispersion="cqc", limit=limit))
    tau2 = SUMMARY_JSON["medpar_SR_CQC_adj_99"]["tau2"]  # the estimate itself is unchanged
    assert result.tau2[0] == pytest.approx(tau2, abs=TOL)
    q = Z_95 if limit == 95.0 else Z_998
    sd = np.sqrt(1.0 / (4.0 * expected) + tau2)
    assert_close(result.lower, np.maximum(1.0 - q * sd, 0.0) ** 2, "lower")
    assert_close(result.upper, (1.0 + q * sd) ** 2, "upper")
    z_adjusted = (np.sqrt(observed / expected) - 1.0) / sd
    assert_close(result.z_adjusted, z_adjusted, "z_adjusted")
    assert result.outlier_high.tolist() == (z_adjusted > q).tolist()
    assert result.outlier_low.tolist() == (z_adjusted < -q).tolist()
    # And the same units are outside whether one compares sqrt(O/E) or O/E with the squared limits.
    assert result.outlier.tolist() == ((result.ratio < result.lower) | (result.ratio > result.upper)).tolist()
    compat = funnel_statistics(
        observed, expected, options=FunnelOptions(overdispersion="cqc", limit=limit, compat="funnelplotr")
    )
    assert_close(result.upper, compat.upper**2, "compat limits squared")


def test_default_ratio_of_counts_limits_share_the_z_standard_error() -> None:
    """Derivation: RC limits exp(ln theta +- q sqrt(s^2 + tau2)), s = sqrt(O/(O+.5)^2 + D/(D+.5)^2)."""
    data = medpar()
    died, alive = data["died"], data["alive"]
    reference = SUMMARY_JSON["medpar_RC_died_vs_alive_adj_99"]
    result = funnel_statistics(died, alive, options=FunnelOptions(data_type="RC"))
    theta, tau2 = died.sum() / alive.sum(), reference["tau2"]
    assert result.target[0] == pytest.approx(theta, rel=1e-12)
    assert result.tau2[0] == pytest.approx(tau2, abs=TOL)
    s = np.sqrt(died / (died + 0.5) ** 2 + alive / (alive + 0.5) ** 2)
    sd = np.sqrt(s**2 + tau2)
    assert_close(result.lower, theta * np.exp(-Z_998 * sd), "lower")
    assert_close(result.upper, theta * np.exp(Z_998 * sd), "upper")
    z_adjusted = (np.log((died + 0.5) / (alive + 0.5)) - np.log(theta)) / sd
    assert_close(result.z_adjusted, z_adjusted, "z_adjusted")
    assert result.outlier.tolist() == (np.abs(z_adjusted) > Z_998).tolist()
    # alive = 0 gives O/D = inf, yet the unit is judged on its continuity-corrected log ratio.
    zero = np.flatnonzero(alive == 0)
    assert np.isinf(result.ratio[zero]).all()
    assert result.outlier[zero].tolist() == (np.abs(z_adjusted[zero]) > Z_998).tolist()


def shmi_phi_by_hand(observed: list[float], expected: list[float], trim: float) -> tuple[float, int]:
    """Truncated phi of the SHMI method, written out loop by loop (NHS Digital SHMI specification)."""
    z = [math.sqrt(e) * math.log(o / e) for o, e in zip(observed, expected, strict=True)]
    n = len(z)
    kept = []
    for value in z:
        below = sum(other < value for other in z)
        ties = sum(other == value for other in z)
        rank = below + (ties + 1) / 2
        band = math.floor(rank * (1 / trim) / (n + 1))
        if 0 < band < 1 / trim - 1:
            kept.append(value)
    return sum(v * v for v in kept) / len(kept), len(kept)


def test_default_shmi_phi_uses_unrounded_expected() -> None:
    """Derivation: SHMI phi by the written-out truncation rule, with E not rounded (the default)."""
    data = medpar()
    result = funnel_statistics(data["los"], data["prds"], options=FunnelOptions(overdispersion="shmi"))
    phi, kept = shmi_phi_by_hand(data["los"].tolist(), data["prds"].tolist(), 0.1)
    assert result.phi[0] == pytest.approx(phi, rel=1e-12)
    assert result.n_used.tolist() == [kept]
    rounded = funnel_statistics(
        data["los"], data["prds"], options=FunnelOptions(overdispersion="shmi", compat="funnelplotr")
    )
    phi_rounded, _ = shmi_phi_by_hand(data["los"].tolist(), np.round(data["prds"], 2).tolist(), 0.1)
    assert rounded.phi[0] == pytest.approx(phi_rounded, rel=1e-12)
    assert result.phi[0] != pytest.approx(rounded.phi[0], rel=1e-9)


def test_shmi_ranks_average_ties() -> None:
    """Derivation: tied z-scores share their average rank (R rank(ties.method = "average"))."""
    # Ten units, three identical at the bottom: ranks 2, 2, 2 give floor(2 * 10 / 11) = 1, so all three
    # are kept; without averaging the first would get rank 1, band 0, and be dropped.
    observed = [50.0, 50.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0]
    expected = [80.0] * 10
    result = funnel_statistics(observed, expected, options=FunnelOptions(overdispersion="shmi"))
    phi, kept = shmi_phi_by_hand(observed, expected, 0.1)
    assert result.n_used.tolist() == [kept] == [9]
    assert result.trimmed.tolist() == [False] * 9 + [True]
    assert result.phi[0] == pytest.approx(phi, rel=1e-12)


def test_winsorising_uses_type7_quantiles() -> None:
    """Derivation: R quantile(type = 7) at 0.1 and 0.9 of 6 z-scores: x(1.5) and x(5.5)."""
    observed = np.array([100.0, 150.0, 180.0, 80.0, 120.0, 225.0])
    expected = np.array([108.0, 112.0, 165.0, 95.0, 100.0, 220.0])
    result = funnel_statistics(observed, expected, options=FunnelOptions(overdispersion="cqc"))
    z = np.sort((np.sqrt(observed / expected) - 1.0) * 2.0 * np.sqrt(expected))
    low, high = z[0] + 0.5 * (z[1] - z[0]), z[4] + 0.5 * (z[5] - z[4])
    raw = (np.sqrt(observed / expected) - 1.0) * 2.0 * np.sqrt(expected)
    assert_close(result.z_trimmed, np.clip(raw, low, high), "winsorised z", tol=1e-12)
    assert result.phi[0] == pytest.approx(np.mean(np.clip(raw, low, high) ** 2), rel=1e-12)
    w = 4.0 * expected
    tau2 = (6 * result.phi[0] - 5) / (w.sum() - (w**2).sum() / w.sum())
    assert result.tau2[0] == pytest.approx(tau2, rel=1e-12)


def test_winsorised_flag_includes_values_at_the_quantile() -> None:
    """Derivation: FunnelPlotR flags z not strictly inside (q10, q90); for n = 11, q10 = z(2), q90 = z(10)."""
    expected = np.full(11, 100.0)
    observed = np.array([70.0, 80.0, 85.0, 90.0, 95.0, 100.0, 105.0, 110.0, 115.0, 120.0, 130.0])
    result = funnel_statistics(observed, expected, options=FunnelOptions(overdispersion="cqc"))
    # Units 1 and 9 sit exactly at the quantiles: flagged, though winsorising leaves their value unchanged.
    assert result.trimmed.tolist() == [True, True] + [False] * 7 + [True, True]
    assert result.z_trimmed[[1, 9]].tolist() == result.z[[1, 9]].tolist()
    assert result.z_trimmed[0] == result.z[1]
    assert result.z_trimmed[10] == result.z[9]


def test_default_proportion_limits_hold_the_angle_in_range() -> None:
    """Derivation: PR limits sin^2(clip(asin(sqrt(theta)) +- q sd, 0, pi/2)), so N = 1 reaches 1 exactly."""
    variant = make_variant("medpar_PR_died_adj_99")
    sound = funnel_statistics(
        variant.numerator, variant.denominator, options=replace(variant.options, compat=None, limit=95.0)
    )
    theta, tau2 = variant.summary["target"], variant.summary["tau2"]
    sd = np.sqrt(1.0 / (4.0 * variant.denominator) + tau2)
    angle = math.asin(math.sqrt(theta))
    assert_close(sound.lower, np.sin(np.clip(angle - Z_95 * sd, 0.0, math.pi / 2)) ** 2, "lower")
    assert_close(sound.upper, np.sin(np.clip(angle + Z_95 * sd, 0.0, math.pi / 2)) ** 2, "upper")
    one = variant.denominator == 1
    assert sound.upper[one].tolist() == [1.0] * int(one.sum())
    # FunnelPlotR keeps the unclipped sin^2 there (quirk 5): 0.998242518605558 in its table.
    peer = variant.run(limit=95.0)
    assert peer.upper[one] == pytest.approx(0.998242518605558, abs=TOL)


def test_none_does_not_estimate_dispersion() -> None:
    """Derivation: with no over-dispersion model phi and tau2 are not estimated and z_adjusted = z."""
    data = medpar()
    result = funnel_statistics(data["los"], data["prds"], options=FunnelOptions(overdispersion="none"))
    assert np.isnan(result.phi).all()
    assert np.isnan(result.tau2).all()
    assert not result.adjusted.any()
    np.testing.assert_array_equal(result.z_adjusted, result.z)
    assert result.tau2_applied.tolist() == [0.0]
    peer = funnel_statistics(
        data["los"], data["prds"], options=FunnelOptions(overdispersion="none", compat="funnelplotr")
    )
    assert peer.phi.tolist() == [0.0]
    assert peer.tau2.tolist() == [0.0]


def test_no_overdispersion_falls_back_to_exact_limits() -> None:
    """Derivation: phi <= 1 means unadjusted limits; observed = expected gives z = 0 and phi = 0."""
    expected = np.array([10.0, 20.0, 40.0, 80.0])
    result = funnel_statistics(expected, expected, options=FunnelOptions(limit=95.0))
    assert result.phi.tolist() == [0.0]
    assert not result.adjusted[0]
    lower = stats.chi2.ppf(0.025, 2 * expected) / (2 * expected)
    upper = stats.chi2.ppf(0.975, 2 * (expected + 1)) / (2 * expected)
    assert_close(result.lower, lower, "lower", tol=1e-12)
    assert_close(result.upper, upper, "upper", tol=1e-12)


def test_p_values_are_two_sided_normal() -> None:
    """Derivation: p = 2 Phi(-|z_adj|) (R: 2 * pnorm(-abs(z)))."""
    data = medpar()
    result = funnel_statistics(data["died"], data["n"], options=FunnelOptions(data_type="PR"))
    np.testing.assert_allclose(result.p_value, 2 * stats.norm.sf(np.abs(result.z_adjusted)), rtol=1e-12)
    assert ((result.p_value < 0.002) == (np.abs(result.z_adjusted) > Z_998)).all()


def test_z_adjusted_uses_tau2() -> None:
    """Derivation: z_adj = (Y - Y0) / sqrt(s^2 + tau2) for an adjusted funnel."""
    data = medpar()
    result = funnel_statistics(data["los"], data["prds"], options=FunnelOptions(overdispersion="shmi"))
    assert result.adjusted[0]
    y = np.log(data["los"] / data["prds"])
    expected = y / np.sqrt(1.0 / data["prds"] + result.tau2[0])
    assert_close(result.z_adjusted, expected, "z_adjusted", tol=1e-12)


@pytest.mark.parametrize(("events", "cases"), [(3, 10), (15, 50), (60, 200)])
@pytest.mark.parametrize("limit", [95.0, 99.8])
def test_exact_binomial_limits_have_the_stated_tail_probabilities(
    events: int, cases: int, limit: float
) -> None:
    """Derivation: at x = theta N, P(Bin(N, lower) >= x) = P(Bin(N, upper) <= x) = alpha / 2."""
    options = FunnelOptions(data_type="PR", overdispersion="none", limit=limit)
    limits = funnel_limits([float(cases)], events / cases, adjusted=False, options=options)
    half_alpha = (1 - limit / 100) / 2
    assert stats.binom.sf(events - 1, cases, limits.lower[0]) == pytest.approx(half_alpha, rel=1e-9)
    assert stats.binom.cdf(events, cases, limits.upper[0]) == pytest.approx(half_alpha, rel=1e-9)


@pytest.mark.parametrize(("target", "expected"), [(1.5, 10.0), (0.8, 50.0), (1.0, 7.0)])
def test_exact_poisson_limits_with_a_target(target: float, expected: float) -> None:
    """Derivation: with mu = theta E integer, P(Pois(E lower) >= mu) = P(Pois(E upper) <= mu) = alpha / 2."""
    limits = funnel_limits([expected], target, adjusted=False, options=FunnelOptions(limit=95.0))
    mu = round(target * expected)
    assert stats.poisson.sf(mu - 1, expected * limits.lower[0]) == pytest.approx(0.025, rel=1e-9)
    assert stats.poisson.cdf(mu, expected * limits.upper[0]) == pytest.approx(0.025, rel=1e-9)


def test_approximate_unadjusted_sr_limits() -> None:
    """Derivation: approximate log-scale limits theta exp(+-q / sqrt(theta E)) with tau2 = 0."""
    options = FunnelOptions(overdispersion="none", unadjusted="approximate", limit=95.0)
    limits = funnel_limits([25.0, 100.0], 1.2, adjusted=False, options=options)
    sd = 1 / np.sqrt(1.2 * np.array([25.0, 100.0]))
    assert_close(limits.lower, 1.2 * np.exp(-Z_95 * sd), "lower", tol=1e-12)
    assert_close(limits.upper, 1.2 * np.exp(Z_95 * sd), "upper", tol=1e-12)


def test_user_target_per_funnel() -> None:
    """Derivation: z = (asin(sqrt(O/N)) - asin(sqrt(theta0))) 2 sqrt(N) with a given theta0 per funnel."""
    observed = np.array([3.0, 10.0, 40.0, 5.0, 9.0])
    cases = np.array([10.0, 40.0, 100.0, 20.0, 30.0])
    funnel = np.array([0, 0, 0, 1, 1])
    options = FunnelOptions(data_type="PR", overdispersion="none")
    result = funnel_statistics(observed, cases, funnel, options=options, target=[0.3, 0.25])
    theta = np.array([0.3, 0.3, 0.3, 0.25, 0.25])
    z = (np.arcsin(np.sqrt(observed / cases)) - np.arcsin(np.sqrt(theta))) * 2 * np.sqrt(cases)
    assert_close(result.z, z, "z", tol=1e-12)
    pooled = funnel_statistics(observed, cases, funnel, options=options, target="pooled")
    assert pooled.target.tolist() == pytest.approx([53 / 150, 14 / 50], rel=1e-12)
    sr = funnel_statistics(observed, cases, funnel, options=FunnelOptions(), target="pooled")
    assert sr.target.tolist() == pytest.approx([53 / 150, 14 / 50], rel=1e-12)
    assert funnel_statistics(observed, cases, funnel).target.tolist() == [1.0, 1.0]


def random_panel(rng: np.random.Generator, k: int, data_type: str) -> tuple[NDArray[Any], ...]:
    sizes = rng.integers(1, 60, k)
    sizes[2] = 0  # an empty funnel in the middle
    funnel = np.repeat(np.arange(k), sizes)
    denominator = rng.integers(1, 300, funnel.size).astype(float)
    rate = rng.gamma(8, 1 / 8, funnel.size)
    if data_type == "PR":
        numerator = rng.binomial(denominator.astype(int), np.clip(0.3 * rate, 0, 1)).astype(float)
    else:
        numerator = rng.poisson(denominator * rate).astype(float)
        numerator[::7] = numerator[::14].repeat(2)[: numerator[::7].size]  # some ties
    if data_type == "SR":
        numerator = np.maximum(numerator, 1.0)
    shuffle = rng.permutation(funnel.size)
    return numerator[shuffle], denominator[shuffle], funnel[shuffle]


@pytest.mark.parametrize("data_type", ["SR", "PR", "RC"])
@pytest.mark.parametrize("method", ["cqc", "shmi"])
@pytest.mark.parametrize("compat", [None, "funnelplotr"])
def test_one_call_equals_separate_calls(data_type: str, method: str, compat: str | None) -> None:
    """Derivation: each funnel's statistics depend on its own units only (no mixing across funnel_id)."""
    rng = np.random.default_rng(sum(map(ord, f"{data_type}{method}{compat}")))
    k = 6
    numerator, denominator, funnel = random_panel(rng, k, data_type)
    options = FunnelOptions(data_type=data_type, overdispersion=method, compat=compat)  # type: ignore[arg-type]
    together = funnel_statistics(numerator, denominator, funnel, options=options, n_funnels=k + 1)
    assert together.n_units[2] == 0
    assert together.n_units[k] == 0
    assert np.isnan(together.phi[[2, k]]).all()
    for f in range(k):
        if f == 2:
            continue
        mine = funnel == f
        alone = funnel_statistics(numerator[mine], denominator[mine], options=options)
        for field in ("z", "z_trimmed", "z_adjusted", "p_value", "lower", "upper", "trimmed", "outlier_low"):
            assert_close(getattr(together, field)[mine], getattr(alone, field), field, tol=1e-12)
        for field in ("target", "phi", "tau2", "n_units", "n_used", "adjusted"):
            assert_close(getattr(together, field)[f], getattr(alone, field)[0], field, tol=1e-12)


def test_limit_curves_pass_through_unit_limits() -> None:
    """Derivation: a funnel's curve at a unit's denominator is that unit's limit (SR and PR, both states)."""
    data = medpar()
    for numerator, denominator, options in (
        (data["los"], data["prds"], FunnelOptions(overdispersion="cqc")),
        (data["died"], data["n"], FunnelOptions(data_type="PR")),  # phi > 1: adjusted
        (data["died"], data["n"], FunnelOptions(data_type="PR", overdispersion="none")),  # exact binomial
    ):
        funnel = np.arange(numerator.size) % 3
        result = funnel_statistics(numerator, denominator, funnel, options=options)
        grid = np.stack([denominator[funnel == f] for f in range(3)])
        curves = funnel_limit_curves(result, grid, options=options)
        for f in range(3):
            assert_close(curves.lower[f], result.lower[funnel == f], "lower", tol=1e-12)
            assert_close(curves.upper[f], result.upper[funnel == f], "upper", tol=1e-12)


@pytest.mark.parametrize("name", VARIANT_NAMES)
@pytest.mark.parametrize(("limit", "tag"), [(95.0, "95"), (99.8, "99")])
def test_curves_from_reported_estimates_match_funnelplotr(name: str, limit: float, tag: str) -> None:
    """Reference: FunnelPlotR's limits at each unit (OD95/OD99 where adjusted, LCL/UCL where not) from the run's
    reported target, phi and tau2 alone, as a scan's stored estimates are drawn. Proportions are compared where
    the angle stays in [0, pi/2]; beyond it FunnelPlotR's limit depends on its lookup table (quirk 5)."""
    variant = make_variant(name)
    summary, table = variant.summary, variant.table
    denominator = column(table, "denominator")
    curves = funnel_limit_curves_from_estimates(
        [summary["target"]],
        [summary["phi"]],
        [summary["tau2"]],
        denominator,
        options=variant.options,
        limit=limit,
    )
    adjusted = variant.options.overdispersion != "none"
    assert adjusted == summary["draw_adjusted_used"]
    lower = column(table, f"OD{tag}LCL" if adjusted else f"LCL{tag}")
    upper = column(table, f"OD{tag}UCL" if adjusted else f"UCL{tag}")
    low_in = high_in = np.ones(denominator.shape, dtype=bool)
    if variant.options.data_type == "PR" and variant.options.unadjusted == "approximate":
        q = Z_95 if limit == 95.0 else Z_998
        angle = np.arcsin(np.sqrt(summary["target"]))
        sd = np.sqrt(0.25 / denominator + (summary["tau2"] if adjusted else 0.0))
        low_in, high_in = angle - q * sd >= 0.0, angle + q * sd <= np.pi / 2
        assert low_in.mean() > 0.7 and high_in.mean() > 0.7
    assert_close(curves.lower[0][low_in], lower[low_in], "lower", tol=1e-12)
    assert_close(curves.upper[0][high_in], upper[high_in], "upper", tol=1e-12)


def test_curves_from_estimates_equal_the_curves_of_the_result() -> None:
    """Derivation: target, phi and tau2 (or tau2 applied) determine the curves; not adjusted when phi <= 1."""
    data = medpar()
    for numerator, denominator, options in (
        (data["los"], data["prds"], FunnelOptions(overdispersion="cqc")),
        (data["died"], data["n"], FunnelOptions(data_type="PR")),
        (data["died"], data["n"], FunnelOptions(data_type="PR", overdispersion="none")),
    ):
        funnel = np.arange(numerator.size) % 3
        result = funnel_statistics(numerator, denominator, funnel, options=options)
        grid = funnel_denominator_grid(denominator, funnel, n_points=50)
        expected = funnel_limit_curves(result, grid, options=options, limit=95.0)
        for tau2 in (result.tau2, result.tau2_applied):
            got = funnel_limit_curves_from_estimates(
                result.target, result.phi, tau2, grid, options=options, limit=95.0
            )
            assert_close(got.lower, expected.lower, "lower", tol=0.0)
            assert_close(got.upper, expected.upper, "upper", tol=0.0)
    with pytest.raises(ValueError, match="one value per funnel"):
        funnel_limit_curves_from_estimates([1.0, 1.0], [2.0], [0.1, 0.1], [10.0])


def test_ratio_of_counts_curve_uses_the_null_numerator() -> None:
    """Derivation: an RC curve at D uses s with O = theta D: sqrt(theta D/(theta D+.5)^2 + D/(D+.5)^2)."""
    data = medpar()
    options = FunnelOptions(data_type="RC")
    result = funnel_statistics(data["died"], data["alive"], options=options)
    grid = np.array([5.0, 20.0, 80.0])
    curves = funnel_limit_curves(result, grid, options=options, limit=95.0)
    theta, tau2 = result.target[0], result.tau2[0]
    s = np.sqrt(theta * grid / (theta * grid + 0.5) ** 2 + grid / (grid + 0.5) ** 2)
    assert_close(curves.upper[0], theta * np.exp(Z_95 * np.sqrt(s**2 + tau2)), "upper", tol=1e-12)


def test_denominator_grid_is_geometric_per_funnel() -> None:
    """Derivation: row f runs from min to max of funnel f as d_min (d_max/d_min)^(j/(m-1))."""
    grid = funnel_denominator_grid([4.0, 400.0, 9.0, 1.0, 81.0], [0, 0, 1, 2, 2], n_points=3, n_funnels=4)
    assert_close(grid[0], [4.0, 40.0, 400.0], "funnel 0", tol=1e-9)
    assert_close(grid[1], [9.0, 9.0, 9.0], "funnel 1", tol=1e-9)
    assert_close(grid[2], [1.0, 9.0, 81.0], "funnel 2", tol=1e-9)
    assert np.isnan(grid[3]).all()


# Validation


@pytest.mark.parametrize(
    ("numerator", "denominator", "data_type", "message"),
    [
        ([1.0, 2.0], [3.0, 0.0], "SR", r"denominator\[1\] = 0\.0: denominators must be > 0"),
        ([1.0, 2.0], [3.0, -1.0], "PR", r"denominator\[1\] = -1\.0"),
        ([1.0, -2.0], [3.0, 4.0], "SR", r"numerator\[1\] = -2\.0: numerators must be >= 0"),
        ([1.0, 5.0], [3.0, 4.0], "PR", r"numerator\[1\] = 5\.0 exceeds denominator\[1\] = 4\.0"),
        ([1.0, math.nan], [3.0, 4.0], "SR", r"numerator\[1\] is nan"),
        ([1.0, 2.0], [math.inf, 4.0], "SR", r"denominator\[0\] is inf"),
        ([1.0, 2.0, 3.0], [3.0, 4.0], "SR", r"numerator has 3 values but denominator has 2"),
        ([1.0, 0.0], [3.0, 0.0], "RC", r"numerator\[1\] and denominator\[1\] are both 0"),
        ([1.0, 2.0], [3.0, -1.0], "RC", r"denominator\[1\] = -1\.0: counts must be >= 0"),
        ([], [], "SR", r"no units"),
        ([[1.0]], [[2.0]], "SR", r"one-dimensional"),
    ],
)
def test_bad_inputs_are_named(numerator: Any, denominator: Any, data_type: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        funnel_statistics(numerator, denominator, options=FunnelOptions(data_type=data_type))


@pytest.mark.parametrize(
    ("funnel_id", "kwargs", "message"),
    [
        ([0, -1], {}, r"funnel_id\[1\] = -1: funnel ids must be >= 0"),
        ([0, 1.5], {}, r"funnel_id\[1\] = 1\.5: funnel ids must be integers"),
        ([0], {}, r"funnel_id must have one value per unit \(2\)"),
        (["a", "b"], {}, r"funnel_id must hold integers"),
        ([0, 3], {"n_funnels": 2}, r"n_funnels must be an integer >= max\(funnel_id\) \+ 1 = 4"),
        ([0, 1], {"target": [1.0]}, r"target must be a scalar or have one value per funnel \(2\)"),
        ([0, 1], {"target": [1.0, -1.0]}, r"target\[1\] = -1\.0: a SR target must be > 0"),
        ([0, 1], {"target": "mean"}, r"target must be a number, one per funnel, 'pooled' or None"),
    ],
)
def test_bad_funnels_and_targets_are_named(funnel_id: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        funnel_statistics([1.0, 2.0], [3.0, 4.0], funnel_id, **kwargs)


def test_denominator_grid_ends_exactly_at_the_smallest_and_largest_denominators() -> None:
    """Derivation: d_0 = d_min and d_(m-1) = d_max exactly, so a curve's ends sit at real units' denominators
    (exp(log(220) + log(240/220)) alone gives 240.0000000000002)."""
    grid = funnel_denominator_grid([240.0, 220.0, 233.0, 1.0, 3.7], [0, 0, 0, 1, 1], n_points=7)
    assert (grid[0, 0], grid[0, -1], grid[1, 0], grid[1, -1]) == (220.0, 240.0, 1.0, 3.7)


def test_zero_count_on_the_log_scale_is_refused() -> None:
    """A zero count has ln(O/E) = -inf; refused on the log scale, accepted on the square-root scale."""
    with pytest.raises(ValueError, match=r"numerator\[1\] = 0: a standardised ratio on the log scale"):
        funnel_statistics([3.0, 0.0, 4.0], [2.0, 3.0, 4.0], options=FunnelOptions(overdispersion="shmi"))
    result = funnel_statistics([3.0, 0.0, 4.0], [2.0, 3.0, 4.0], options=FunnelOptions(overdispersion="cqc"))
    assert result.z[1] == pytest.approx(-2 * math.sqrt(3.0), rel=1e-12)
    peer = funnel_statistics(
        [3.0, 0.0, 4.0], [2.0, 3.0, 4.0], options=FunnelOptions(overdispersion="shmi", compat="funnelplotr")
    )
    assert peer.z[1] == -math.inf


def test_proportion_target_above_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"target\[0\] = 1\.5: a PR target must be in \(0, 1\]"):
        funnel_statistics([1.0], [3.0], options=FunnelOptions(data_type="PR"), target=1.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_type": "XX"}, r"data_type must be one of"),
        ({"overdispersion": "mult"}, r"overdispersion must be one of"),
        ({"limit": 99}, None),
        ({"limit": 100.0}, r"limit must be a coverage in percent in \(50, 100\)"),
        ({"trim": 0.5}, r"trim must be a fraction in \(0, 0\.5\)"),
        ({"trim": 0.0}, r"trim must be a fraction"),
        ({"sr_scale": "cube"}, r"sr_scale must be one of"),
        ({"unadjusted": "mid-p"}, r"unadjusted must be one of"),
        ({"compat": "stata"}, r"compat must be one of"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], message: str | None) -> None:
    if message is None:
        # Any coverage in (50, 100) is allowed and uses the exact normal quantile.
        assert FunnelOptions(**kwargs).quantile == pytest.approx(stats.norm.ppf(0.995), rel=1e-12)
        return
    with pytest.raises(ValueError, match=message):
        FunnelOptions(**kwargs)


def test_limit_functions_refuse_bad_grids() -> None:
    with pytest.raises(ValueError, match=r"denominator at index \(1,\) must be > 0"):
        funnel_limits([1.0, 0.0], 1.0)
    result = funnel_statistics([1.0, 2.0], [3.0, 4.0], [0, 1])
    with pytest.raises(ValueError, match=r"denominator_grid must have shape \(m,\) or \(2, m\)"):
        funnel_limit_curves(result, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"n_points must be at least 2"):
        funnel_denominator_grid([1.0, 2.0], n_points=1)


def test_named_quantiles_are_funnelplotrs() -> None:
    """Reference: FunnelPlotR hard-codes q = 1.959964 (95%) and 3.090232 (99.8%)."""
    assert FunnelOptions(limit=95).quantile == Z_95 == 1.959964
    assert FunnelOptions(limit=99.8).quantile == Z_998 == 3.090232
    assert abs(Z_95 - stats.norm.ppf(0.975)) < 1e-6
    assert abs(Z_998 - stats.norm.ppf(0.999)) < 1e-6
