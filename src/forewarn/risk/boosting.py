"""The boosting risk model as plain numbers, and its explanations by TreeSHAP (issue 11: "SHAP for boosting").

:func:`fit` fits scikit-learn's ``HistGradientBoostingClassifier`` (the backtest's settings,
:func:`forewarn.risk.pipeline.model_pipeline`) on every training case and calibrates its margin by Platt scaling
on out-of-fold margins (three shuffled stratified folds: what ``CalibratedClassifierCV(ensemble=False)`` does).
The calibrated probability is ``expit(intercept + slope * margin)``, a monotone function of the one model's
margin, so the order the probabilities give is the order of the margin that is explained. (The backtest's
``CalibratedClassifierCV`` keeps one boosting model per fold and averages their calibrated probabilities, which
no tree explanation adds up to; see :func:`explain_calibrated`.)

:class:`Trees` holds the fitted trees as arrays (children, split feature, threshold, the side missing values go,
value and training count of each node), which :mod:`forewarn.risk.store` keeps as JSON and which predict the
margin again without scikit-learn. :func:`shap_values` gives each organisation's TreeSHAP values (Lundberg et al.
2020, Algorithm 2, "tree path dependent": the expectation over the training distribution the node counts record)
from ``shap.TreeExplainer`` on the same trees; they and the expected value add up to the uncalibrated margin
exactly (local accuracy). shap (and numba, which it imports) is imported only here and only when a boosting
model is fitted or explained: processes that read stored scores never import it.

References
----------
Lundberg, S. M., Erion, G., Chen, H. et al. (2020). From local explanations to global understanding with
explainable AI for trees. Nature Machine Intelligence 2, 56-67.
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to regularized likelihood
methods. Advances in Large Margin Classifiers, 61-74.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forewarn.risk.pipeline import model_pipeline

EXPLANATION = (
    "TreeSHAP values of the gradient-boosting model: with the expected value they add up to the log-odds of the "
    "uncalibrated model (its margin); the calibrated probability is a Platt-scaled function of that margin."
)


@dataclass(frozen=True)
class Trees:
    """Fitted trees as arrays, one entry per tree (``HistGradientBoostingClassifier._predictors`` for a binary
    outcome). A row goes left at a split when its value is ``<= threshold``, or when it is missing and
    ``missing_left``; the margin is ``baseline`` plus each tree's leaf value."""

    baseline: float
    left: tuple[np.ndarray, ...]
    right: tuple[np.ndarray, ...]
    feature: tuple[np.ndarray, ...]
    threshold: tuple[np.ndarray, ...]
    missing_left: tuple[np.ndarray, ...]
    leaf: tuple[np.ndarray, ...]
    value: tuple[np.ndarray, ...]
    count: tuple[np.ndarray, ...]
    expected_value: float | None = None  # the TreeSHAP expected value (set by :func:`with_expected_value`)

    @classmethod
    def from_sklearn(cls, model: Any) -> Trees:
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("l", "r", "f", "t", "m", "leaf", "v", "c")}
        for predictors in model._predictors:
            nodes = predictors[0].nodes
            if np.any(nodes["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            parts["l"].append(np.asarray(nodes["left"], dtype=np.int64))
            parts["r"].append(np.asarray(nodes["right"], dtype=np.int64))
            parts["f"].append(np.asarray(nodes["feature_idx"], dtype=np.int64))
            parts["t"].append(np.asarray(nodes["num_threshold"], dtype=np.float64))
            parts["m"].append(np.asarray(nodes["missing_go_to_left"], dtype=bool))
            parts["leaf"].append(np.asarray(nodes["is_leaf"], dtype=bool))
            parts["v"].append(np.asarray(nodes["value"], dtype=np.float64))
            parts["c"].append(np.asarray(nodes["count"], dtype=np.float64))
        baseline = float(np.asarray(model._baseline_prediction, dtype=np.float64).ravel()[0])
        return cls(
            baseline=baseline,
            left=tuple(parts["l"]),
            right=tuple(parts["r"]),
            feature=tuple(parts["f"]),
            threshold=tuple(parts["t"]),
            missing_left=tuple(parts["m"]),
            leaf=tuple(parts["leaf"]),
            value=tuple(parts["v"]),
            count=tuple(parts["c"]),
        )

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The raw margin (log-odds of the uncalibrated model) of each row of ``x`` (NaN = missing), every row
        at once, tree by tree."""
        x = np.asarray(x, dtype=np.float64)
        rows = np.arange(x.shape[0])
        total = np.full(x.shape[0], self.baseline)
        for i in range(len(self.value)):  # a few hundred trees, each walked by every row at once
            left, right, feature = self.left[i], self.right[i], self.feature[i]
            threshold, missing_left, leaf = self.threshold[i], self.missing_left[i], self.leaf[i]
            node = np.zeros(x.shape[0], dtype=np.int64)
            active = ~leaf[node]
            while active.any():
                at = node[active]
                values = x[rows[active], feature[at]]
                go_left = np.where(np.isnan(values), missing_left[at], values <= threshold[at])
                node[active] = np.where(go_left, left[at], right[at])
                active = ~leaf[node]
            total += self.value[i][node]
        return total

    def shap_model(self) -> dict[str, Any]:
        """The trees in shap's own dictionary format for ``shap.TreeExplainer`` (as shap itself reads a
        ``HistGradientBoostingClassifier``: leaves -1 and -2, the missing side as the default child)."""
        trees = []
        for i in range(len(self.value)):
            leaf = self.leaf[i]
            left = np.where(leaf, -1, self.left[i])
            right = np.where(leaf, -1, self.right[i])
            trees.append(
                {
                    "children_left": left,
                    "children_right": right,
                    "children_default": np.where(self.missing_left[i], left, right),
                    "features": np.where(leaf, -2, self.feature[i]),
                    "thresholds": self.threshold[i],
                    "values": self.value[i][:, None],
                    "node_sample_weight": self.count[i],
                }
            )
        return {
            "trees": trees,
            "base_offset": self.baseline,
            "tree_output": "log_odds",
            "objective": "binary_crossentropy",
            "input_dtype": np.float64,
            "internal_dtype": np.float64,
        }

    def to_json(self) -> dict[str, Any]:
        """Plain lists for the store (``risk_models.trees``)."""
        return {
            "baseline": self.baseline,
            "expected_value": self.expected_value,
            "trees": [
                {
                    "left": self.left[i].tolist(),
                    "right": self.right[i].tolist(),
                    "feature": self.feature[i].tolist(),
                    "threshold": [float(t) for t in self.threshold[i]],
                    "missing_left": self.missing_left[i].tolist(),
                    "leaf": self.leaf[i].tolist(),
                    "value": [float(v) for v in self.value[i]],
                    "count": [float(c) for c in self.count[i]],
                }
                for i in range(len(self.value))
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trees:
        trees = data["trees"]

        def arrays(key: str, dtype: Any) -> tuple[np.ndarray, ...]:
            return tuple(np.asarray(t[key], dtype=dtype) for t in trees)

        expected = data.get("expected_value")
        return cls(
            baseline=float(data["baseline"]),
            left=arrays("left", np.int64),
            right=arrays("right", np.int64),
            feature=arrays("feature", np.int64),
            threshold=arrays("threshold", np.float64),
            missing_left=arrays("missing_left", bool),
            leaf=arrays("leaf", bool),
            value=arrays("value", np.float64),
            count=arrays("count", np.float64),
            expected_value=None if expected is None else float(expected),
        )


def one_thread() -> Any:
    """A context in which scikit-learn's OpenMP code (the boosting's histograms and splits) runs on one thread.

    Measured on this project's shared 2-core machine at a load average of 15 (one fit of the backtest's
    boosting on 3,000 cases x 6 features): 5.1 s of CPU and 14 s of wall with the default two OpenMP threads,
    0.16 s and 0.9 s with one. OpenMP's workers spin while they wait for each other, and on cores other
    processes hold that spinning is most of the CPU. See docs/risk.md, "SHAP for boosting"."""
    # threadpoolctl limits the libraries loaded when it is called: load scikit-learn's OpenMP runtime first (the
    # backtest and the training import scikit-learn only when they fit).
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1, user_api="openmp")


def _explainer(model: Any) -> Any:
    import shap  # only here: shap imports numba, which readers of stored scores must not pay for

    return shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")


def shap_values(trees: Trees, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Each row's TreeSHAP value of each feature (rows x features) on the margin, and the expected value:
    ``expected + values.sum(axis=1) == trees.margin(x)`` (local accuracy)."""
    explainer = _explainer(trees.shap_model())
    values = np.asarray(explainer.shap_values(np.asarray(x, dtype=np.float64), check_additivity=False))
    return values.reshape(np.asarray(x).shape[0], -1), float(np.ravel(explainer.expected_value)[0])


