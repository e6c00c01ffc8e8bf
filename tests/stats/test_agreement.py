"""Tests of forewarn.stats.psychometrics' group ICCs, agreement, random groups and aggregation report against R multilevel 2.7 (ICC1, ICC2, rwg, rwg.j, rwg.j.lindell, awg) on
multilevel::lq2002, LeBreton & Senter's (2008) null variances, and exact derivations.

Reference files are in tests/fixtures/psychometrics (see SOURCE.md there).
"""

from __future__ import annotations

import csv
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from forewarn.stats.psychometrics import (
    AGREEMENT_UNDEFINED,
    ICC1_NOT_ABOVE_RANDOM,
    LEBRETON_SENTER_5_POINT,
    RWG_J_BELOW_THRESHOLD,
    RWG_J_NOT_ABOVE_RANDOM,
    TOO_FEW_RESPONDENTS,
    AggregationOptions,
    AgreementOptions,
    NullDistribution,
    RandomGroupOptions,
    ScaleSpec,
    aggregation_report,
    awg_index,
    group_icc,
    group_moments,
    random_group_agreement,
    rwg_j_from_variance,
    uniform_null_variance,
    within_group_agreement,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "psychometrics"
LEAD_ITEMS = [f"LEAD{i:02d}" for i in range(1, 12)]
UNIFORM_ONLY = AgreementOptions(nulls=(NullDistribution.uniform(5),))


class LQ2002:
    """multilevel::lq2002 with COMPID mapped to group codes 0..48 (in sorted COMPID order)."""

    def __init__(self) -> None:
        with (FIXTURES / "lq2002.csv").open(newline="") as handle:
            rows = list(csv.reader(handle))
        self.header = rows[0]
        self.values = np.array([[float(v) for v in row] for row in rows[1:]])
        self.company_ids, self.groups = np.unique(self.column("COMPID").astype(np.int64), return_inverse=True)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.header.index(name)]

    def columns(self, names: list[str]) -> np.ndarray:
        return self.values[:, [self.header.index(name) for name in names]]


@pytest.fixture(scope="module")
def lq2002() -> LQ2002:
    return LQ2002()


def read_by_company(name: str, lq: LQ2002) -> dict[str, np.ndarray]:
    """A multilevel output table keyed by grpid, reordered to lq.company_ids."""
    with (FIXTURES / name).open(newline="") as handle:
        rows = {int(row["grpid"]): row for row in csv.DictReader(handle)}
    fields = [field for field in next(iter(rows.values())) if field != "grpid"]
    return {field: np.array([float(rows[int(c)][field]) for c in lq.company_ids]) for field in fields}


# ---------------------------------------------------------------------------------------------------------------
# multilevel reference values


def test_icc1_icc2_match_multilevel(lq2002: LQ2002) -> None:
    """ICC1(aov(y ~ as.factor(COMPID))) and ICC2(...) for LEADM, TSIG, HOSTILE, LEAD01, in one call."""
    with (FIXTURES / "multilevel_ICC1_ICC2_lq2002.csv").open(newline="") as handle:
        expected = list(csv.DictReader(handle))
    variables = np.column_stack(
        [
            lq2002.columns(LEAD_ITEMS).mean(axis=1),
            lq2002.column("TSIG"),
            lq2002.column("HOSTILE"),
            lq2002.column("LEAD01"),
        ]
    )
    result = group_icc(variables, lq2002.groups)
    assert [row["variable"] for row in expected] == ["LEADM", "TSIG", "HOSTILE", "LEAD01"]
    np.testing.assert_allclose(result.icc1, [float(row["ICC1"]) for row in expected], atol=1e-8)
    np.testing.assert_allclose(result.icc2, [float(row["ICC2"]) for row in expected], atol=1e-8)
    assert result.group_size[0] == pytest.approx(2042 / 49)
    assert (result.df_between == 48).all()
    assert (result.df_within == 2042 - 49).all()


def test_rwg_j_uniform_matches_multilevel(lq2002: LQ2002) -> None:
    """rwg.j(lq2002[, LEAD01:LEAD11], COMPID, ranvar = 2) and its gsize."""
    expected = read_by_company("multilevel_rwgj_lq2002_LEAD_uniform.csv", lq2002)
    result = within_group_agreement(lq2002.columns(LEAD_ITEMS), lq2002.groups, options=UNIFORM_ONLY)
    assert result.null_variances.tolist() == [2.0]
    np.testing.assert_allclose(result.rwg_j[0], expected["rwg.j"], atol=1e-9)
    np.testing.assert_array_equal(result.n_respondents, expected["gsize"])


