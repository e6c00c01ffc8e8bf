"""Backtest figures against exact derivations written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

from forewarn.risk.metrics import (
    Cases,
    auc,
    bootstrap_intervals,
    calibration_by_decile,
    paired_auc_difference,
    point_metrics,
    top_share,
)


def _cases(seed: int = 0, n_orgs: int = 300, n_origins: int = 4) -> Cases:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n_orgs)
    organisation = np.repeat(np.arange(n_orgs), n_origins)
    origin = np.tile(np.arange(n_origins), n_orgs)
    latent = risk[organisation] + rng.normal(size=organisation.size)
    probability = 1 / (1 + np.exp(-(latent - 2.5)))
    event = rng.random(organisation.size) < probability
    return Cases.of(organisation, origin, probability, event)


def test_auc_is_the_mann_whitney_statistic() -> None:
    """Hanley & McNeil (1982): AUC = U / (n_events x n_non_events)."""
    cases = _cases()
    u = stats.mannwhitneyu(cases.score[cases.event], cases.score[~cases.event]).statistic
    expected = u / (cases.event.sum() * (~cases.event).sum())
    assert point_metrics(cases)["auc"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_auc_and_brier_match_scikit_learn_with_and_without_ties(decimals: int | None) -> None:
    """The bootstrap's own AUC and Brier score (no per-call validation) against scikit-learn's, the reference:
    rounded scores make many ties, as the signal count and the last grade do."""
    rng = np.random.default_rng(5)
    for n in (2, 3, 40, 2_000):
        event = rng.random(n) < 0.2
        event[:2] = [True, False]
        score = rng.random(n) if decimals is None else np.round(rng.random(n), decimals)
        assert auc(event, score) == pytest.approx(roc_auc_score(event, score), rel=1e-14)
        cases = Cases.of(np.arange(n), np.zeros(n), score, event)
        assert point_metrics(cases)["brier"] == pytest.approx(brier_score_loss(event, score), rel=1e-14)
    assert np.isnan(auc(np.array([True, True]), np.array([0.1, 0.2])))


def test_brier_and_its_skill() -> None:
    cases = _cases(1)
    figures = point_metrics(cases)
    brier = np.mean((cases.score - cases.event) ** 2)
    base = cases.event.mean()
    assert figures["brier"] == pytest.approx(brier, rel=1e-12)
    assert figures["brier_skill"] == pytest.approx(1 - brier / (base * (1 - base)), rel=1e-12)


def test_recall_and_precision_count_the_riskiest_share_of_each_origin() -> None:
    cases = _cases(2)
    figures = point_metrics(cases)
    caught, chosen = 0, 0
    for o in np.unique(cases.origin):
        rows = np.flatnonzero(cases.origin == o)
        k = int(np.ceil(0.1 * rows.size))
        top = rows[np.argsort(-cases.score[rows], kind="stable")[:k]]
        caught += int(cases.event[top].sum())
        chosen += k
    assert figures["recall_at_10"] == pytest.approx(caught / cases.event.sum())
    assert figures["precision_at_10"] == pytest.approx(caught / chosen)
    assert top_share(cases.score, cases.origin, 0.1).sum() == chosen


def test_organisation_bootstrap_covers_the_estimate_and_paired_difference_of_a_model_with_itself() -> None:
    cases = _cases(3)
    intervals = bootstrap_intervals(cases, n_boot=200)
    auc = point_metrics(cases)["auc"]
    low, high = intervals["auc"]
    assert low < auc < high and high - low < 0.2
    delta, (d_low, d_high) = paired_auc_difference(cases, cases, n_boot=100)
    assert delta == 0.0 and d_low == 0.0 and d_high == 0.0


def test_calibration_of_calibrated_probabilities() -> None:
    """Events drawn with the stated probabilities: each decile's observed rate is near its mean prediction."""
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 0.6, 200_000)
    curve = calibration_by_decile(p, rng.random(p.size) < p)
    assert np.allclose(curve["predicted"], curve["observed"], atol=0.01)


@pytest.mark.parametrize("decimals", [None, 1])
def test_each_bootstrap_replicate_equals_the_figures_of_its_resample(decimals: int | None) -> None:
    """The bootstrap's weighted counts (no sort of each resample) against :func:`point_metrics` of the resample
    itself, the reference (itself checked against scikit-learn and the Mann-Whitney statistic above): equal to
    the bit, with ties (rounded scores, as the signal count has), several origins of different sizes, an
    organisation with two cases at one origin, and replicates without an event."""
    from forewarn.risk.metrics import _Clusters, _Replicates

    rng = np.random.default_rng(11)
    n = 400
    organisation = rng.integers(0, 120, n)
    origin = rng.choice([3, 7, 9, 20], n, p=[0.1, 0.2, 0.3, 0.4])
    score = rng.random(n) if decimals is None else np.round(rng.random(n), decimals)
    event = rng.random(n) < 0.15
    for cases in (
        Cases.of(organisation, origin, score, event),
        Cases.of(organisation[:30], origin[:30], score[:30], event[:30] & False),
    ):
        clusters, replicates = _Clusters.of(cases.organisation), _Replicates.of(cases)
        for _ in range(200):
            weight, rows = clusters.draw(rng)
            expected = point_metrics(cases.take(rows), probability=True)
            got = replicates.metrics(weight, rows, probability=True)
            assert list(got) == list(expected)
            for name, value in expected.items():
                assert got[name] == value or (np.isnan(value) and np.isnan(got[name])), name
            assert np.array_equal(np.bincount(rows, minlength=cases.score.size), weight)


def test_paired_difference_equals_the_auc_of_each_resample() -> None:
    """The paired interval from weighted counts against the AUCs of each resample computed directly."""
    from forewarn.risk.metrics import _Clusters

    first, second = _cases(6), _cases(7)
    second = Cases.of(first.organisation, first.origin, np.round(second.score, 1), first.event)
    delta, interval = paired_auc_difference(first, second, n_boot=150, seed=3)
    rng = np.random.default_rng(3)
    clusters = _Clusters.of(first.organisation)
    draws = []
    for _ in range(150):
        _, rows = clusters.draw(rng)
        draws.append(auc(first.event[rows], first.score[rows]) - auc(first.event[rows], second.score[rows]))
    assert delta == auc(first.event, first.score) - auc(first.event, second.score)
    assert interval == (float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975)))
