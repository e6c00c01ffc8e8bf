"""Tests of forewarn.stats.psychometrics' scoring, reliability, omega and Shrout-Fleiss ICCs against R psych 2.2.9 (alpha, ICC) and exact derivations.

Reference files are in tests/fixtures/psychometrics (see SOURCE.md there).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import optimize, stats

from forewarn.stats.psychometrics import (
    SHROUT_FLEISS_TYPES,
    ReliabilityOptions,
    ScaleSpec,
    fit_one_factor,
    group_covariance,
    key_responses,
    omega_total,
    reverse_key,
    scale_reliability,
    score_scales,
    shrout_fleiss_icc,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "psychometrics"


def read_table(name: str) -> tuple[list[str], np.ndarray]:
    """A numeric CSV with a header row; "NA" becomes NaN."""
    with (FIXTURES / name).open(newline="") as handle:
        rows = list(csv.reader(handle))
    values = np.array([[np.nan if v == "NA" else float(v) for v in row] for row in rows[1:]])
    return rows[0], values


@pytest.fixture(scope="module")
def bfi() -> tuple[list[str], np.ndarray]:
    return read_table("bfi.csv")


PSYCH_ALPHA: list[dict[str, Any]] = json.loads((FIXTURES / "psych_alpha_bfi.json").read_text())


def scale_items(bfi: tuple[list[str], np.ndarray], keys: list[str]) -> np.ndarray:
    """The scale's items, reverse-keyed on bfi's 1-6 response range as psych::alpha(keys = ...) does."""
    header, values = bfi
    columns = [header.index(key.lstrip("-")) for key in keys]
    return reverse_key(values[:, columns], [key.startswith("-") for key in keys], 1, 6)


# ---------------------------------------------------------------------------------------------------------------
# Cronbach's alpha and friends: psych::alpha on psych::bfi


@pytest.mark.parametrize("expected", PSYCH_ALPHA, ids=[entry["scale"] for entry in PSYCH_ALPHA])
def test_alpha_pairwise_matches_psych(bfi: tuple[list[str], np.ndarray], expected: dict[str, Any]) -> None:
    """psych::alpha(bfi[, items], keys) with use = "pairwise": raw, std, G6, average r, alpha if dropped."""
    result = scale_reliability(scale_items(bfi, expected["items"]))
    assert result.raw_alpha[0] == pytest.approx(expected["raw_alpha_pairwise"], abs=1e-9)
    assert result.std_alpha[0] == pytest.approx(expected["std_alpha_pairwise"], abs=1e-9)
    assert result.lambda6[0] == pytest.approx(expected["G6"], abs=1e-9)
    assert result.average_r[0] == pytest.approx(expected["average_r"], abs=1e-9)
    np.testing.assert_allclose(result.alpha_if_dropped[0], expected["alpha_if_dropped_pairwise"], atol=1e-9)


@pytest.mark.parametrize("expected", PSYCH_ALPHA, ids=[entry["scale"] for entry in PSYCH_ALPHA])
def test_alpha_listwise_and_feldt_interval_match_psych(
    bfi: tuple[list[str], np.ndarray], expected: dict[str, Any]
) -> None:
    """psych::alpha on the complete rows: raw alpha and the Feldt, Woodruff & Salih (1987) 95% interval."""
    result = scale_reliability(
        scale_items(bfi, expected["items"]), options=ReliabilityOptions(missing="listwise")
    )
    assert result.n_complete[0] == expected["n_complete"]
    assert result.n_feldt[0] == expected["n_complete"]
    assert result.raw_alpha[0] == pytest.approx(expected["raw_alpha_listwise"], abs=1e-9)
    assert result.feldt_lower[0] == pytest.approx(expected["feldt_ci_listwise"], abs=1e-9)
    assert result.feldt_upper[0] == pytest.approx(expected["feldt_upper_listwise"], abs=1e-9)


def test_pingouin_listwise_interval_uses_every_row_where_r_uses_complete_rows(
    bfi: tuple[list[str], np.ndarray],
) -> None:
    """pingouin_vs_psych_alpha.csv: pingouin's listwise CI differs from psych's for E and O in the 3rd decimal.

    R is the reference. pingouin's bounds are reproduced by the Feldt formula with n = 2800 (all rows, before
    listwise deletion) instead of the complete rows, so the difference is pingouin's, not a second formula.
    """
    with (FIXTURES / "pingouin_vs_psych_alpha.csv").open(newline="") as handle:
        rows = {row["scale"]: row for row in csv.DictReader(handle)}
    for expected in PSYCH_ALPHA:
        items = scale_items(bfi, expected["items"])
        ours = scale_reliability(items, options=ReliabilityOptions(missing="listwise"))
        psych_low, psych_high = (
            float(v) for v in rows[expected["scale"]]["psych_feldt_ci_listwise"].split(";")
        )
        assert round(float(ours.feldt_lower[0]), 3) == psych_low
        assert round(float(ours.feldt_upper[0]), 3) == psych_high
        n, k, alpha = items.shape[0], items.shape[1], float(ours.raw_alpha[0])
        low = 1 - (1 - alpha) * stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1))
        high = 1 - (1 - alpha) * stats.f.ppf(0.025, n - 1, (n - 1) * (k - 1))
        pingouin_low, pingouin_high = (
            float(v) for v in rows[expected["scale"]]["pingouin_ci95_listwise"].split(";")
        )
        assert (round(low, 3), round(high, 3)) == (pingouin_low, pingouin_high)
        assert float(rows[expected["scale"]]["psych_raw_alpha_pairwise"]) == pytest.approx(
            expected["raw_alpha_pairwise"], abs=1e-12
        )


def test_r_drop_is_the_correlation_of_each_item_with_the_rest(bfi: tuple[list[str], np.ndarray]) -> None:
    """Exact derivation: with complete data psych's r.drop is cor(item, rowSums(other items))."""
    items = scale_items(bfi, PSYCH_ALPHA[0]["items"])
    complete = items[~np.isnan(items).any(axis=1)]
    result = scale_reliability(complete)
    for i in range(complete.shape[1]):
        rest = np.delete(complete, i, axis=1).sum(axis=1)
        assert result.r_drop[0, i] == pytest.approx(np.corrcoef(complete[:, i], rest)[0, 1], abs=1e-12)