def test_rwg_and_lindell_match_multilevel(lq2002: LQ2002) -> None:
    """rwg.j.lindell(items, COMPID, 2) and rwg(LEAD01, COMPID, 2), including the single-item call."""
    expected = read_by_company("multilevel_rwg_lq2002_LEAD.csv", lq2002)
    result = within_group_agreement(lq2002.columns(LEAD_ITEMS), lq2002.groups, options=UNIFORM_ONLY)
    np.testing.assert_allclose(result.rwg_j_lindell[0], expected["rwg.lindell"], atol=1e-9)
    np.testing.assert_allclose(result.rwg_j[0], expected["rwg.j"], atol=1e-9)
    np.testing.assert_allclose(result.rwg_item[0, :, 0], expected["rwg"], atol=1e-9)
    single = within_group_agreement(lq2002.columns(["LEAD01"]), lq2002.groups, options=UNIFORM_ONLY)
    np.testing.assert_allclose(single.rwg_j[0], expected["rwg"], atol=1e-9)


def multilevel_awg(x: np.ndarray, low: float, high: float) -> float:
    """A line-by-line transcription of multilevel::awg's inner function for one item of one group."""
    m, k = x.mean(), len(x)
    if k < 2:
        return float("nan")
    value = 1 - (2 * x.var(ddof=1)) / (((high + low) * m - m**2 - high * low) * (k / (k - 1)))
    if m < (low * (k - 1) + high) / k:
        value = float("nan")
    if m > (high * (k - 1) + low) / k:
        value = float("nan")
    if m in (high, low):
        value = 1.0
    return float(value)


def test_awg_matches_multilevel_transcription(lq2002: LQ2002) -> None:
    """awg(items, COMPID, c(1, 5)): mean of the items' awg with na.rm = TRUE, per group."""
    items = lq2002.columns(LEAD_ITEMS)
    result = within_group_agreement(items, lq2002.groups)
    for group in range(len(lq2002.company_ids)):
        members = items[lq2002.groups == group]
        per_item = [multilevel_awg(members[:, i], 1, 5) for i in range(items.shape[1])]
        np.testing.assert_allclose(result.awg_item[group], per_item, atol=1e-12)
        assert result.awg_j[group] == pytest.approx(np.nanmean(per_item), abs=1e-12)


def test_awg_edge_cases_by_hand() -> None:
    """Brown & Hauenstein (2005): 1 at an end of the scale, undefined too near one, undefined for one rater."""
    # Mean 5 on a 1-5 scale: everyone answered 5.
    assert awg_index(np.array([5.0]), np.array([0.0]), np.array([4]), 1, 5)[0] == 1.0
    # k = 4, one 1 and three 5s: M = 4 = (5*3 + 1)/4, exactly on the bound, so it is computed. s^2 = 12/3 = 4
    # is the largest variance possible, ((5 + 1) 4 - 16 - 5) 4/3 = 4, so awg = 1 - 2 * 4/4 = -1.
    x = np.array([1.0, 5.0, 5.0, 5.0])
    assert awg_index(np.array([x.mean()]), np.array([x.var(ddof=1)]), np.array([4]), 1, 5)[
        0
    ] == pytest.approx(-1)
    # k = 4, mean 4.5 > (5*3 + 1)/4 = 4: undefined.
    assert np.isnan(awg_index(np.array([4.5]), np.array([0.3]), np.array([4]), 1, 5)[0])
    assert np.isnan(awg_index(np.array([3.0]), np.array([np.nan]), np.array([1]), 1, 5)[0])
    # M = 3, s^2 = 1, k = 10: 1 - 2 / ((6*3 - 9 - 5) * 10/9) = 1 - 2/4.444... = 0.55
    assert awg_index(np.array([3.0]), np.array([1.0]), np.array([10]), 1, 5)[0] == pytest.approx(0.55)


# ---------------------------------------------------------------------------------------------------------------
# Null distributions


