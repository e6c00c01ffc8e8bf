"""How values and codes read on pages and charts: each rule written once (forewarn.charts.display)."""

from __future__ import annotations

import pytest

from forewarn.charts.display import (
    compared_text,
    event_label,
    grade_label,
    kind_label,
    measure_text,
    measure_with_unit,
    scale_of,
    signal_text,
)


@pytest.mark.parametrize(
    ("value", "kind", "unit", "text"),
    [
        (0.826, "proportion", "proportion", "82.6%"),
        (0.95, "proportion", None, "95.0%"),
        (0.0012, "proportion", "proportion", "0.12%"),
        (82.6, "proportion", "%", "82.6%"),  # stored in per cent already
        (None, "proportion", "proportion", "–"),
        (float("nan"), "proportion", "proportion", "–"),
        (0.826, "mean", "score", "0.826"),  # not a proportion: as before
        (4.634397528321318, "rate", "per 1,000", "4.63"),
        (1234.0, "count", "attendances", "1,234"),
    ],
)
def test_a_value_reads_by_its_indicators_kind(
    value: float | None, kind: str, unit: str | None, text: str
) -> None:
    assert measure_text(value, kind, unit) == text


def test_a_unit_follows_a_number_but_not_a_percentage() -> None:
    assert measure_with_unit(0.706, "proportion", "proportion") == "70.6%"
    assert measure_with_unit(4.5, "rate", "per 1,000 bed days") == "4.5 per 1,000 bed days"
    assert measure_with_unit(None, "rate", "rate") == "– rate"


def test_compared_values_and_signals_read_on_their_own_scales() -> None:
    # A proportion's funnel compares fractions whatever its unit; a rate's compares ratios to the pooled rate.
    assert compared_text(0.731, "proportion") == "73.1%"
    assert compared_text(1.12, "rate") == "1.12"
    assert signal_text(0.7036, "spc", "proportion", "proportion") == "70.4%"
    assert signal_text(0.7036, "funnel", "proportion", "%") == "70.4%"
    assert signal_text(361.15, "cusum", "proportion", "proportion") == "361.15"


def test_natural_bounds() -> None:
    assert (scale_of("count").lower, scale_of("count").upper) == (0.0, None)
    assert (scale_of("rate").lower, scale_of("ratio_oe").lower) == (0.0, 0.0)
    assert (scale_of("proportion").lower, scale_of("proportion").upper) == (0.0, 1.0)
    assert scale_of("proportion", "%").upper == 100.0
    assert (scale_of("mean").lower, scale_of(None).upper) == (None, None)


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("special_measures_start", "Special measures started"),
        ("special_measures_end", "Special measures ended"),
        ("intervention_start", "Intervention started"),
        ("leadership_change", "Leadership change"),
        ("inspection", "Inspection"),
        ("board_review", "Board review"),  # a kind of its own, from an import
        ("Warning notice", "Warning notice"),
    ],
)
def test_event_kinds_read_as_words(code: str, label: str) -> None:
    assert event_label(code) == label


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("requires_improvement", "Requires improvement"),
        ("inadequate", "Inadequate"),
        ("Good", "Good"),
        ("Requires improvement", "Requires improvement"),
        (None, "–"),
    ],
)
def test_grades_read_as_words(code: str | None, label: str) -> None:
    assert grade_label(code) == label


def test_indicator_kinds_read_as_words() -> None:
    assert [kind_label(k) for k in ("proportion", "rate", "ratio_oe", "mean", "count")] == [
        "Proportion",
        "Rate",
        "Ratio of observed to expected",
        "Mean",
        "Count",
    ]
