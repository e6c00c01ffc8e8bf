"""The funnel history chart (forewarn.charts.funnel_history): the organisation's z at each period, the limits as
lines at the normal quantiles of their coverage (1.959964 at 95%, 3.090232 at 99.8%: scipy.special.ndtri), the
position named by its side of concern, and interventions as bands."""

from __future__ import annotations

import datetime as dt

from forewarn.charts.funnel_history import FunnelHistorySeries, funnel_history_spec, position_text
from forewarn.charts.interventions import InterventionSpan
from forewarn.charts.render import svg
from tests.charts.specs import rows


def _series(**changes: object) -> FunnelHistorySeries:
    base = FunnelHistorySeries(
        indicator_code="timely",
        indicator_name="Timely care",
        period=tuple(dt.date(2021, m, 1) for m in range(1, 9)),
        z=(0.3, -1.0, -3.4, None, -3.2, -1.5, 0.2, 3.5),
        position=(0, 0, -1, 0, -1, 0, 0, 1),
        limit=99.8,
        limit_z=3.090232,
        concern_side=-1,
        interventions=(InterventionSpan(dt.date(2021, 4, 15), dt.date(2021, 7, 1), "development (case 3)"),),
    )
    return FunnelHistorySeries(**{**base.__dict__, **changes})


def test_points_limits_and_bands_are_the_charts_layers_and_data() -> None:
    spec = funnel_history_spec(_series())
    points = rows(spec)
    assert [p["period"] for p in points] == [
        "2021-01-01",
        "2021-02-01",
        "2021-03-01",
        "2021-05-01",
        "2021-06-01",
        "2021-07-01",
        "2021-08-01",
    ]  # the month outside the funnel is not drawn as a point
    assert [p["position"] for p in points].count("Below limits: concern") == 2
    assert points[-1] == {"period": "2021-08-01", "z": 3.5, "position": "Above limits"}
    assert sorted(row["z"] for row in spec["datasets"]["limits"]) == [-3.0902, -1.96, 0.0, 1.96, 3.0902]
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == [
        "rect",
        "text",
        "rule",
        "rule",
        "line",
        "point",
    ]  # bands beneath, then limits, then points
    assert spec["datasets"]["interventions"] == [
        {
            "from": "2021-04-15",
            "to": "2021-07-01",
            "label": "development (case 3)",
            "when": "2021-04-15 to 2021-07-01",
        }
    ]
    assert [e["edge"] for e in spec["datasets"]["intervention_edges"]] == [
        "Intervention started",
        "Intervention ended",
    ]
    assert spec["description"] == (
        "Funnel history of Timely care: z-score at 7 periods, 3 outside the 99.8% limits; "
        "intervention development (case 3) 2021-04-15 to 2021-07-01"
    )
    drawn = svg(spec)
    assert drawn.startswith("<svg") and "development (case 3)" in drawn


def test_a_95_percent_funnel_draws_its_limits_once() -> None:
    spec = funnel_history_spec(_series(limit=95.0, limit_z=1.959964, interventions=()))
    assert sorted(row["z"] for row in spec["datasets"]["limits"]) == [-1.96, 0.0, 1.96]
    assert "interventions" not in spec["datasets"]


def test_the_side_of_concern_follows_the_indicators_polarity() -> None:
    assert position_text(0, -1) == "Within limits"
    assert position_text(-1, -1) == "Below limits: concern"
    assert position_text(1, -1) == "Above limits"
    assert position_text(1, 1) == "Above limits: concern"
    assert position_text(-1, None) == "Below limits"