def with_expected_value(trees: Trees, n_features: int) -> Trees:
    """The trees with their TreeSHAP expected value (it depends only on the trees and their node counts)."""
    _, expected = shap_values(trees, np.full((1, n_features), np.nan))
    return Trees(**{**trees.__dict__, "expected_value": expected})


@dataclass(frozen=True)
class FittedBoosting:
    trees: Trees
    slope: float  # calibrated logit = intercept + slope * margin (Platt scaling)
    intercept: float
    out_of_fold: np.ndarray  # each training case's margin from the fold model that did not see it


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> FittedBoosting:
    """Gradient boosting on every case, with Platt scaling fitted on out-of-fold margins (the backtest's model
    and folds; ``CalibratedClassifierCV(ensemble=False)``'s procedure, written out so that the trees and the
    out-of-fold margins are kept)."""
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.model_selection import cross_val_predict

    calibrated = model_pipeline("boosting", seed)
    boosting, folds = calibrated.estimator, calibrated.cv
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y).astype(int)
    out_of_fold = cross_val_predict(boosting, x, y, cv=folds, method="decision_function")
    sigmoid = _SigmoidCalibration().fit(out_of_fold, y)  # P = 1 / (1 + exp(a * margin + b))
    boosting.fit(x, y)
    trees = with_expected_value(Trees.from_sklearn(boosting), x.shape[1])
    return FittedBoosting(
        trees=trees,
        slope=-float(sigmoid.a_),
        intercept=-float(sigmoid.b_),
        out_of_fold=np.asarray(out_of_fold, dtype=np.float64),
    )


