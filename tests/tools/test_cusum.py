"""Tests for forewarn.tools.cusum: the statistic against the recursion written out here, the threshold against
the stats module's documented R calls, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forewarn.tools.cusum import CusumRequest, cusum_file
from forewarn.tools.problems import AnalystInputError
from tests.tools.helpers import (
    assert_close,
    problems_of,
    write_csv,
)


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
