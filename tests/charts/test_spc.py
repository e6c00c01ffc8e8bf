"""SPC chart data and specs. The data are checked against NHSRplotthedots 0.2.2 (``ptd_spc``), whose output is
in ``tests/fixtures/nhsrplotthedots`` (see its SOURCE.md): limits to 1e-6, every point type exactly."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from forewarn.charts.render import svg
from forewarn.charts.spc import SeriesInput, SpcSeries, improvement_of, spc_chart_spec, xmr_series
from tests.conftest import FIXTURES

REFERENCE = FIXTURES / "nhsrplotthedots"


def _points(name: str) -> pl.DataFrame:
    return pl.read_csv(REFERENCE / f"{name}_points.csv", try_parse_dates=True)


@pytest.mark.parametrize(
    ("name", "rebases"),
    [("rrk_stable_breaches", []), ("rrk_rebase_breaches", [dt.date(2018, 7, 1)])],
)
def test_xmr_series_reproduces_nhsrplotthedots(name: str, rebases: list[dt.date]) -> None:
    reference = _points(name)
    periods = reference["x"].to_list()
    series = xmr_series(
        [
            SeriesInput(
                indicator_code="breaches",
                indicator_name="Breaches",
                unit="attendances",
                improvement="decrease",
                periods=periods,
                values=reference["y"].cast(pl.Float64).to_list(),
                rebases=rebases,
            )
        ],
        min_points=12,
    )[0]
    assert series.rebases == tuple(rebases)
    for t, row in enumerate(reference.iter_rows(named=True)):
        assert series.mean[t] == pytest.approx(row["mean_col"], abs=1e-6)
        assert series.lpl[t] == pytest.approx(row["lpl"], abs=1e-6)
        assert series.upl[t] == pytest.approx(row["upl"], abs=1e-6)
        assert series.point_type[t] == row["point_type"]
        assert (series.rule[t] or "Common Cause") == row["special_cause_type"]


def test_series_too_short_for_limits_keep_their_points_and_say_why() -> None:
    periods = [dt.date(2020, m, 1) for m in range(1, 6)]
    short = xmr_series(
        [SeriesInput("x", "X", None, "increase", periods, [1.0, 2.0, None, 3.0, 4.0])], min_points=12
    )[0]
    assert list(short.value) == [1.0, 2.0, None, 3.0, 4.0]
    assert all(limit is None for limit in short.lpl)
    assert short.warnings == ("fewer than 12 values: no process limits are drawn",)


def test_a_rebase_that_would_leave_a_one_point_segment_is_ignored() -> None:
    periods = [dt.date(2020, m, 1) for m in range(1, 13)]
    series = xmr_series(
        [
            SeriesInput(
                "x",
                "X",
                None,
                "neutral",
                periods,
                [float(v % 5) for v in range(12)],
                rebases=[dt.date(2020, 12, 1)],
            )
        ]
    )[0]
    assert series.rebases == ()


def test_improvement_follows_polarity() -> None:
    assert [improvement_of(p) for p in ("higher_is_better", "lower_is_better", "neutral")] == [
        "increase",
        "decrease",
        "neutral",
    ]


def _series() -> SpcSeries:
    months = range(1, 13)
    return SpcSeries(
        indicator_code="perf",
        indicator_name="Performance",
        unit="%",
        improvement="increase",
        period=tuple(dt.date(2020, m, 1) for m in months),
        value=tuple(float(m) for m in months),
        mean=(6.0,) * 12,
        lpl=(1.0,) * 12,
        upl=(11.0,) * 12,
        point_type=tuple("special_cause_concern" if m == 12 else "common_cause" for m in months),
        rule=(None,) * 11 + ("Above UCL",),
        target=9.0,
        rebases=(dt.date(2020, 6, 1),),
    )


def test_spec_shows_type_by_colour_and_shape_with_target_and_rebase() -> None:
    spec = spc_chart_spec(_series())
    points_layer = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points_layer["encoding"]["shape"]["scale"]["domain"] == ["Common cause", "Special cause: concern"]
    assert (
        points_layer["encoding"]["color"]["scale"]["domain"]
        == points_layer["encoding"]["shape"]["scale"]["domain"]
    )
    assert [layer["mark"]["type"] for layer in spec["layer"]].count("rule") == 2  # target and the rebase
    assert spec["data"]["values"][5]["segment"] == 1 and spec["data"]["values"][4]["segment"] == 0
    assert "baseline reset 1 time" in spec["description"]


def test_the_server_draws_the_same_spec_as_accessible_svg() -> None:
    drawn = svg(spc_chart_spec(_series()))
    assert drawn.startswith("<svg") and 'role="img"' in drawn.split(">", 1)[0]
    assert "<title>XmR chart of Performance, 12 points" in drawn
