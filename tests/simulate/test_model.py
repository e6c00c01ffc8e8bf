"""Simulation parameters: validated once with messages that name the problem, and every one documented with its
default in docs/simulator.md (reference: the document itself, as tests/test_settings.py does for settings)."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

import numpy as np
import pytest

from forewarn.simulate.model import DEFAULT_INDICATORS, IndicatorDesign, SimulationParameters, lag_weights
from tests.conftest import ROOT

DOC = ROOT / "docs" / "simulator.md"


def _doc_rows() -> dict[str, str]:
    """`name` -> default text, from the parameter tables of docs/simulator.md (| `name` | `default` | ... |)."""
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([a-z_0-9]+)` \| `([^`]*)` \|", text, flags=re.MULTILINE))


def test_every_parameter_is_documented_with_its_default() -> None:
    rows = _doc_rows()
    defaults = SimulationParameters()
    for f in dataclasses.fields(SimulationParameters):
        assert f.name in rows, f"parameter {f.name} missing from docs/simulator.md"
        if f.name == "indicators":
            continue
        value = getattr(defaults, f.name)
        documented = rows[f.name]
        if isinstance(value, float):
            assert float(Fraction(documented)) == pytest.approx(value), f.name  # e.g. `1/36`
        elif isinstance(value, tuple):
            parts = [x for x in documented.strip("()").split(",") if x.strip()]  # `()`: an empty tuple
            assert tuple(float(x) for x in parts) == pytest.approx(value), f.name
        else:
            assert documented == str(value), f.name


def test_every_default_indicator_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for design in DEFAULT_INDICATORS:
        assert f"`{design.code}`" in text, f"indicator {design.code} missing from docs/simulator.md"


def test_lag_weights_are_triangular_and_peak_at_the_lag() -> None:
    # Exact derivation: spread 3 gives weights 1,2,3,4,3,2,1 over lags L-3..L+3, divided by 16.
    w = lag_weights(6, 3)
    expected = np.array([0, 0, 0, 1, 2, 3, 4, 3, 2, 1]) / 16
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-15)
    assert int(np.argmax(w)) == 6
    np.testing.assert_allclose(lag_weights(0, 0), [1.0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_organisations": 0}, "n_organisations must be at least 1"),
        ({"n_years": 0}, "n_years must be 1..50"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"type_shares": (0.0, 0.0, 0.0)}, "type_shares must be three non-negative shares"),
        ({"capacity_reversion": 1.5}, "capacity_reversion must be between 0 and 1"),
        ({"grade_cuts": (1.0, 0.0, 2.0)}, "grade_cuts must be three increasing cut points"),
        (
            {"performance_lag_spread": 9},
            "performance_lag_spread must be between 0 and performance_lag_months",
        ),
        ({"surveillance_arm_probabilities": (0.5, 0.5, 0.5)}, "surveillance_arm_probabilities must be three"),
        ({"survey_item_correlation": 1.0}, "survey_item_correlation must be strictly between 0 and 1"),
        (
            {"survey_thresholds": (0.0, -1.0, 1.0, 2.0)},
            "survey_thresholds must be four increasing cut points",
        ),
        ({"shock_rate": float("nan")}, "shock_rate must be a finite number >= 0"),
        ({"dataset_code": "Sim Data"}, "dataset_code must be lower-case"),
        ({"indicators": ()}, "indicators must hold at least one IndicatorDesign"),
        ({"indicators": (DEFAULT_INDICATORS[0], DEFAULT_INDICATORS[0])}, "indicator codes must be unique"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SimulationParameters(**change)  # type: ignore[arg-type]


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"n_organisations.*n_years"):
        SimulationParameters(n_organisations=0, n_years=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "mean"}, "kind must be proportion, rate, ratio_oe or count"),
        ({"baseline": 1.2}, "a proportion's baseline must be strictly between 0 and 1"),
        ({"volume": 0.0}, "volume (denominator per member of staff) must be positive"),
        ({"random_effect_sd": -0.1}, "random_effect_sd must not be negative"),
        ({"seasonal_peak_month": 13}, "seasonal_peak_month must be 1..12"),
    ],
)
def test_bad_indicator_designs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        dataclasses.replace(DEFAULT_INDICATORS[0], **change)  # type: ignore[arg-type]


def test_indicator_direction_follows_polarity() -> None:
    kinds = {d.polarity: d.direction for d in DEFAULT_INDICATORS}
    assert kinds == {"higher_is_better": 1, "lower_is_better": -1, "neutral": 0}
    assert isinstance(DEFAULT_INDICATORS[0], IndicatorDesign)