def test_lebreton_senter_null_variances_follow_from_their_distributions() -> None:
    """LeBreton & Senter (2008, Table 3), 5-point scale. Derivation, options 1..5:

    slight skew   p = (.05, .15, .20, .35, .25): mean = .05 + .30 + .60 + 1.40 + 1.25 = 3.60,
                  E[x^2] = .05 + .60 + 1.80 + 5.60 + 6.25 = 14.30, variance = 14.30 - 3.60^2 = 1.34
    moderate skew p = (.00, .10, .15, .40, .35): mean = .20 + .45 + 1.60 + 1.75 = 4.00,
                  E[x^2] = .40 + 1.35 + 6.40 + 8.75 = 16.90, variance = 16.90 - 16.00 = 0.90
    heavy skew    p = (.00, .00, .10, .40, .50): mean = .30 + 1.60 + 2.50 = 4.40,
                  E[x^2] = .90 + 6.40 + 12.50 = 19.80, variance = 19.80 - 19.36 = 0.44
    triangular    p = (.11, .22, .34, .22, .11): mean 3, variance = 2(.11 * 4 + .22 * 1) = 1.32
    normal        p = (.07, .24, .38, .24, .07): mean 3, variance = 2(.07 * 4 + .24 * 1) = 1.04
    uniform       p = .2 each: mean 3, variance = 2(.2 * 4 + .2 * 1) = 2.00 = (5^2 - 1)/12
    The moderate-skew distribution the brief asked to check, (.00, .10, .15, .40, .35), does give Table 3's .90.
    """
    table = {
        "uniform": 2.00,
        "slight_skew": 1.34,
        "moderate_skew": 0.90,
        "heavy_skew": 0.44,
        "triangular": 1.32,
        "normal": 1.04,
    }
    assert {null.name: round(null.variance, 12) for null in LEBRETON_SENTER_5_POINT} == table


@pytest.mark.parametrize("options", range(2, 12))
def test_uniform_null_variance_is_a2_minus_1_over_12(options: int) -> None:
    """Exact derivation: Var(U{1..A}) = (A+1)(2A+1)/6 - ((A+1)/2)^2 = (A^2 - 1)/12."""
    by_sums = (options + 1) * (2 * options + 1) / 6 - ((options + 1) / 2) ** 2
    assert uniform_null_variance(options) == pytest.approx(by_sums, abs=1e-12)
    assert NullDistribution.uniform(options).variance == pytest.approx(by_sums, abs=1e-12)


def test_rwg_j_against_skewed_nulls_by_hand(lq2002: LQ2002) -> None:
    """Exact derivation with the mean item variance computed directly per group: rwg(j) = J(1 - s/v) /
    (J(1 - s/v) + s/v), s truncated at v; defaults on a 5-point scale are uniform, slight and moderate skew."""
    items = lq2002.columns(LEAD_ITEMS)
    result = within_group_agreement(items, lq2002.groups)
    assert result.null_names == ("uniform", "slight_skew", "moderate_skew")
    for group in range(len(lq2002.company_ids)):
        s = items[lq2002.groups == group].var(axis=0, ddof=1).mean()
        for row, v in enumerate((2.0, 1.34, 0.90)):
            ratio = min(s, v) / v
            expected = 11 * (1 - ratio) / (11 * (1 - ratio) + ratio)
            assert result.rwg_j[row, group] == pytest.approx(expected, abs=1e-12)
            assert result.rwg_j_lindell[row, group] == pytest.approx(1 - s / v, abs=1e-12)


def test_rwg_j_is_truncated_at_zero_but_lindell_is_not() -> None:
    assert rwg_j_from_variance(np.array([2.5]), 4, 2.0)[0] == 0.0
    x = np.array([[1.0, 5.0], [5.0, 1.0], [1.0, 5.0]])
    result = within_group_agreement(x, np.zeros(3, dtype=np.int64), options=UNIFORM_ONLY)
    assert result.rwg_j[0, 0] == 0.0
    assert result.rwg_j_lindell[0, 0] == pytest.approx(1 - (16 / 3) / 2)


# ---------------------------------------------------------------------------------------------------------------
# Missing answers, unequal groups


def test_missing_answers_available_and_listwise() -> None:
    """Exact derivation per group: "available" uses each item's own answers (nanvar); "listwise" uses only
    respondents with every item (multilevel's na.exclude)."""
    rng = np.random.default_rng(11)
    groups = rng.integers(0, 6, 120)
    x = rng.integers(1, 6, (120, 3)).astype(float)
    x[rng.random(x.shape) < 0.15] = np.nan
    available = within_group_agreement(x, groups)
    listwise = within_group_agreement(x, groups, options=AgreementOptions(item_missing="listwise"))
    complete = ~np.isnan(x).any(axis=1)
    for group in range(6):
        members = x[groups == group]
        np.testing.assert_allclose(available.item_variance[group], np.nanvar(members, axis=0, ddof=1))
        full = x[(groups == group) & complete]
        np.testing.assert_allclose(listwise.item_variance[group], full.var(axis=0, ddof=1))
        assert listwise.n_respondents[group] == len(full)
        assert available.n_respondents[group] == (~np.isnan(members).all(axis=1)).sum()


