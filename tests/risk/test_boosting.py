"""SHAP for the boosting risk model (issue 11): TreeSHAP values that add up to the uncalibrated margin for every
organisation, checked against Shapley values derived by hand on a tiny tree, the stored trees predicting exactly
as scikit-learn's, and readers of stored scores not importing shap."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from forewarn.risk import boosting
from forewarn.risk.backtest import BacktestOptions, model_pipeline
from forewarn.risk.boosting import Trees
from forewarn.risk.history import StoreHistory
from forewarn.risk.outcomes import Outcome
from forewarn.risk.store import _content
from forewarn.risk.watchlist import score, train


def _tiny_tree() -> Trees:
    """One tree, counts of 10 training cases, baseline 0:

    node 0: x0 <= 0.5 (missing goes right), 10 cases -> node 1 (leaf, value 1, 4 cases) | node 2
    node 2: x1 <= 0.5 (missing goes left), 6 cases -> node 3 (leaf, value 2, 2 cases) | node 4 (leaf, 4, 4 cases)
    """

    def a(values: list[float], dtype: type = np.float64) -> tuple[np.ndarray, ...]:
        return (np.asarray(values, dtype=dtype),)

    return Trees(
        baseline=0.0,
        left=a([1, 0, 3, 0, 0], np.int64),
        right=a([2, 0, 4, 0, 0], np.int64),
        feature=a([0, 0, 1, 0, 0], np.int64),
        threshold=a([0.5, 0, 0.5, 0, 0]),
        missing_left=a([0, 0, 1, 0, 0], bool),
        leaf=a([0, 1, 0, 1, 1], bool),
        value=a([0, 1, 0, 2, 4]),
        count=a([10, 4, 6, 2, 4]),
    )


def test_shapley_values_of_a_tiny_tree_match_a_derivation_by_hand() -> None:
    """Path-dependent TreeSHAP (Lundberg et al. 2020): v(S) = E[f(x) | x_S], where a split on a feature outside
    S averages its children by their training counts. Two features, so phi_0 = 1/2 [(v({0}) - v({})) +
    (v({0,1}) - v({1}))] and phi_1 likewise.

    v({}) = 0.4 * 1 + 0.6 * (2/6 * 2 + 4/6 * 4) = 0.4 + 0.6 * 10/3 = 2.4 for every row.
    x = (1, 1): v({0}) = 10/3 (right at the root, x1 averaged), v({1}) = 0.4 * 1 + 0.6 * 4 = 2.8, v({0,1}) = 4;
        phi_0 = 1/2 [(10/3 - 2.4) + (4 - 2.8)] = 16/15, phi_1 = 1/2 [(2.8 - 2.4) + (4 - 10/3)] = 8/15.
    x = (0, 1): v({0}) = 1, v({1}) = 2.8, v({0,1}) = 1;
        phi_0 = 1/2 [(1 - 2.4) + (1 - 2.8)] = -1.6, phi_1 = 1/2 [(2.8 - 2.4) + (1 - 1)] = 0.2.
    x = (missing, 0): the missing x0 goes right, x1 = 0 left: v({0}) = 10/3, v({1}) = 0.4 * 1 + 0.6 * 2 = 1.6,
        v({0,1}) = 2; phi_0 = 1/2 [(10/3 - 2.4) + (2 - 1.6)] = 2/3, phi_1 = 1/2 [(1.6 - 2.4) + (2 - 10/3)] = -16/15.
    """
    trees = _tiny_tree()
    x = np.array([[1.0, 1.0], [0.0, 1.0], [np.nan, 0.0]])
    values, expected = boosting.shap_values(trees, x)
    assert expected == pytest.approx(2.4, abs=1e-12)
    assert values == pytest.approx(np.array([[16 / 15, 8 / 15], [-1.6, 0.2], [2 / 3, -16 / 15]]), abs=1e-12)
    assert trees.margin(x) == pytest.approx([4.0, 1.0, 2.0], abs=0)
    assert expected + values.sum(axis=1) == pytest.approx(trees.margin(x), abs=1e-12)


def _boosting_data(seed: int = 1, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 4] = np.where(rng.random(n) < 0.5, np.nan, x[:, 4])
    signal = np.nan_to_num(x[:, 0]) + 0.7 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    return x, (signal + rng.normal(size=n) > 1.5).astype(int)


def test_stored_trees_predict_and_explain_as_scikit_learn_and_shap_do() -> None:
    """The trees as plain numbers (and through JSON) give scikit-learn's own margin to the bit, and the same
    SHAP values as shap's reader of the fitted classifier itself."""
    import shap

    x, y = _boosting_data()
    model: HistGradientBoostingClassifier = model_pipeline("boosting", 3).estimator
    model.fit(x, y)
    trees = Trees.from_json(json.loads(json.dumps(Trees.from_sklearn(model).to_json())))
    assert np.array_equal(trees.margin(x), model.decision_function(x))
    values, expected = boosting.shap_values(trees, x)
    direct = shap.TreeExplainer(model)
    assert values == pytest.approx(np.asarray(direct.shap_values(x)), abs=1e-12)
    assert expected == pytest.approx(float(np.ravel(direct.expected_value)[0]), abs=1e-12)