def test_alpha_formula_on_complete_data_by_hand() -> None:
    """Exact derivation: alpha = k/(k-1) (1 - sum of item variances / variance of the total)."""
    x = np.array([[1, 2, 2], [2, 2, 3], [3, 4, 3], [4, 4, 5], [5, 4, 4], [2, 3, 2]], dtype=float)
    expected = 3 / 2 * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert scale_reliability(x).raw_alpha[0] == pytest.approx(expected, abs=1e-14)


def test_groups_are_computed_independently_in_one_call(bfi: tuple[list[str], np.ndarray]) -> None:
    """Vectorised over groups: each group's row equals the whole computation on that group's respondents."""
    header, values = bfi
    items = scale_items(bfi, PSYCH_ALPHA[2]["items"])
    education = values[:, header.index("education")]
    groups = np.where(np.isnan(education), 0, education).astype(np.int64)
    together = scale_reliability(items, groups)
    for group in range(together.raw_alpha.shape[0]):
        alone = scale_reliability(items[groups == group])
        for name in (
            "raw_alpha",
            "std_alpha",
            "lambda6",
            "average_r",
            "feldt_lower",
            "omega_total",
            "r_drop",
        ):
            np.testing.assert_allclose(getattr(together, name)[group], getattr(alone, name)[0], atol=1e-9)
        assert together.n_respondents[group] == alone.n_respondents[0]


def test_a_group_without_enough_data_gets_nan_not_an_error() -> None:
    x = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 3.0], [3.0, 3.0, 5.0], [4.0, np.nan, 1.0]])
    result = scale_reliability(x, np.array([0, 0, 0, 1]), n_groups=3)
    assert np.isfinite(result.raw_alpha[0])
    assert np.isnan(result.raw_alpha[1:]).all()
    assert result.n_respondents.tolist() == [3, 1, 0]


