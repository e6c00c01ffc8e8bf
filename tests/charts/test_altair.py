"""Every chart is an Altair chart: one object for the notebook, the page's spec and the server's SVG.

Each kind of chart validates against the Vega-Lite schema Altair carries (the pages skip that check for speed),
gives the same spec every time it is built from the same data (the SVG cache is keyed by spec), and keeps its data
in named datasets that Vega-Embed and vl-convert read as they are."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pytest

from forewarn.charts.funnel import FunnelCurve, FunnelUnit, funnel_plot, funnel_plot_spec
from forewarn.charts.funnel_history import FunnelHistorySeries, funnel_history_chart
from forewarn.charts.ranks import RankInterval, rank_interval_chart
from forewarn.charts.render import VEGA_LITE_VERSION, spec_of, svg
from forewarn.charts.spc import InterventionSpan, SpcSeries, spc_chart


def _spc(**changes: Any) -> SpcSeries:
    base = SpcSeries(
        indicator_code="perf",
        indicator_name="Performance",
        unit="incidents",
        improvement="decrease",
        period=tuple(dt.date(2020, m, 1) for m in range(1, 13)),
        value=tuple(float(m) for m in range(1, 13)),
        mean=(6.0,) * 12,
        lpl=(-1.0,) * 12,
        upl=(11.0,) * 12,
        point_type=("common_cause",) * 11 + ("special_cause_concern",),
        rule=(None,) * 11 + ("Above UCL",),
        target=9.0,
        rebases=(dt.date(2020, 6, 1),),
        kind="count",
    )
    return SpcSeries(**{**base.__dict__, **changes})


def _charts() -> dict[str, alt.TopLevelMixin]:
    return {
        "spc": spc_chart(_spc()),
        "spc_labels": spc_chart(
            _spc(period=tuple(f"{y}/{(y + 1) % 100:02d}" for y in range(2008, 2020)), rebases=("2013/14",))
        ),
        "spc_interventions": spc_chart(
            _spc(
                interventions=(
                    InterventionSpan(dt.date(2020, 3, 15), dt.date(2020, 8, 1), "development (case 1)"),
                    InterventionSpan(dt.date(2020, 10, 1), None, "enforcement"),
                )
            )
        ),
        "spc_labels_interventions": spc_chart(
            _spc(
                period=tuple(f"{y}/{(y + 1) % 100:02d}" for y in range(2008, 2020)),
                rebases=(),
                period_spans=tuple((dt.date(y, 4, 1), dt.date(y + 1, 3, 31)) for y in range(2008, 2020)),
                interventions=(InterventionSpan(dt.date(2012, 6, 1), dt.date(2014, 1, 1), "development"),),
            )
        ),
        "funnel_history": funnel_history_chart(
            FunnelHistorySeries(
                indicator_code="p",
                indicator_name="P",
                period=tuple(dt.date(2020, m, 1) for m in range(1, 13)),
                z=(0.5, None, -3.5, -3.2, -2.0, 0.1, 0.4, 1.0, 3.3, 0.0, 0.2, -0.1),
                position=(0, 0, -1, -1, 0, 0, 0, 0, 1, 0, 0, 0),
                limit=99.8,
                limit_z=3.090232,
                concern_side=-1,
                interventions=(InterventionSpan(dt.date(2020, 4, 10), dt.date(2020, 8, 1), "development"),),
            )
        ),
        "run": spc_chart(_spc(lpl=(None,) * 12, upl=(None,) * 12, limits=False, chart_name="Run chart")),
        "funnel": funnel_plot(
            [FunnelUnit("A", 100.0, 0.9, highlight=True), FunnelUnit("B", 200.0, 0.5, outlier=-1)],
            [FunnelCurve("99.8% lower", [100.0, 200.0], [0.6, 0.7])],
            target=0.8,
            title="P",
            value_title="Proportion",
            denominator_title="N",
            kind="proportion",
        ),
        "ranks": rank_interval_chart(
            [RankInterval("B", 2, 1, 3), RankInterval("A", 1, 1, 2)], of=3, title="P"
        ),
    }


@pytest.mark.parametrize("name", list(_charts()))
def test_each_chart_is_valid_vega_lite_and_the_same_each_time(name: str) -> None:
    chart = _charts()[name]
    assert isinstance(chart, alt.LayerChart)
    validated = chart.to_dict(validate=True)  # raises on a spec the schema refuses
    assert validated == spec_of(chart) == spec_of(_charts()[name])
    assert validated["$schema"].endswith(f"/vega-lite/{VEGA_LITE_VERSION}.1.json")  # the page's bundle
    for layer in validated["layer"]:
        name_ = layer.get("data", validated.get("data", {})).get("name")
        assert name_ in validated["datasets"], name_  # every layer's rows travel with the spec
    assert validated["description"]


def test_an_altair_chart_draws_as_svg_as_its_spec_does() -> None:
    chart = _charts()["spc"]
    assert svg(chart) == svg(spec_of(chart))
    assert "<title>XmR chart of Performance, 12 points" in svg(chart)


def test_a_chart_of_period_labels_orders_them_as_given() -> None:
    spec = spec_of(_charts()["spc_labels"])
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert line["encoding"]["x"]["type"] == "ordinal" and line["encoding"]["x"]["sort"] is None
    assert [row["from"] for row in spec["datasets"]["limits"]] == ["2008/09", "2013/14"]
    assert "<svg" in svg(spec)


def test_a_run_chart_draws_its_centre_line_without_limits() -> None:
    spec = spec_of(_charts()["run"])
    assert spec["description"].startswith("Run chart of Performance")
    assert all(row["lpl"] is None and row["upl"] is None for row in spec["datasets"]["limits"])
    assert [row["mean"] for row in spec["datasets"]["limits"]] == [6.0, 6.0]


def test_the_funnels_hover_belongs_to_its_points_layer() -> None:
    spec = funnel_plot_spec(
        [FunnelUnit("A", 100.0, 0.9)], [], target=None, title="P", value_title="V", denominator_title="N"
    )
    assert spec["params"] == [
        {
            "name": "hover",
            "select": {"type": "point", "clear": "pointerout", "on": "pointerover"},
            "views": ["points"],
        }
    ]
    assert next(layer for layer in spec["layer"] if layer.get("name") == "points")["mark"]["type"] == "point"