def test_icc_with_missing_values_and_unequal_groups_by_hand() -> None:
    """Exact derivation of the one-way ANOVA with NaN dropped; "n0" uses (N - sum n^2 / N) / (G - 1)."""
    y = np.array([3.0, 4, 4, np.nan, 2, 3, 2, 5, 5, 4, 4, 1])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3])
    keep = ~np.isnan(y)
    y, g = y[keep], g[keep]
    means = np.array([y[g == k].mean() for k in range(4)])
    sizes = np.bincount(g)
    msb = (sizes * (means - y.mean()) ** 2).sum() / 3
    msw = sum(((y[g == k] - means[k]) ** 2).sum() for k in range(4)) / (len(y) - 4)
    n0 = (len(y) - (sizes**2).sum() / len(y)) / 3
    with_nan = np.array([3.0, 4, 4, np.nan, 2, 3, 2, 5, 5, 4, 4, 1])
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3])
    mean_k = group_icc(with_nan, groups)
    adjusted = group_icc(with_nan, groups, group_size="n0")
    k = len(y) / 4
    assert mean_k.icc1[0] == pytest.approx((msb - msw) / (msb + (k - 1) * msw), abs=1e-12)
    assert adjusted.icc1[0] == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), abs=1e-12)
    assert mean_k.icc2[0] == pytest.approx((msb - msw) / msb, abs=1e-12)
    assert mean_k.p_value[0] == pytest.approx(stats.f.sf(msb / msw, 3, len(y) - 4), abs=1e-12)


def test_group_moments_skip_missing_and_mark_small_groups() -> None:
    m = group_moments(np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 4.0]]), np.array([0, 0, 1]), n_groups=3)
    assert m.n.tolist() == [[2, 1], [1, 1], [0, 0]]
    np.testing.assert_allclose(m.mean[:2], [[2.0, 2.0], [5.0, 4.0]])
    assert m.variance[0, 0] == 2.0
    assert np.isnan(m.variance[0, 1]) and np.isnan(m.mean[2]).all()


# ---------------------------------------------------------------------------------------------------------------
# Random-group resampling


def clustered_answers(seed: int, n_groups: int, size: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), size)
    shift = rng.normal(0, spread, n_groups)[groups][:, None]
    answers = np.clip(np.round(3 + shift + rng.normal(0, 0.7, (groups.size, 4))), 1, 5)
    return answers, groups


def test_random_groups_keep_sizes_and_expect_the_total_variance() -> None:
    """Under random grouping E[s_g^2] is the whole sample's variance (n - 1 denominator): sampling without
    replacement leaves the sample variance unbiased for the finite population's S^2."""
    answers, groups = clustered_answers(1, 40, 8, 1.0)
    score = answers.mean(axis=1)
    result = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=400, seed=3))
    assert result.random_group_variance_mean == pytest.approx(score.var(ddof=1), rel=0.02)
    assert result.mean_group_variance < result.random_mean_group_variance.min()
    assert result.icc1 > result.icc1_random_quantile
    assert result.icc1_p_value == pytest.approx(1 / 401)
    assert result.random_icc1.shape == (400,)
    # Random ICC(1) centres near zero (slightly negative: -1/(k-1) is its floor).
    assert abs(float(np.median(result.random_icc1))) < 0.05


def test_random_groups_are_reproducible_and_depend_on_the_seed() -> None:
    answers, groups = clustered_answers(2, 10, 6, 0.3)
    first = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=50, seed=9))
    again = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=50, seed=9))
    other = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=50, seed=10))
    np.testing.assert_array_equal(first.random_icc1, again.random_icc1)
    assert not np.array_equal(first.random_icc1, other.random_icc1)


