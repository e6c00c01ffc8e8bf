"""The padlock rating, rule by rule as docs/experiments.md writes them."""

from __future__ import annotations

import pytest

from forewarn.experiments.padlocks import mdes_from_standard_error, rate


@pytest.mark.parametrize(
    ("design", "cap"),
    [
        ("individual", 5),
        ("cluster", 5),
        ("stepped_wedge", 5),
        ("staggered_did", 3),
        ("synthetic_control", 3),
        ("its", 2),
    ],
)
def test_design_caps_the_rating(design: str, cap: int) -> None:
    r = rate(design, mdes=0.1, attrition=0.0, baseline_difference=0.0)
    assert r.design == cap and r.padlocks == cap


@pytest.mark.parametrize(
    ("mdes", "padlocks"),
    [(0.19, 5), (0.2, 4), (0.29, 4), (0.3, 3), (0.45, 2), (0.5, 1), (0.59, 1), (0.6, 0), (1.2, 0)],
)
def test_size_bands(mdes: float, padlocks: int) -> None:
    assert rate("individual", mdes=mdes, attrition=0.0, baseline_difference=None).size == padlocks


@pytest.mark.parametrize(
    ("attrition", "padlocks"),
    [(0.0, 5), (0.10, 5), (0.11, 4), (0.20, 4), (0.3, 3), (0.4, 2), (0.5, 1), (0.51, 0)],
)
def test_attrition_bands(attrition: float, padlocks: int) -> None:
    assert rate("individual", mdes=0.1, attrition=attrition, baseline_difference=None).attrition == padlocks


def test_lowest_heading_then_balance() -> None:
    r = rate("cluster", mdes=0.35, attrition=0.15, baseline_difference=0.05)
    assert (r.design, r.size, r.attrition, r.balance_penalty, r.padlocks) == (5, 3, 4, 0, 3)
    unbalanced = rate("cluster", mdes=0.35, attrition=0.15, baseline_difference=-0.2)
    assert unbalanced.balance_penalty == 1 and unbalanced.padlocks == 2
    assert rate("its", mdes=0.7, attrition=0.0, baseline_difference=0.5).padlocks == 0  # never below zero


def test_mdes_is_2_80_standard_errors() -> None:
    assert mdes_from_standard_error(0.1, 1.0) == pytest.approx(0.2802, abs=1e-4)
    with pytest.raises(ValueError, match="positive"):
        mdes_from_standard_error(0.1, 0.0)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="unknown design"):
        rate("anecdote", mdes=0.1, attrition=0.0, baseline_difference=None)
    with pytest.raises(ValueError, match="share"):
        rate("individual", mdes=0.1, attrition=1.5, baseline_difference=None)