def test_fit_calibrates_the_explained_margin_by_platt_scaling() -> None:
    """The calibrated probability is expit(intercept + slope x margin) of the one model whose margin is
    explained, and the Platt fit is that of scikit-learn's CalibratedClassifierCV(ensemble=False) with the same
    folds (its trees are fitted on every case, its sigmoid on out-of-fold margins)."""
    x, y = _boosting_data(seed=4)
    fitted = boosting.fit(x, y, 5)
    reference = model_pipeline("boosting", 5).set_params(ensemble=False).fit(x, y)
    probability = 1 / (1 + np.exp(-(fitted.intercept + fitted.slope * fitted.trees.margin(x))))
    assert probability == pytest.approx(reference.predict_proba(x)[:, 1], abs=1e-9)
    assert fitted.slope > 0  # a larger margin is a larger risk


def test_boosting_watchlist_contributions_add_up_to_the_margin(history: StoreHistory) -> None:
    """Trained and scored through the watchlist: for every organisation the stored contributions (TreeSHAP
    values) and the expected value add up to the uncalibrated model's margin, whose Platt-scaled value is the
    probability."""
    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"), new_only=True, step_months=6, model="boosting"
    )
    model = train(history, options, dt.date(2023, 7, 1), n_boot=5)
    assert model.kind == "boosting" and model.trees is not None and model.refits.shape == (5, 2)
    result = score(history, model, dt.date(2023, 7, 1))
    rows = result.organisations()
    assert len(rows) > 100 and result.features == model.features
    contributions = np.array([[r["contributions"][f] for f in model.features] for r in rows])
    margin = model.base_value + contributions.sum(axis=1)
    probability = np.array([r["probability"] for r in rows])
    logit = np.log(probability / (1 - probability))
    assert model.intercept + model.coefficients[0] * margin == pytest.approx(logit, abs=1e-6)
    assert model.base_value == model.calibration["shap_expected_value"]
    lower, upper = np.array([r["lower"] for r in rows]), np.array([r["upper"] for r in rows])
    assert np.all((lower <= probability) & (probability <= upper))
    # The stored form carries the trees; a logistic model's stored content (and so its version) has none.
    assert "trees" in _content(model, "d", "c")
    logistic_options = BacktestOptions(outcome=options.outcome, new_only=True, step_months=6)
    logistic = train(history, logistic_options, dt.date(2023, 7, 1), n_boot=2)
    assert logistic.trees is None and "trees" not in _content(logistic, "d", "c")


def test_readers_of_stored_scores_do_not_import_shap_or_numba() -> None:
    code = (
        "import sys\n"
        "import forewarn.web.app, forewarn.views.risk, forewarn.views.portfolio, forewarn.risk.store\n"
        "import forewarn.risk.watchlist\n"
        "print(sorted(m for m in ('shap', 'numba') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_boosting_backtest_reports_what_its_model_leaned_on(history: StoreHistory) -> None:
    """The backtest's hook: at the last test origin, each feature's mean |SHAP| over the fold models' mean
    margin, which the expected value and the SHAP values add up to for every case."""
    from forewarn.risk.backtest import run_backtest

    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"),
        new_only=True,
        step_months=6,
        model="boosting",
        n_boot=20,
    )
    with boosting.one_thread():
        result = run_backtest(history, options)
    explained = result["explanations"]
    assert explained["origin"] == result["test_origins"][-1]
    assert explained["additivity_max_error"] < 1e-6
    shares = list(explained["mean_abs_shap"].values())
    assert shares == sorted(shares, reverse=True) and shares[0] > 0
    assert "signal_count" in explained["mean_abs_shap"]


def test_one_thread_reaches_scikit_learns_openmp_in_a_fresh_process() -> None:
    """threadpoolctl limits only the libraries loaded when it is called; the backtest imports scikit-learn later,
    so ``one_thread`` loads scikit-learn's OpenMP runtime first (without that, two threads ran here)."""
    code = (
        "from forewarn.risk.boosting import one_thread\n"
        "with one_thread():\n"
        "    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads\n"
        "    print(_openmp_effective_n_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
