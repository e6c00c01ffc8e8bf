"""Tests for forewarn.tools.ranks: rank intervals, expected ranks, counts summed by unit, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from forewarn.tools.funnel import FunnelRequest, funnel_file
from forewarn.tools.problems import AnalystInputError
from forewarn.tools.ranks import RanksRequest, ranks_file
from tests.tools.helpers import (
    assert_close,
    problems_of,
    write_csv,
)


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