def test_per_group_random_quantile_is_rwg_j_of_the_variance_quantile() -> None:
    """A group in full agreement beats every random group; the rwg(j) bound is rwg(j) at the s^2 quantile."""
    answers, groups = clustered_answers(4, 12, 7, 1.0)
    answers[groups == 0] = 4.0
    result = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=99, seed=1))
    assert result.observed_item_variance[0] == 0.0
    assert result.item_variance_p_value[0] == pytest.approx(1 / 100)
    for row, null in enumerate(LEBRETON_SENTER_5_POINT[:3]):
        expected = rwg_j_from_variance(result.random_item_variance_quantile, 4, null.variance)
        np.testing.assert_allclose(result.rwg_j_random_quantile[row], expected)


def test_random_groups_refuse_bad_options() -> None:
    answers, groups = clustered_answers(0, 3, 3, 0.0)
    with pytest.raises(ValueError, match="n_resamples >= 1"):
        random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=0))
    with pytest.raises(ValueError, match="percentile"):
        RandomGroupOptions(percentile=100.0)
    with pytest.raises(ValueError, match="one value per respondent"):
        random_group_agreement(answers, groups, scores=np.ones(2))


# ---------------------------------------------------------------------------------------------------------------
# Aggregation report


def test_report_reproduces_multilevel_on_lq2002(lq2002: LQ2002) -> None:
    """The report's rwg(j), ICC(1), ICC(2), n and group means agree with multilevel on the LEAD scale."""
    spec = ScaleSpec((0,) * 11, (False,) * 11, 1, 5, (11,), ("LEAD",))
    items = lq2002.columns(LEAD_ITEMS)
    report = aggregation_report(
        items, spec, lq2002.groups, options=AggregationOptions(resampling=RandomGroupOptions(0))
    )
    rwg = read_by_company("multilevel_rwgj_lq2002_LEAD_uniform.csv", lq2002)
    with (FIXTURES / "multilevel_ICC1_ICC2_lq2002.csv").open(newline="") as handle:
        leadm = next(row for row in csv.DictReader(handle) if row["variable"] == "LEADM")
    np.testing.assert_allclose(report.rwg_j[0, 0], rwg["rwg.j"], atol=1e-9)
    np.testing.assert_array_equal(report.n[0], rwg["gsize"])
    assert report.icc1[0] == pytest.approx(float(leadm["ICC1"]), abs=1e-8)
    assert report.icc2[0] == pytest.approx(float(leadm["ICC2"]), abs=1e-8)
    score = items.mean(axis=1)
    for group in (0, 17, 48):
        members = score[lq2002.groups == group]
        half = stats.t.ppf(0.975, len(members) - 1) * members.std(ddof=1) / np.sqrt(len(members))
        assert report.mean[0, group] == pytest.approx(members.mean(), abs=1e-12)
        assert report.ci_lower[0, group] == pytest.approx(members.mean() - half, abs=1e-12)
        assert report.ci_upper[0, group] == pytest.approx(members.mean() + half, abs=1e-12)
    assert report.n_resamples == 0
    assert np.isnan(report.rwg_j_random_quantile).all()
    assert report.aggregate.all()
    assert set(report.verdict.ravel().tolist()) == {"aggregate"}


def test_report_verdicts_and_reasons() -> None:
    """Scale 0 has a strong group effect; scale 1 is noise; group 5 is too small; group 0 agrees perfectly."""
    rng = np.random.default_rng(8)
    sizes = [15, 15, 15, 15, 15, 3]
    groups = np.repeat(np.arange(6), sizes)
    shift = np.array([-1.5, -0.5, 0.0, 0.5, 1.5, 0.0])[groups][:, None]
    signal = np.clip(np.round(3 + shift + rng.normal(0, 0.6, (groups.size, 4))), 1, 5)
    noise = rng.integers(1, 6, (groups.size, 4)).astype(float)
    signal[groups == 0] = 2.0
    answers = np.column_stack([signal, noise])
    spec = ScaleSpec((0,) * 4 + (1,) * 4, (False,) * 8, 1, 5, (3, 3), ("signal", "noise"))
    options = AggregationOptions(min_respondents=5, resampling=RandomGroupOptions(n_resamples=199, seed=1))
    report = aggregation_report(answers, spec, groups, options=options)
    assert report.n[:, 5].tolist() == [3, 3]
    assert report.reason_flags[0, 5] & TOO_FEW_RESPONDENTS
    assert report.verdict[0, 5] == "do not aggregate"
    assert "too few respondents" in report.reason[0, 5]
    assert report.aggregate[0, 0]
    assert report.reason[0, 0] == ""
    assert report.icc1[0] > report.icc1_random_quantile[0]
    # Noise: ICC(1) sits inside its random-group distribution, so no group of that scale is aggregated.
    assert report.icc1[1] <= report.icc1_random_quantile[1]
    assert (report.reason_flags[1] & ICC1_NOT_ABOVE_RANDOM).all()
    assert not report.aggregate[1].any()
    assert all("ICC(1) not above random-group expectation" in text for text in report.reason[1])
    not_above = (report.reason_flags & RWG_J_NOT_ABOVE_RANDOM) != 0
    below = report.rwg_j[:, 0, :] <= report.rwg_j_random_quantile
    np.testing.assert_array_equal(not_above[:, :5], below[:, :5])