def test_pairwise_covariance_equals_r_cov_pairwise_complete() -> None:
    """Exact derivation: each entry is cov() over the rows where both items are present, as R's cov()."""
    rng = np.random.default_rng(5)
    x = rng.integers(1, 6, (60, 4)).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    result = group_covariance(x)
    for i in range(4):
        for j in range(4):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            expected = np.cov(x[both, i], x[both, j])[0, 1]
            assert result.covariance[0, i, j] == pytest.approx(expected, abs=1e-12)
            assert result.n_pairs[0, i, j] == both.sum()


# ---------------------------------------------------------------------------------------------------------------
# Omega total from the one-factor model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_omega_is_exact_for_an_exact_one_factor_covariance(seed: int) -> None:
    """Exact derivation: for S = lambda lambda' + diag(psi), 1'S1 = (sum lambda)^2 + sum psi, so omega =
    (sum lambda)^2 / ((sum lambda)^2 + sum psi), and ML recovers lambda and psi (an exact fixed point)."""
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.3, 2.0, 6)
    psi = rng.uniform(0.2, 1.5, 6)
    covariance = np.outer(lam, lam) + np.diag(psi)
    expected = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())
    assert omega_total(covariance)[0] == pytest.approx(expected, abs=1e-9)
    fit = fit_one_factor(covariance)
    np.testing.assert_allclose(fit.loadings[0], lam, atol=1e-7)
    np.testing.assert_allclose(fit.uniquenesses[0], psi, atol=1e-7)
    assert fit.converged[0]


def test_omega_stack_of_groups_and_sign_of_loadings() -> None:
    lam = np.array([[0.9, 0.8, 0.7, 0.6], [-0.5, -0.5, -0.5, -0.5]])
    psi = np.array([[0.2, 0.3, 0.4, 0.5], [1.0, 1.0, 1.0, 1.0]])
    stack = np.einsum("gi,gj->gij", lam, lam) + np.stack([np.diag(p) for p in psi])
    expected = lam.sum(axis=1) ** 2 / (lam.sum(axis=1) ** 2 + psi.sum(axis=1))
    np.testing.assert_allclose(omega_total(stack), expected, atol=1e-9)
    assert (fit_one_factor(stack).loadings.sum(axis=1) > 0).all()


def test_one_factor_fit_is_the_maximum_likelihood_solution(bfi: tuple[list[str], np.ndarray]) -> None:
    """Cross-check against a general optimiser minimising F = log|Sigma| + tr(S Sigma^-1) on bfi's N scale."""
    items = scale_items(bfi, PSYCH_ALPHA[3]["items"])
    covariance = group_covariance(items).covariance[0]
    fit = fit_one_factor(covariance)

    def discrepancy(theta: np.ndarray) -> float:
        sigma = np.outer(theta[:5], theta[:5]) + np.diag(np.exp(theta[5:]))
        return float(np.linalg.slogdet(sigma)[1] + np.trace(covariance @ np.linalg.inv(sigma)))

    start = np.r_[np.sqrt(np.diag(covariance)) / 2, np.log(np.diag(covariance) / 2)]
    best = optimize.minimize(discrepancy, start, method="BFGS", options={"gtol": 1e-10})
    ours = discrepancy(np.r_[fit.loadings[0], np.log(fit.uniquenesses[0])])
    assert ours <= best.fun + 1e-10
    np.testing.assert_allclose(np.abs(fit.loadings[0]), np.abs(best.x[:5]), atol=1e-5)


def test_one_factor_model_needs_three_items() -> None:
    with pytest.raises(ValueError, match="at least 3 items"):
        fit_one_factor(np.eye(2))


# ---------------------------------------------------------------------------------------------------------------
# Scoring


def test_scale_scores_reverse_keys_and_minimum_answers() -> None:
    """Exact derivation: reverse-keyed x' = 1 + 5 - x; score = mean of answered items when enough answered."""
    spec = ScaleSpec((0, 0, 0, 1, 1), (False, True, False, False, True), 1, 5, (2, 1))
    x = np.array(
        [
            [1.0, 5.0, 4.0, 2.0, 2.0],
            [3.0, np.nan, np.nan, np.nan, 5.0],
            [np.nan, 2.0, 5.0, np.nan, np.nan],
        ]
    )
    scores = score_scales(x, spec)
    np.testing.assert_allclose(scores.score[0], [(1 + 1 + 4) / 3, (2 + 4) / 2])
    assert np.isnan(scores.score[1, 0])  # one answer of three, two needed
    assert scores.score[1, 1] == 1.0
    assert scores.score[2, 0] == (4 + 5) / 2
    assert np.isnan(scores.score[2, 1])
    assert scores.n_answered.tolist() == [[3, 2], [1, 1], [2, 0]]


