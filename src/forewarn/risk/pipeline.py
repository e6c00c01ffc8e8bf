"""The risk model's estimators: regularised logistic regression, or gradient boosting calibrated by Platt
scaling (issue 11). One place for both, so that the backtest, the watchlist's training and the boosting model's
explanations fit the same estimator.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to regularized likelihood
methods. In Advances in Large Margin Classifiers, 61-74 (the sigmoid calibration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

ModelKind = Literal["logistic", "boosting"]


def model_pipeline(kind: ModelKind, seed: int) -> Pipeline | CalibratedClassifierCV:
    """L2-regularised logistic regression on imputed, standardised features (its probabilities are calibrated
    by its own likelihood), or gradient boosting calibrated by Platt scaling on internal folds."""
    # scikit-learn is imported here, not with the module: the pages and reports that read stored scores import
    # this module through the watchlist, and scikit-learn's import costs them about 1 CPU second a process.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=0.1, max_iter=5000),
        )
    boosting = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=seed
    )
    # Shuffled folds: cases come sorted by origin, and a feature first published late would be empty in a fold.
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(boosting, method="sigmoid", cv=folds)