def platt_refits(
    margin: np.ndarray, y: np.ndarray, organisations: np.ndarray, n_boot: int, seed: int
) -> np.ndarray:
    """Platt scaling refitted on ``n_boot`` organisation-bootstrap resamples of the out-of-fold margins: one row
    each, intercept then slope (the calibration's uncertainty only: the trees are not refitted)."""
    from sklearn.calibration import _SigmoidCalibration

    rng = np.random.default_rng(seed)
    unique = np.unique(organisations)
    where = np.searchsorted(unique, organisations)
    out = np.empty((n_boot, 2))
    for b in range(n_boot):  # a one-parameter-pair fit each
        counts = np.bincount(rng.integers(0, unique.size, unique.size), minlength=unique.size)
        sigmoid = _SigmoidCalibration().fit(margin, y, sample_weight=counts[where].astype(np.float64))
        out[b] = (-float(sigmoid.b_), -float(sigmoid.a_))
    return out


def explain_calibrated(model: Any, x: np.ndarray) -> tuple[np.ndarray, float]:
    """TreeSHAP values of a fitted ``CalibratedClassifierCV`` over boosting (the backtest's model): the mean,
    over its fold models, of each fold model's SHAP values on its own margin. SHAP values are additive over
    models, so these are the exact SHAP values of the fold models' mean margin (returned with its expected
    value); the calibrated probability the backtest reports averages each fold's Platt-scaled probability,
    which is not a function of that mean, so they explain its order only approximately."""
    values, expected = [], []
    for fold in model.calibrated_classifiers_:
        v, e = shap_values(Trees.from_sklearn(fold.estimator), x)
        values.append(v)
        expected.append(e)
    return np.mean(values, axis=0), float(np.mean(expected))


def backtest_explanations(model: Any, columns: list[str], test: Any) -> dict[str, Any]:
    """What the backtest's boosting model leaned on at its last test origin: each feature's mean absolute
    TreeSHAP value over that origin's cases (:func:`explain_calibrated`, the fold models' mean margin), largest
    first, and the largest error of local accuracy (expected value + SHAP values against the mean margin)."""
    x = test.select(columns).to_numpy().astype(np.float64)
    values, expected = explain_calibrated(model, x)
    margins = np.mean([fold.estimator.decision_function(x) for fold in model.calibrated_classifiers_], axis=0)
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    return {
        "method": "TreeSHAP (tree path dependent) on the mean margin of the calibrated model's fold models",
        "origin": str(test["origin"][0]),
        "n_cases": int(x.shape[0]),
        "expected_value": expected,
        "mean_abs_shap": {columns[i]: float(mean_abs[i]) for i in order},
        "additivity_max_error": float(np.max(np.abs(expected + values.sum(axis=1) - margins))),
    }


__all__ = [
    "EXPLANATION",
    "FittedBoosting",
    "Trees",
    "backtest_explanations",
    "explain_calibrated",
    "fit",
    "one_thread",
    "platt_refits",
    "shap_values",
    "with_expected_value",
]
