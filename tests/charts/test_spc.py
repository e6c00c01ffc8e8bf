"""SPC chart specs: point types by colour and shape, target and rebase marks, and the same spec drawn as SVG.

The chart data come from the scan; they are checked against NHSRplotthedots in tests/surveillance/test_series.py."""

from __future__ import annotations

import datetime as dt

from forewarn.charts.render import svg
from forewarn.charts.spc import SpcSeries, improvement_of, spc_chart_spec


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
    limit_layers = [layer for layer in spec["layer"] if layer.get("data") == {"name": "limits"}]
    assert [layer["encoding"]["y"]["field"] for layer in limit_layers] == ["lpl", "upl", "mean"]
    other_rules = [
        layer for layer in spec["layer"] if layer["mark"]["type"] == "rule" and layer not in limit_layers
    ]
    assert len(other_rules) == 2  # the target and the rebase
    # Limits once per baseline segment, across the segment's periods: the rebase on 1 June splits the year.
    assert spec["datasets"]["limits"] == [
        {"segment": 0, "from": "2020-01-01", "to": "2020-05-01", "mean": 6.0, "lpl": 1.0, "upl": 11.0},
        {"segment": 1, "from": "2020-06-01", "to": "2020-12-01", "mean": 6.0, "lpl": 1.0, "upl": 11.0},
    ]
    points = spec["data"]["values"]
    assert [p["value"] for p in points] == [float(m) for m in range(1, 13)]
    assert "rule" not in points[0] and points[11]["rule"] == "Above UCL"
    assert "baseline reset 1 time" in spec["description"]


def test_values_are_rounded_to_six_significant_figures_and_missing_points_left_out() -> None:
    series = _series()
    series = SpcSeries(
        **{
            **series.__dict__,
            "value": (0.123456789, None, *series.value[2:]),
            "mean": (None,) * 12,
            "lpl": (None,) * 12,
            "upl": (None,) * 12,
        }
    )
    spec = spc_chart_spec(series)
    assert spec["data"]["values"][0]["value"] == 0.123457
    assert [p["period"] for p in spec["data"]["values"]][:2] == ["2020-01-01", "2020-03-01"]
    assert spec["datasets"]["limits"] == []  # no limits: nothing drawn for them
    assert not any(layer.get("data") == {"name": "limits"} for layer in spec["layer"])


def test_the_server_draws_the_same_spec_as_accessible_svg() -> None:
    drawn = svg(spc_chart_spec(_series()))
    assert drawn.startswith("<svg") and 'role="img"' in drawn.split(">", 1)[0]
    assert "<title>XmR chart of Performance, 12 points" in drawn
