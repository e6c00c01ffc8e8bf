"""SPC chart specs: point types by colour and shape, target and rebase marks, and the same spec drawn as SVG.

The chart data come from the scan; they are checked against NHSRplotthedots in tests/surveillance/test_series.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from forewarn.charts.interventions import intervention_marks, period_index
from forewarn.charts.render import svg
from forewarn.charts.spc import InterventionSpan, SpcSeries, spc_chart_spec
from tests.charts.specs import rows


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
    points = rows(spec)
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
    assert rows(spec)[0]["value"] == 0.123457
    assert [p["period"] for p in rows(spec)][:2] == ["2020-01-01", "2020-03-01"]
    assert spec["datasets"]["limits"] == []  # no limits: nothing drawn for them
    assert not any(layer.get("data") == {"name": "limits"} for layer in spec["layer"])


def test_the_server_draws_the_same_spec_as_accessible_svg() -> None:
    drawn = svg(spc_chart_spec(_series()))
    assert drawn.startswith("<svg") and 'role="img"' in drawn.split(">", 1)[0]
    assert "<title>XmR chart of Performance, 12 points" in drawn


def _count_series(kind: str | None, unit: str | None, lpl: float, upl: float) -> SpcSeries:
    series = _series()
    return SpcSeries(
        **{
            **series.__dict__,
            "indicator_name": "Serious incidents",
            "unit": unit,
            "kind": kind,
            "lpl": (lpl,) * 12,
            "upl": (upl,) * 12,
            "target": None,
        }
    )


def _notes(spec: dict[str, Any]) -> list[str]:
    return [
        row["note"] for layer in spec["layer"] if layer["mark"]["type"] == "text" for row in rows(spec, layer)
    ]


def test_a_counts_lower_limit_below_zero_is_drawn_at_zero_and_the_chart_says_so() -> None:
    spec = spc_chart_spec(_count_series("count", "incidents", -1.56, 11.0))
    limits = spec["datasets"]["limits"]
    assert [row["lpl"] for row in limits] == [0.0, 0.0]
    assert all(row["clipped"] == ["lpl"] for row in limits)
    assert [row["upl"] for row in limits] == [11.0, 11.0]
    assert spec["description"].endswith("; lower limit below 0 shown at 0")
    assert _notes(spec) == ["Lower limit below 0 shown at 0"] * 2  # one a baseline segment
    text = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert text["mark"]["aria"] is False  # the description says it to assistive technology
    assert text["encoding"]["y"] == {"field": "lpl", "type": "quantitative"}


@pytest.mark.parametrize(
    ("kind", "unit", "lpl", "upl", "shown", "said"),
    [
        ("rate", "per 1,000", -0.2, 3.0, (0.0, 3.0), ["lower limit below 0 shown at 0"]),
        ("ratio_oe", "ratio", -0.1, 2.0, (0.0, 2.0), ["lower limit below 0 shown at 0"]),
        (
            "proportion",
            "proportion",
            -0.05,
            1.08,
            (0.0, 1.0),
            ["lower limit below 0% shown at 0%", "upper limit above 100% shown at 100%"],
        ),
        ("proportion", "%", 80.0, 104.0, (80.0, 100.0), ["upper limit above 100% shown at 100%"]),
        ("mean", "score", -3.0, 3.0, (-3.0, 3.0), []),  # a mean has no natural bounds
        (None, None, -3.0, 3.0, (-3.0, 3.0), []),
    ],
)
def test_limits_are_drawn_within_each_kinds_natural_bounds(
    kind: str | None,
    unit: str | None,
    lpl: float,
    upl: float,
    shown: tuple[float, float],
    said: list[str],
) -> None:
    spec = spc_chart_spec(_count_series(kind, unit, lpl, upl))
    first = spec["datasets"]["limits"][0]
    assert (first["lpl"], first["upl"]) == shown
    assert spec["description"].split("; ")[2:] == said  # after the points and the baseline reset


def test_a_proportion_reads_as_a_percentage_on_the_axis_and_in_the_tooltip() -> None:
    spec = spc_chart_spec(_count_series("proportion", "proportion", 0.7, 0.9))
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert line["encoding"]["y"]["axis"] == {"format": ".0%"}
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    value = next(t for t in points["encoding"]["tooltip"] if t["field"] == "value")
    assert value["format"] == ".1%"
    # The data stay the stored fractions: only the display changes.
    assert rows(spec)[0]["value"] == 1.0
    other = spc_chart_spec(_count_series("count", "incidents", 0.0, 9.0))
    line = next(layer for layer in other["layer"] if layer["mark"]["type"] == "line")
    assert "axis" not in line["encoding"]["y"]


def test_a_clipped_chart_is_drawn_as_svg_with_its_note() -> None:
    drawn = svg(spc_chart_spec(_count_series("count", "incidents", -1.56, 11.0)))
    title = drawn.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.endswith("; lower limit below 0 shown at 0")
    assert ">Lower limit below 0 shown at 0</text>" in drawn  # and beside the line


def test_interventions_are_bands_cut_to_the_charts_periods_with_their_starts_and_ends() -> None:
    spans = (
        InterventionSpan(dt.date(2019, 1, 1), dt.date(2019, 6, 1), "before the chart"),
        InterventionSpan(dt.date(2019, 10, 1), dt.date(2020, 3, 10), "development (case 1)"),
        InterventionSpan(dt.date(2020, 9, 15), None, "enforcement (case 2)"),
    )
    spec = spc_chart_spec(SpcSeries(**{**_series().__dict__, "interventions": spans}))
    # The first ended before January 2020 and is not drawn; the second starts before the chart (its band starts
    # at the first period, and no start edge is drawn); the third runs on to the last period.
    assert spec["datasets"]["interventions"] == [
        {
            "from": "2020-01-01",
            "to": "2020-03-10",
            "label": "development (case 1)",
            "when": "2019-10-01 to 2020-03-10",
        },
        {
            "from": "2020-09-15",
            "to": "2020-12-01",
            "label": "enforcement (case 2)",
            "when": "2020-09-15 to now",
        },
    ]
    assert spec["datasets"]["intervention_edges"] == [
        {"period": "2020-03-10", "edge": "Intervention ended", "label": "development (case 1)"},
        {"period": "2020-09-15", "edge": "Intervention started", "label": "enforcement (case 2)"},
    ]
    band = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    assert spec["layer"].index(band) == 0  # beneath the limits and points
    assert band["encoding"]["x2"] == {"field": "to"}
    assert "intervention enforcement (case 2) 2020-09-15 to now" in spec["description"]
    drawn = svg(spec)
    assert "enforcement (case 2)" in drawn  # the label is drawn


def test_a_chart_of_period_labels_without_their_spans_or_without_interventions_draws_no_band() -> None:
    span = (InterventionSpan(dt.date(2020, 3, 1), None, "development"),)
    labelled = SpcSeries(
        **{
            **_series().__dict__,
            "period": tuple(str(m) for m in range(12)),
            "rebases": (),
            "interventions": span,
        }
    )
    for series in (_series(), labelled):
        spec = spc_chart_spec(series)
        assert "interventions" not in spec["datasets"]
        assert not any(layer["mark"]["type"] == "rect" for layer in spec["layer"])


def _financial_years(first: int, n: int) -> tuple[tuple[str, ...], tuple[tuple[dt.date, dt.date], ...]]:
    labels = tuple(f"{y}/{(y + 1) % 100:02d}" for y in range(first, first + n))
    spans = tuple((dt.date(y, 4, 1), dt.date(y + 1, 3, 31)) for y in range(first, first + n))
    return labels, spans


def test_on_a_chart_of_financial_years_an_intervention_shades_the_years_that_hold_its_dates() -> None:
    labels, spans = _financial_years(2013, 12)
    interventions = (
        # June 2018 is in 2018/19; May 2019 in 2019/20: the band covers both years whole.
        InterventionSpan(dt.date(2018, 6, 15), dt.date(2019, 5, 1), "development (case 1)"),
        InterventionSpan(dt.date(2023, 1, 10), None, "watch (case 2)"),  # running: to the last year
        InterventionSpan(dt.date(2010, 1, 1), dt.date(2012, 1, 1), "before the chart"),
    )
    spec = spc_chart_spec(
        SpcSeries(
            **{
                **_series().__dict__,
                "period": labels,
                "rebases": (),
                "interventions": interventions,
                "period_spans": spans,
            }
        )
    )
    assert spec["datasets"]["interventions"] == [
        {
            "from": "2018/19",
            "to": "2019/20",
            "label": "development (case 1)",
            "when": "2018-06-15 to 2019-05-01",
        },
        {"from": "2022/23", "to": "2024/25", "label": "watch (case 2)", "when": "2023-01-10 to now"},
    ]
    assert spec["datasets"]["intervention_edges"] == [
        {
            "period": "2018/19",
            "edge": "Intervention started",
            "label": "development (case 1)",
            "date": "2018-06-15",
        },
        {
            "period": "2019/20",
            "edge": "Intervention ended",
            "label": "development (case 1)",
            "date": "2019-05-01",
        },
        {
            "period": "2022/23",
            "edge": "Intervention started",
            "label": "watch (case 2)",
            "date": "2023-01-10",
        },
    ]
    band = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    # Whole years: from the start of the first year's band to the end of the last's, on the labels' own order.
    assert band["encoding"]["x"]["bandPosition"] == 0 and band["encoding"]["x2"]["bandPosition"] == 1
    assert band["encoding"]["x"]["scale"]["domain"] == list(labels)
    points_x = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")["encoding"]["x"]
    assert points_x["scale"]["domain"] == list(labels)
    assert "intervention development (case 1) 2018-06-15 to 2019-05-01" in spec["description"]
    assert "development (case 1)" in svg(spec)


def test_a_date_between_two_periods_starts_in_the_next_and_ends_in_the_previous() -> None:
    spans = ((dt.date(2017, 4, 1), dt.date(2018, 3, 31)), (dt.date(2019, 4, 1), dt.date(2020, 3, 31)))
    gap = dt.date(2018, 9, 1)
    assert period_index(gap, spans, "start") == 1 and period_index(gap, spans, "end") == 0
    assert (
        period_index(dt.date(2017, 4, 1), spans) == 0
        and period_index(dt.date(2020, 3, 31), spans, "end") == 1
    )
    assert (
        period_index(dt.date(2017, 3, 31), spans) is None
        and period_index(dt.date(2020, 4, 1), spans, "end") is None
    )
    # An intervention wholly inside the gap touches no period: no band.
    bands, edges = intervention_marks(
        ("2017/18", "2019/20"), (InterventionSpan(dt.date(2018, 5, 1), dt.date(2018, 8, 1), "x"),), spans
    )
    assert bands == [] and edges == []


def _every_kind_of_chart() -> list[SpcSeries]:
    """A chart through each branch of the drawing: dated and labelled periods, limits clipped at both bounds,
    target and rebases or neither, intervention bands and edges, a run chart, missing and unassessed points."""
    base = _series()
    labels, spans = _financial_years(2013, 12)
    running = (
        InterventionSpan(dt.date(2020, 2, 1), dt.date(2020, 4, 20), "development (case 1)"),
        InterventionSpan(dt.date(2020, 9, 15), None, "enforcement (case 2)"),
    )
    return [
        base,
        SpcSeries(**{**base.__dict__, "target": None, "rebases": (), "interventions": running}),
        SpcSeries(
            **{
                **base.__dict__,
                "kind": "proportion",
                "unit": None,
                "value": (None, *base.value[1:]),
                "lpl": (-0.5,) * 12,
                "upl": (1.4,) * 12,
                "point_type": ("not_assessed", *base.point_type[1:]),
            }
        ),
        SpcSeries(**{**base.__dict__, "kind": "count", "unit": "admissions", "lpl": (-1.56,) * 12}),
        SpcSeries(
            **{
                **base.__dict__,
                "period": labels,
                "period_spans": spans,
                "rebases": (labels[4],),
                "interventions": (InterventionSpan(dt.date(2018, 6, 15), None, "watch (case 3)"),),
                "variation": "special_cause_concern",
            }
        ),
        SpcSeries(
            **{
                **base.__dict__,
                "chart_name": "Run chart",
                "limits": False,
                "lpl": (None,) * 12,
                "upl": (None,) * 12,
                "segment": (0,) * 12,
            }
        ),
    ]


@pytest.mark.parametrize("series", _every_kind_of_chart())
def test_the_spec_written_as_dictionaries_is_altairs_key_for_key(series: SpcSeries) -> None:
    # The pages embed spc_chart_spec's dictionaries; they must read byte for byte as Altair writes the chart
    # (spc_chart, for notebooks and reports): the same JSON, keys in the same order.
    import json

    from forewarn.charts.render import spec_of
    from forewarn.charts.spc import spc_chart

    written = spc_chart_spec(series)
    assert json.dumps(written) == json.dumps(spec_of(spc_chart(series)))
    assert json.dumps(spc_chart_spec(series, width=520, height=180)) == json.dumps(
        spec_of(spc_chart(series, width=520, height=180))
    )