def test_keyed_responses_rebuild_the_reverse_keyed_answers() -> None:
    spec = ScaleSpec((0, 0, -1), (True, False, False), 1, 7, (1,))
    x = np.array([[1.0, 2.0, 9.0], [7.0, np.nan, 9.0]])
    with pytest.raises(ValueError, match="outside the scale"):
        key_responses(x, spec)
    x[:, 2] = 3.0
    keyed = key_responses(x, spec)
    assert keyed.midpoint == 4.0
    np.testing.assert_array_equal(keyed.centred + keyed.midpoint * keyed.answered, [[7, 2, 3], [1, 0, 3]])
    np.testing.assert_array_equal(keyed.answered, [[1, 1, 1], [1, 0, 1]])
    np.testing.assert_allclose(keyed.scores.score.ravel(), [4.5, 1.0])


def test_scale_spec_from_psych_keys() -> None:
    columns = ["A1", "A2", "C1", "C2", "X"]
    spec = ScaleSpec.from_keys(columns, {"A": ["-A1", "A2"], "C": ["C1", "-C2"]}, 1, 6, {"C": 2})
    assert spec.item_scale == (0, 0, 1, 1, -1)
    assert spec.reverse_keyed == (True, False, False, True, False)
    assert spec.min_answers == (1, 2)
    assert spec.scale_names == ("A", "C")
    assert spec.items_of(1).tolist() == [2, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"item_scale": (0, 0), "reverse_keyed": (False,)}, "reverse_keyed has 1 entries"),
        ({"item_scale": (0, 2)}, r"scale\(s\) \[1\] have no items"),
        ({"min_answers": (3,)}, "between 1 and 2"),
        ({"min_answers": (1, 1)}, "one entry per scale"),
        ({"response_min": 5.0, "response_max": 1.0}, "must be below"),
        ({"item_scale": (-1, -1)}, "no column is assigned"),
        ({"item_scale": (0, -2)}, "-1 for an unscored column"),
        ({"scale_names": ("a", "b")}, "scale_names needs 1"),
    ],
)
def test_scale_spec_refuses_inconsistent_definitions(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "item_scale": (0, 0),
        "reverse_keyed": (False, False),
        "response_min": 1.0,
        "response_max": 5.0,
        "min_answers": (1,),
    }
    if "item_scale" in kwargs and "min_answers" not in kwargs:
        n_scales = max(max(kwargs["item_scale"]) + 1, 1)
        base["min_answers"] = (1,) * n_scales
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ScaleSpec(**base)


def test_from_keys_refuses_unknown_and_duplicate_items() -> None:
    with pytest.raises(ValueError, match="not a column"):
        ScaleSpec.from_keys(["a"], {"S": ["b"]}, 1, 5)
    with pytest.raises(ValueError, match="more than one scale"):
        ScaleSpec.from_keys(["a", "b"], {"S": ["a"], "T": ["-a", "b"]}, 1, 5)
    with pytest.raises(ValueError, match="unknown scale"):
        ScaleSpec.from_keys(["a"], {"S": ["a"]}, 1, 5, {"T": 1})


def test_bad_response_matrices_are_refused_with_a_clear_message() -> None:
    spec = ScaleSpec((0, 0), (False, False), 1, 5, (1,))
    with pytest.raises(ValueError, match="3 columns but the spec describes 2 items"):
        score_scales(np.ones((3, 3)), ScaleSpec((0, 0), (False, False), 1, 5, (1,)))
    with pytest.raises(ValueError, match="infinite"):
        score_scales(np.array([[1.0, np.inf]]), spec)
    with pytest.raises(ValueError, match="2-D"):
        score_scales(np.ones(4), spec)
    with pytest.raises(ValueError, match="outside the scale"):
        score_scales(np.array([[0.0, 1.0]]), spec)
    with pytest.raises(ValueError, match="one flag per column"):
        reverse_key(np.ones((2, 2)), [True], 1, 5)