def test_report_threshold_and_undefined_agreement() -> None:
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    answers = np.array(
        [[1, 5], [5, 1], [1, 5], [3, 3], [3, 4], [3, 3], [2, np.nan], [2, np.nan], [3, np.nan]], dtype=float
    )
    spec = ScaleSpec((0, 0), (False, False), 1, 5, (1,))
    options = AggregationOptions(min_respondents=3, min_rwg_j=0.7, resampling=RandomGroupOptions(0))
    report = aggregation_report(answers, spec, groups, options=options)
    assert report.reason_flags[0].tolist() == [RWG_J_BELOW_THRESHOLD, 0, AGREEMENT_UNDEFINED]
    assert report.reason[0].tolist() == [
        "rwg(j) below the agreement threshold",
        "",
        "agreement cannot be estimated",
    ]


def test_report_listwise_matches_within_group_agreement() -> None:
    rng = np.random.default_rng(21)
    groups = rng.integers(0, 5, 200)
    answers = rng.integers(1, 6, (200, 6)).astype(float)
    answers[rng.random(answers.shape) < 0.1] = np.nan
    spec = ScaleSpec((0, 0, 0, 1, 1, 1), (False, True, False, False, False, True), 1, 5, (2, 2))
    options = AggregationOptions(item_missing="listwise", resampling=RandomGroupOptions(0))
    report = aggregation_report(answers, spec, groups, options=options)
    keyed = answers.copy()
    keyed[:, [1, 5]] = 6 - keyed[:, [1, 5]]
    for scale, columns in enumerate(([0, 1, 2], [3, 4, 5])):
        direct = within_group_agreement(
            keyed[:, columns], groups, options=AgreementOptions(item_missing="listwise")
        )
        np.testing.assert_allclose(report.rwg_j[scale], direct.rwg_j, atol=1e-12)
        np.testing.assert_allclose(report.awg_j[scale], direct.awg_j, atol=1e-12)


def test_report_random_checks_are_reproducible_and_match_the_standalone_resampling() -> None:
    answers, groups = clustered_answers(6, 8, 9, 0.8)
    spec = ScaleSpec((0,) * 4, (False,) * 4, 1, 5, (4,))
    options = AggregationOptions(resampling=RandomGroupOptions(n_resamples=60, seed=5))
    first = aggregation_report(answers, spec, groups, options=options)
    second = aggregation_report(answers, spec, groups, options=options)
    np.testing.assert_array_equal(first.rwg_j_random_quantile, second.rwg_j_random_quantile)
    assert first.rwg_j_p_value.shape == (1, 8)
    assert np.isfinite(first.icc1_random_quantile).all()


def test_report_refuses_bad_options() -> None:
    answers, groups = clustered_answers(0, 3, 3, 0.0)
    spec = ScaleSpec((0,) * 4, (False,) * 4, 1, 5, (4,))
    with pytest.raises(ValueError, match="verdict_null"):
        aggregation_report(answers, spec, groups, options=AggregationOptions(verdict_null="heavy_skew"))
    with pytest.raises(ValueError, match="min_respondents"):
        AggregationOptions(min_respondents=1)
    with pytest.raises(ValueError, match="min_rwg_j"):
        AggregationOptions(min_rwg_j=1.5)
    with pytest.raises(ValueError, match="outside the scale"):
        aggregation_report(answers + 10, spec, groups)


