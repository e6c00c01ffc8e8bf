"""The risk model's estimators: regularised logistic regression, gradient boosting calibrated by Platt
scaling (issue 11), or the average of the two's probabilities (soft voting). One place for all, so that the
backtest, the watchlist's training and the boosting model's explanations fit the same estimator.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to regularized likelihood
methods. In Advances in Large Margin Classifiers, 61-74 (the sigmoid calibration).
Dietterich, T. G. (2000). Ensemble methods in machine learning. In Multiple Classifier Systems, LNCS 1857, 1-15
(averaging the probabilities of different models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import Pipeline

ModelKind = Literal["logistic", "boosting", "ensemble"]

# The logistic model's inverse regularisation strength when none is chosen from the data, and the grid
# :func:`temporal_c` chooses from.
DEFAULT_C = 0.1
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
# Validation origins :func:`temporal_c` uses at most (the latest ones with earlier origins to train on).
C_FOLDS = 3


def model_pipeline(
    kind: ModelKind, seed: int, c: float = DEFAULT_C
) -> Pipeline | CalibratedClassifierCV | VotingClassifier:
    """L2-regularised logistic regression on imputed, standardised features (its probabilities are calibrated
    by its own likelihood), with inverse regularisation strength ``c``; gradient boosting calibrated by Platt
    scaling on internal folds; or (``ensemble``) the mean of the two's probabilities (scikit-learn's soft
    voting): the logistic model is additive on the log-odds scale, boosting finds thresholds and interactions,
    and both are calibrated, so their mean is too, to first order."""
    # scikit-learn is imported here, not with the module: the pages and reports that read stored scores import
    # this module through the watchlist, and scikit-learn's import costs them about 1 CPU second a process.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "ensemble":
        return VotingClassifier(
            [
                ("logistic", model_pipeline("logistic", seed, c)),
                ("boosting", model_pipeline("boosting", seed)),
            ],
            voting="soft",
        )
    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=c, max_iter=5000),
        )
    boosting = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=seed
    )
    # Shuffled folds: cases come sorted by origin, and a feature first published late would be empty in a fold.
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(boosting, method="sigmoid", cv=folds)


def temporal_folds(
    origin: np.ndarray, horizon_months: int, n_folds: int = C_FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Time-respecting validation folds inside a training set: each of its latest ``n_folds`` origins ``v``
    (origins as month numbers, ``year * 12 + month - 1``) that has earlier origins at least ``horizon_months``
    before it, validated by a model trained on those earlier origins only (their outcomes were known at ``v``,
    as the backtest trains at a test origin). Boolean (train, validate) masks, latest origin first."""
    origin = np.asarray(origin, dtype=np.int64)
    folds = []
    for v in np.unique(origin)[::-1]:
        train = origin <= v - horizon_months
        if train.any():
            folds.append((train, origin == v))
        if len(folds) == n_folds:
            break
    return folds


def temporal_c(
    x: np.ndarray,
    y: np.ndarray,
    origin: np.ndarray,
    horizon_months: int,
    seed: int,
    grid: tuple[float, ...] = C_GRID,
) -> float:
    """The logistic model's ``C`` chosen by time-respecting cross-validation inside the training cases
    (:func:`temporal_folds`: only origins before each validation origin train; the test origin is never seen):
    the grid value with the smallest validation log loss pooled over the folds (a proper scoring rule: it
    rewards both the order and the calibration). :data:`DEFAULT_C` when no fold has failures on both sides."""
    from sklearn.metrics import log_loss

    y = np.asarray(y).astype(int)
    folds = [
        (train, test)
        for train, test in temporal_folds(origin, horizon_months)
        if 0 < y[train].sum() < train.sum() and test.any()
    ]
    if not folds:
        return DEFAULT_C
    losses = []
    for c in grid:  # a handful of values x at most C_FOLDS folds: small logistic fits
        total = 0.0
        for train, test in folds:
            model = model_pipeline("logistic", seed, c).fit(x[train], y[train])
            total += log_loss(y[test], model.predict_proba(x[test])[:, 1], labels=[0, 1]) * test.sum()
        losses.append(total)
    return float(grid[int(np.argmin(losses))])
