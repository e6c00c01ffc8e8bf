"""The backtest's charts are valid Vega-Lite (against the schema Altair carries) and carry the figures given."""

from __future__ import annotations

from forewarn.charts.risk import calibration_chart, lead_time_chart


def test_calibration_and_lead_time_charts_validate_and_carry_their_data() -> None:
    calibration = calibration_chart([0.01, 0.02, 0.2], [0.0, 0.03, 0.25]).to_dict(validate=True)
    assert calibration["datasets"]["deciles"] == [
        {"predicted": 0.01, "observed": 0.0},
        {"predicted": 0.02, "observed": 0.03},
        {"predicted": 0.2, "observed": 0.25},
    ]
    lead = lead_time_chart(
        {"risk model": {"1": 0.8, "3": None, "12": 0.6}, "naive mean z": {"1": 0.5, "3": 0.4, "12": 0.3}}
    ).to_dict(validate=True)
    rows = lead["datasets"]["lead_time"]
    assert {(r["score"], r["months"], r["share"]) for r in rows} == {
        ("risk model", 1, 0.8),
        ("risk model", 12, 0.6),
        ("naive mean z", 1, 0.5),
        ("naive mean z", 3, 0.4),
        ("naive mean z", 12, 0.3),
    }