def test_agreement_options_validate_nulls_and_range() -> None:
    with pytest.raises(ValueError, match="has 5 options but the scale has 7"):
        AgreementOptions(response_max=7, nulls=(NullDistribution.uniform(5),))
    with pytest.raises(ValueError, match="sum to 1"):
        NullDistribution("bad", (0.5, 0.6))
    with pytest.raises(ValueError, match="whole number"):
        AgreementOptions(response_max=4.5)
    with pytest.raises(ValueError, match="unique"):
        AgreementOptions(nulls=(NullDistribution.uniform(5), NullDistribution.uniform(5)))
    with pytest.raises(ValueError, match="outside the scale"):
        within_group_agreement(np.array([[0.0, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="group_size"):
        group_icc(np.ones(3), np.zeros(3, dtype=np.int64), group_size="harmonic")  # type: ignore[arg-type]
    assert AgreementOptions(response_min=1, response_max=7).null_distributions()[0].variance == pytest.approx(
        4.0
    )


# ---------------------------------------------------------------------------------------------------------------
# Per-size pseudo-groups and the F-distribution ICC(1) null


def test_pseudo_groups_follow_the_exact_null_of_a_small_pool() -> None:
    """Exact derivation: a size-k pseudo-group is a uniformly random k-subset drawn WITHOUT replacement, so on a
    10-respondent pool its s^2 distribution is the enumeration of all C(10, k) subsets (DKW bound 0.03)."""
    answers = np.array(
        [[1, 2], [2, 2], [5, 4], [3, 3], [4, 5], [1, 1], [2, 3], [5, 5], [3, 1], [4, 4]], dtype=float
    )
    groups = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 2])
    draws = 4000
    result = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=draws, seed=4))
    assert result.pseudo_group_sizes.tolist() == [3, 6]
    assert result.pseudo_group_item_variance.shape == (draws, 2)
    assert np.isnan(result.random_item_variance_quantile[2]) and np.isnan(result.item_variance_p_value[2])
    for column, size in enumerate((3, 6)):
        exact = np.array(
            [answers[list(subset)].var(axis=0, ddof=1).mean() for subset in combinations(range(10), size)]
        )
        drawn = result.pseudo_group_item_variance[:, column]
        points = np.unique(exact)
        exact_cdf = (exact[:, None] <= points[None, :] + 1e-12).mean(axis=0)
        drawn_cdf = (drawn[:, None] <= points[None, :] + 1e-12).mean(axis=0)
        assert np.abs(exact_cdf - drawn_cdf).max() < 0.03
        # The group's threshold and p-value are read off its own size's draws.
        group = 0 if size == 3 else 1
        assert result.random_item_variance_quantile[group] == pytest.approx(np.quantile(drawn, 0.05))
        observed = result.observed_item_variance[group]
        assert result.item_variance_p_value[group] == pytest.approx(
            (1 + (drawn <= observed).sum()) / (1 + draws)
        )


def test_per_size_null_matches_the_full_relabelling_null() -> None:
    """Moderate example with unequal sizes and missing answers: the per-size pseudo-group null of s^2 and the
    null from relabelling every respondent (as multilevel::mix.data, via within_group_agreement on shuffled
    labels) agree within Monte Carlo error (two-sample KS below its 0.1% critical value, same NaN rate)."""
    rng = np.random.default_rng(12)
    sizes = np.repeat([4, 7, 12], 20)
    groups = np.repeat(np.arange(sizes.size), sizes)
    shift = rng.normal(0, 0.5, sizes.size)[groups][:, None]
    answers = np.clip(np.round(3 + shift + rng.normal(0, 1.0, (groups.size, 4))), 1, 5)
    answers[rng.random(answers.shape) < 0.1] = np.nan
    result = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=3000, seed=2))
    relabelled = np.array(
        [within_group_agreement(answers, rng.permutation(groups)).mean_item_variance for _ in range(300)]
    )
    for column, size in enumerate(result.pseudo_group_sizes.tolist()):
        drawn = result.pseudo_group_item_variance[:, column]
        full = relabelled[:, sizes == size].ravel()
        assert np.isnan(drawn).mean() == pytest.approx(np.isnan(full).mean(), abs=0.01)
        drawn, full = drawn[np.isfinite(drawn)], full[np.isfinite(full)]
        critical = 1.95 * np.sqrt((drawn.size + full.size) / (drawn.size * full.size))
        assert stats.ks_2samp(drawn, full).statistic < critical, size
        for level in (0.05, 0.25, 0.5):
            # The per-size quantile cuts the relabelled draws where it cuts its own (about 3 standard errors).
            cut = np.quantile(drawn, level)
            assert (full <= cut).mean() == pytest.approx((drawn <= cut).mean(), abs=0.03)


