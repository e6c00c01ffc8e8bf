"""Tests for forewarn.stats.multiplicity.

References: the 15 p-values of Benjamini & Hochberg (1995, JRSS B 57:289, section 4.2), with the adjusted
values R's ``p.adjust(p, method = "BH")`` returns, derived here by hand; Benjamini & Yekutieli (2001) for BY.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from forewarn.stats.multiplicity import expected_false_flags, fdr_adjust

# Benjamini & Hochberg (1995), section 4.2: 15 p-values from a study of myocardial infarction treatment.
BH1995 = np.array(
    [
        *(0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344),
        *(0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000),
    ]
)


def bh1995_by_hand() -> list[float]:
    """m p_(i) / i for m = 15, then the running minimum from the largest p down, capped at 1."""
    m = 15
    step = [Fraction(15) * Fraction(str(p)) / i for i, p in enumerate(BH1995.tolist(), start=1)]
    # By hand: 0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0695, 0.0638571.., 0.0645, 0.0765, 0.486,
    # 0.5811818.., 0.714875, 0.7532307.., 0.8132142.., 1: the running minimum from the end lowers 0.0695
    # (i = 6) to 0.0638571.. (i = 7); every other value is already below all later ones.
    assert len(step) == m
    adjusted, running = [], Fraction(1)
    for value in reversed(step):
        running = min(running, value)
        adjusted.append(running)
    return [float(v) for v in reversed(adjusted)]


# R's p.adjust(BH1995, method = "BH"), as printed to 7 significant digits.
R_P_ADJUST_BH = [
    0.0015,
    0.0030,
    0.0095,
    0.035625,
    0.0603,
    0.06385714,
    0.06385714,
    0.0645,
    0.0765,
    0.486,
    0.5811818,
    0.714875,
    0.7532308,
    0.8132143,
    1.0,
]


def test_bh_on_benjamini_hochberg_1995_example() -> None:
    """Reference: BH (1995) example; hand derivation and R p.adjust(method = "BH")."""
    result = fdr_adjust(BH1995, alpha=0.05)
    np.testing.assert_allclose(result.adjusted, bh1995_by_hand(), rtol=1e-12)
    np.testing.assert_allclose(result.adjusted, R_P_ADJUST_BH, rtol=5e-7)
    # The paper rejects the four smallest at q* = 0.05 (Bonferroni would reject three).
    assert result.rejected.tolist() == [True] * 4 + [False] * 11
    assert result.n_rejected.tolist() == [4]
    assert result.n_tests.tolist() == [15]


def test_bh_small_example_by_hand() -> None:
    """Derivation: p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> 4p/i = 0.02, 0.02,
    0.04, 0.04 (running minimum changes nothing)."""
    result = fdr_adjust([0.01, 0.04, 0.03, 0.005], alpha=0.03)
    np.testing.assert_allclose(result.adjusted, [0.02, 0.04, 0.04, 0.02], rtol=1e-15)
    assert result.rejected.tolist() == [True, False, False, True]


def test_by_scales_by_the_harmonic_number() -> None:
    """Derivation (Benjamini & Yekutieli 2001): BY = min(1, c(m) * BH before capping), c(15) = H_15."""
    harmonic = sum(Fraction(1, i) for i in range(1, 16))
    assert float(harmonic) == pytest.approx(3.318228993228993, rel=1e-15)
    result = fdr_adjust(BH1995, method="BY")
    expected = np.minimum(1.0, float(harmonic) * np.array(bh1995_by_hand()))
    np.testing.assert_allclose(result.adjusted, expected, rtol=1e-12)
    # By hand: 0.0015 H_15 = 0.004977343.., 0.003 H_15 = 0.009954687.., 0.0095 H_15 = 0.031523175..
    np.testing.assert_allclose(result.adjusted[:3], [0.004977343, 0.009954687, 0.031523175], rtol=1e-7)
    assert result.n_rejected.tolist() == [3]


def test_ties_get_equal_adjusted_values() -> None:
    """Derivation: p = (0.02, 0.02, 0.02, 0.5): 4 * 0.02 / 3 = 0.02666.. for all three tied values."""
    result = fdr_adjust([0.02, 0.5, 0.02, 0.02])
    np.testing.assert_allclose(result.adjusted, [0.08 / 3, 0.5, 0.08 / 3, 0.08 / 3], rtol=1e-15)


def test_families_are_adjusted_separately_in_one_call() -> None:
    """Derivation: each family equals its own p.adjust; interleaved ids and an empty family do not matter."""
    rng = np.random.default_rng(3)
    sizes = [15, 1, 40, 0, 7]
    p = np.concatenate([BH1995, [0.3], rng.uniform(size=40) ** 3, rng.uniform(size=7)])
    family = np.repeat(np.arange(5), sizes)
    shuffle = rng.permutation(p.size)
    for method in ("BH", "BY"):
        together = fdr_adjust(p[shuffle], family[shuffle], method=method)
        assert together.n_tests.tolist() == sizes
        for f in range(5):
            mine = family[shuffle] == f
            alone = fdr_adjust(p[shuffle][mine], method=method)
            np.testing.assert_allclose(together.adjusted[mine], alone.adjusted, rtol=1e-15)
    first = fdr_adjust(p[shuffle], family[shuffle])
    np.testing.assert_allclose(
        np.sort(first.adjusted[family[shuffle] == 0]), sorted(bh1995_by_hand()), rtol=1e-12
    )
    assert first.adjusted[family[shuffle] == 1].tolist() == [0.3]


def test_tiny_p_values_keep_full_precision_across_families() -> None:
    """Derivation: 2e-300 among two tests in family 1 adjusts to 4e-300, whatever family 0 holds."""
    result = fdr_adjust([0.9, 0.5, 2e-300, 0.7], [0, 0, 1, 1])
    assert result.adjusted[2] == pytest.approx(4e-300, rel=1e-15)
    assert result.adjusted[0] == 0.9
    assert result.adjusted[1] == pytest.approx(0.9, rel=1e-15)


def test_missing_p_values_are_left_out() -> None:
    """Reference: R p.adjust(c(0.01, NA, 0.04), "BH") = 0.02, NA, 0.04 (n counts non-missing values)."""
    result = fdr_adjust([0.01, math.nan, 0.04])
    assert result.adjusted[0] == pytest.approx(0.02, rel=1e-15)
    assert math.isnan(result.adjusted[1])
    assert result.adjusted[2] == pytest.approx(0.04, rel=1e-15)
    assert result.rejected.tolist() == [True, False, True]
    assert result.n_tests.tolist() == [2]
    everything_missing = fdr_adjust([math.nan, math.nan])
    assert np.isnan(everything_missing.adjusted).all()
    assert everything_missing.n_rejected.tolist() == [0]


def test_expected_false_flags() -> None:
    """Derivation: m alpha flags expected under the null, e.g. 50,000 units at 99.8% limits -> 100."""
    assert expected_false_flags(50000, 0.002).tolist() == 100.0
    np.testing.assert_allclose(expected_false_flags([20, 300], [0.05, 0.002]), [1.0, 0.6], rtol=1e-15)
    np.testing.assert_allclose(expected_false_flags([[10], [100]], [0.05, 0.002]), [[0.5, 0.02], [5.0, 0.2]])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0.1, 1.2],), {}, r"p_values\[1\] = 1\.2: p-values must lie in \[0, 1\]"),
        (([0.1, -0.1],), {}, r"p_values\[1\] = -0\.1"),
        (([0.1, math.inf],), {}, r"p_values\[1\] = inf"),
        (([[0.1]],), {}, r"one-dimensional"),
        (([0.1, 0.2], [0]), {}, r"family_id must have one value per p-value \(2\)"),
        (([0.1, 0.2], [0, -2]), {}, r"family_id\[1\] = -2: family ids must be >= 0"),
        (([0.1, 0.2], [0, 0.5]), {}, r"family_id must hold integers"),
        (
            ([0.1, 0.2], [0, 4]),
            {"n_families": 3},
            r"n_families must be an integer >= max\(family_id\) \+ 1 = 5",
        ),
        (([0.1],), {"alpha": 0.0}, r"alpha must be in \(0, 1\)"),
        (([0.1],), {"method": "holm"}, r"method must be 'BH' or 'BY'"),
    ],
)
def test_bad_fdr_inputs_are_named(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fdr_adjust(*args, **kwargs)


@pytest.mark.parametrize(
    ("n_tests", "alpha", "message"),
    [
        (-1, 0.05, r"n_tests must be finite and >= 0; got -1\.0"),
        (10, 1.5, r"alpha must lie in \[0, 1\]; got 1\.5"),
    ],
)
def test_bad_expected_false_flag_inputs(n_tests: float, alpha: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_false_flags(n_tests, alpha)
