"""Tests of forewarn.stats.runs (run charts, Anhoej rules) against qicharts2 0.8.1.

Reference files: tests/fixtures/qicharts2/ (see SOURCE.md there for the calls).
"""

from __future__ import annotations

import csv
from math import comb
from pathlib import Path

import numpy as np
import pytest

from forewarn.stats.runs import RunChart, anhoej_limits, anhoej_runs, baseline_median, run_chart

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qicharts2"


def read_csv(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def cdi_counts() -> np.ndarray:
    return np.array([[float(row["y"]) for row in read_csv("cdi_run_points.csv")]])


def assert_run_chart_matches(chart: RunChart, name: str) -> None:
    points = read_csv(f"{name}_points.csv")
    np.testing.assert_allclose(chart.values[0], [float(row["y"]) for row in points])
    np.testing.assert_allclose(chart.centre_line[0], [float(row["cl"]) for row in points], rtol=1e-12)
    np.testing.assert_array_equal(
        chart.segment[chart.segment_index[0]] + 1, [int(row["part"]) for row in points]
    )
    per_point = chart.segment_index[0]
    runs = chart.runs
    for key, got in (
        ("n.obs", runs.n_obs),
        ("n.useful", runs.n_useful),
        ("longest.run", runs.longest_run),
        ("longest.run.max", runs.longest_run_max),
        ("n.crossings", runs.n_crossings),
        ("n.crossings.min", runs.n_crossings_min),
    ):
        np.testing.assert_array_equal(got[per_point], [int(row[key]) for row in points])
    np.testing.assert_array_equal(
        runs.runs_signal[per_point], [row["runs.signal"] == "TRUE" for row in points]
    )
    summary = read_csv(f"{name}_summary.csv")
    np.testing.assert_allclose(chart.centre, [float(row["CL"]) for row in summary], rtol=1e-12)
    np.testing.assert_array_equal(runs.runs_signal.astype(int), [int(row["runs.signal"]) for row in summary])
    np.testing.assert_array_equal(runs.n_useful, [int(row["n.useful"]) for row in summary])


def test_anhoej_limits_match_qicharts2_table() -> None:
    table = read_csv("anhoej_limits_table.csv")
    n = np.array([int(row["n.useful"]) for row in table])
    longest, crossings = anhoej_limits(n)
    np.testing.assert_array_equal(longest, [int(row["longest.run.max"]) for row in table])
    np.testing.assert_array_equal(crossings, [int(row["n.crossings.min"]) for row in table])


def exact_crossings_min(n: int) -> int:
    """Smallest c with P(Binomial(n - 1, 1/2) <= c) >= 0.05, in exact integers (20 * sum C(m, k) >= 2^m)."""
    m, total, c = n - 1, 0, 0
    while True:
        total += comb(m, c)
        if 20 * total >= 2**m:
            return c
        c += 1


def test_crossings_limit_equals_exact_binomial_quantile() -> None:
    n = np.arange(1, 401)
    _, crossings = anhoej_limits(n)
    assert crossings.tolist() == [exact_crossings_min(int(k)) for k in n]
    longest, _ = anhoej_limits(np.array([0, 1, 2, 3, 1000]))
    assert longest.tolist() == [0, 3, 4, 5, 13]  # round(log2(3)) = 2; round(log2(1000)) = 10


def test_cdi_run_chart_matches_qicharts2() -> None:
    chart = run_chart(cdi_counts())
    assert_run_chart_matches(chart, "cdi_run")
    # the README's figures: median 17, 32 useful points, longest run 14 (limit 8), 6 crossings (minimum 11)
    assert chart.centre.tolist() == [17.0]
    assert chart.runs.longest_run.tolist() == [14]
    assert chart.runs.n_crossings_min.tolist() == [11]


def test_cdi_run_chart_freeze_matches_qicharts2() -> None:
    assert_run_chart_matches(run_chart(cdi_counts(), freeze=24), "cdi_run_freeze24")


def test_cdi_run_chart_part_matches_qicharts2() -> None:
    phase = np.array([[0] * 24 + [1] * 12])
    assert_run_chart_matches(run_chart(cdi_counts(), phase=phase), "cdi_run_part24")


def test_points_on_the_centre_neither_break_nor_extend_a_run() -> None:
    values = np.array([[1.0, 1.0, 2.0, 1.0, 3.0, 3.0, 2.0, 3.0]])
    runs = anhoej_runs(values, np.array([2.0]))
    # sides without the centre points: - - - + + +
    assert runs.n_useful.tolist() == [6]
    assert runs.longest_run.tolist() == [3]
    assert runs.n_crossings.tolist() == [1]
    assert runs.n_obs.tolist() == [8]


def test_no_useful_point_gives_no_signal() -> None:
    runs = anhoej_runs(np.array([[4.0, 4.0, 4.0]]), np.array([4.0]))
    assert runs.n_useful.tolist() == [0]
    assert runs.runs_signal.tolist() == [False]


def test_median_of_even_and_odd_baselines() -> None:
    values = np.array([[4.0, 1.0, 3.0, 2.0, np.nan], [5.0, 9.0, 1.0, np.nan, np.nan]])
    assert baseline_median(values, np.array([4, 3])).tolist() == [2.5, 5.0]
    assert baseline_median(values, np.array([4, 3]), freeze=2).tolist() == [2.5, 7.0]


def test_panel_equals_series_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    panel = np.round(rng.normal(10, 3, (40, 30)))
    lengths = rng.integers(5, 31, 40)
    for row, length in enumerate(lengths):
        panel[row, length:] = np.nan
    panel[3, 4] = np.nan  # a gap is skipped
    chart = run_chart(panel)
    for row, length in enumerate(lengths):
        series = panel[row, :length]
        single = run_chart(series[~np.isnan(series)][None, :])
        assert chart.centre[row] == single.centre[0]
        for field in ("n_useful", "longest_run", "n_crossings", "runs_signal"):
            assert getattr(chart.runs, field)[row] == getattr(single.runs, field)[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freeze": 0}, "freeze"),
        ({"freeze": 2.5}, "freeze"),
        ({"phase": [[0, 0, 1]]}, "shape"),
    ],
)
def test_bad_run_chart_input_raises(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_chart(cdi_counts(), **kwargs)  # type: ignore[arg-type]


def test_bad_limits_input_raises() -> None:
    with pytest.raises(ValueError, match="non-negative integers"):
        anhoej_limits([-1, 3])
    with pytest.raises(ValueError, match="non-negative integers"):
        anhoej_limits([2.5])
    with pytest.raises(ValueError, match="no observed point"):
        run_chart([[np.nan, np.nan]])