def test_a_group_with_real_agreement_is_detected_and_noise_groups_rarely_are() -> None:
    """Uniform noise answers in 60 groups of 6-20 and one group of 10 whose members all answer 4 or 5: the
    agreeing group has the smallest possible p-value and passes the rwg(j) check; about 5% of noise groups
    pass by chance (the test's level)."""
    rng = np.random.default_rng(30)
    sizes = np.concatenate([rng.integers(6, 21, 60), [10]])
    groups = np.repeat(np.arange(sizes.size), sizes)
    answers = rng.integers(1, 6, (groups.size, 4)).astype(float)
    agreeing = groups == 60
    answers[agreeing] = rng.choice([4.0, 5.0], p=[0.85, 0.15], size=(int(agreeing.sum()), 4))
    draws = 499
    result = random_group_agreement(answers, groups, options=RandomGroupOptions(n_resamples=draws, seed=6))
    assert result.item_variance_p_value[60] == pytest.approx(1 / (1 + draws))
    assert result.observed_item_variance[60] < result.random_item_variance_quantile[60]
    detected = result.observed_item_variance[:60] < result.random_item_variance_quantile[:60]
    assert detected.mean() <= 0.12
    spec = ScaleSpec((0,) * 4, (False,) * 4, 1, 5, (4,))
    options = AggregationOptions(resampling=RandomGroupOptions(n_resamples=draws, seed=6))
    report = aggregation_report(answers, spec, groups, options=options)
    flags = report.reason_flags[0]
    assert not flags[60] & RWG_J_NOT_ABOVE_RANDOM
    assert report.rwg_j[0, 0, 60] > report.rwg_j_random_quantile[0, 60]
    assert report.rwg_j_p_value[0, 60] == pytest.approx(1 / (1 + draws))
    assert ((flags[:60] & RWG_J_NOT_ABOVE_RANDOM) == 0).mean() <= 0.12


def test_icc1_threshold_from_the_f_distribution_matches_relabelling() -> None:
    """Exact derivation: ICC(1) = (F - 1)/(F + k - 1) rises with F, so the F(G-1, N-G) percentile gives the
    ICC(1) threshold (R: f <- qf(.95, G - 1, N - G); (f - 1)/(f + k - 1)) and passing it is the ANOVA F test.
    Against 4000 full relabellings (Monte Carlo) it sits at the 95th percentile within 0.015."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(5, 16, 40)
    groups = np.repeat(np.arange(sizes.size), sizes)
    answers = np.clip(
        np.round(3 + rng.normal(0, 0.1, sizes.size)[groups][:, None] + rng.normal(0, 1, (groups.size, 4))),
        1,
        5,
    )
    spec = ScaleSpec((0,) * 4, (False,) * 4, 1, 5, (4,))
    resampling = RandomGroupOptions(n_resamples=50, seed=3, n_permutations=4000)
    by_f = aggregation_report(answers, spec, groups, options=AggregationOptions(resampling=resampling))
    icc = group_icc(answers.mean(axis=1), groups)
    f_quantile = stats.f.ppf(0.95, sizes.size - 1, groups.size - sizes.size)
    k = groups.size / sizes.size
    assert by_f.icc1_random_quantile[0] == pytest.approx((f_quantile - 1) / (f_quantile + k - 1), abs=1e-12)
    assert (by_f.icc1[0] > by_f.icc1_random_quantile[0]) == (icc.p_value[0] < 0.05)
    by_relabelling = aggregation_report(
        answers, spec, groups, options=AggregationOptions(resampling=resampling, icc1_null="permutation")
    )
    random = random_group_agreement(answers, groups, options=resampling)
    assert (random.random_icc1 <= by_f.icc1_random_quantile[0]).mean() == pytest.approx(0.95, abs=0.015)
    assert by_relabelling.icc1_random_quantile[0] == pytest.approx(by_f.icc1_random_quantile[0], abs=0.01)
    # The per-group checks do not depend on how the ICC(1) null is obtained.
    np.testing.assert_array_equal(by_f.rwg_j_random_quantile, by_relabelling.rwg_j_random_quantile)


def test_random_group_options_refuse_bad_counts_and_icc1_rules() -> None:
    with pytest.raises(ValueError, match="n_permutations"):
        RandomGroupOptions(n_permutations=0)
    with pytest.raises(ValueError, match="icc1_null"):
        AggregationOptions(icc1_null="exact")  # type: ignore[arg-type]
    assert RandomGroupOptions(n_resamples=30).permutation_count == 30
    assert RandomGroupOptions(n_resamples=30, n_permutations=7).permutation_count == 7