def test_reliability_refuses_bad_items_groups_and_options() -> None:
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="at least 2 items"):
        scale_reliability(np.ones((4, 1)))
    with pytest.raises(ValueError, match="one id per respondent"):
        scale_reliability(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        scale_reliability(x, np.array([0, -1, 0, 0]))
    with pytest.raises(ValueError, match="whole numbers"):
        scale_reliability(x, np.array([0.5, 1, 0, 0]))
    with pytest.raises(ValueError, match="go up to 3"):
        scale_reliability(x, np.array([0, 1, 2, 3]), n_groups=2)
    with pytest.raises(ValueError, match="missing must be"):
        ReliabilityOptions(missing="casewise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ci_level"):
        ReliabilityOptions(ci_level=1.5)


# ---------------------------------------------------------------------------------------------------------------
# Shrout & Fleiss ICCs: psych::ICC on Shrout & Fleiss's 6 x 4 example


def _shrout_fleiss_ratings() -> np.ndarray:
    with (FIXTURES / "shrout_fleiss_6x4.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array([[float(v) for v in row[1:]] for row in rows])


def test_shrout_fleiss_iccs_match_psych() -> None:
    """psych::ICC(sf): ICC, F, df1, df2, p and the 95% bounds of all six types."""
    with (FIXTURES / "psych_ICC_shrout_fleiss.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    result = shrout_fleiss_icc(_shrout_fleiss_ratings())
    assert [row["type"] for row in rows] == list(SHROUT_FLEISS_TYPES)
    columns = {
        "ICC": result.icc,
        "F": result.f_value,
        "df1": result.df1,
        "df2": result.df2,
        "p": result.p_value,
        "lower bound": result.lower,
        "upper bound": result.upper,
    }
    for name, ours in columns.items():
        expected = np.array([float(row[name]) for row in rows])
        np.testing.assert_allclose(ours[0], expected, rtol=0, atol=1e-9, err_msg=name)


def test_pingouin_iccs_agree_with_psych_so_either_checks_us() -> None:
    """pingouin_vs_psych_ICC.csv: pingouin and psych agree to 1e-15; R stays the reference."""
    with (FIXTURES / "pingouin_vs_psych_ICC.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    result = shrout_fleiss_icc(_shrout_fleiss_ratings())
    for row in rows:
        column = SHROUT_FLEISS_TYPES.index(row["psych_type"])
        assert result.icc[0, column] == pytest.approx(float(row["ICC_pingouin"]), abs=1e-9)
        assert result.f_value[0, column] == pytest.approx(float(row["F_pingouin"]), abs=1e-9)
        assert abs(float(row["diff"])) < 1e-12


def test_shrout_fleiss_over_a_stack_drops_incomplete_targets() -> None:
    """A target missing a rating is dropped (psych's missing = TRUE); padding rows are ignored."""
    ratings = _shrout_fleiss_ratings()
    padded = np.full((3, 8, 4), np.nan)
    padded[0, :6] = ratings
    padded[1, :6] = ratings[::-1]
    padded[1, 6] = [1.0, np.nan, 2.0, 3.0]
    padded[2, :5] = ratings[:5]
    result = shrout_fleiss_icc(padded)
    alone = shrout_fleiss_icc(ratings[:5])
    np.testing.assert_allclose(result.icc[1], result.icc[0], atol=1e-12)
    np.testing.assert_allclose(result.lower[2], alone.lower[0], atol=1e-12)
    assert result.n_targets.tolist() == [6, 6, 5]
    assert result.n_judges == 4


def test_shrout_fleiss_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 judges"):
        shrout_fleiss_icc(np.ones((5, 1)))
    with pytest.raises(ValueError, match="targets x judges"):
        shrout_fleiss_icc(np.ones(5))
    with pytest.raises(ValueError, match="ci_level"):
        shrout_fleiss_icc(np.ones((5, 2)), ci_level=0.0)
