"""The watchlist's reasons are the logistic model's exact contributions, and its intervals come from refits."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from forewarn.risk.backtest import BacktestOptions, model_pipeline
from forewarn.risk.history import StoreHistory
from forewarn.risk.outcomes import Outcome
from forewarn.risk.watchlist import FittedModel, _from_pipeline, logistic_contributions, train, watchlist


def test_contributions_and_intercept_sum_to_the_logit() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = rng.random(500) < 1 / (1 + np.exp(-np.nan_to_num(x[:, 0])))
    model = model_pipeline("logistic", 1)
    model.fit(x, y)
    logistic: LogisticRegression = model[2]
    logit = logistic_contributions(model, x).sum(axis=1) + logistic.intercept_[0]
    p = model.predict_proba(x)[:, 1]
    assert logit == pytest.approx(np.log(p / (1 - p)), rel=1e-9, abs=1e-9)


def test_watchlist_lists_risk_with_intervals_and_reasons(history: StoreHistory) -> None:
    options = BacktestOptions(outcome=Outcome.parse("inspection:inadequate"), new_only=True, step_months=3)
    result = watchlist(history, options, dt.date(2023, 7, 1), n_boot=10)
    rows = result.rows
    assert rows.height > 100
    probability = rows["probability"].to_numpy()
    assert np.all((probability >= 0) & (probability <= 1))
    assert np.all(np.diff(probability) <= 0)  # riskiest first
    inside = (rows["lower"].to_numpy() <= probability) & (probability <= rows["upper"].to_numpy())
    assert inside.mean() > 0.8
    assert all(len(r) <= 3 for r in rows["reasons"].to_list())
    assert any(r for r in rows["reasons"].head(10).to_list())


def test_a_fitted_model_as_plain_numbers_predicts_as_the_pipeline_does() -> None:
    """The stored form (medians, indicators, means, scales, coefficients) reproduces scikit-learn's pipeline:
    the same probabilities and contributions, with all-missing and partly missing columns."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 5))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 3] = np.nan  # a column with no values at all (kept as zeros by the imputer)
    y = rng.random(400) < 1 / (1 + np.exp(-np.nan_to_num(x[:, 0]) - 1))
    pipeline = model_pipeline("logistic", 1)
    pipeline.fit(x, y)
    import datetime as dt_

    fitted = FittedModel(
        outcome="inspection:inadequate",
        new_only=True,
        horizon_months=12,
        step_months=3,
        trained_as_of=dt_.date(2024, 1, 1),
        features=tuple("abcde"),
        refits=np.empty((0, 0)),
        training_origins=(),
        n_cases=400,
        n_events=int(y.sum()),
        **_from_pipeline(pipeline, 5),
    )
    fresh = rng.normal(size=(50, 5))
    fresh[rng.random(fresh.shape) < 0.3] = np.nan
    assert fitted.probability(fresh) == pytest.approx(pipeline.predict_proba(fresh)[:, 1], rel=1e-12)
    assert fitted.contributions(fresh) == pytest.approx(
        logistic_contributions(pipeline, fresh), rel=1e-9, abs=1e-12
    )


def test_train_keeps_refits_that_bracket_the_model(history: StoreHistory) -> None:
    options = BacktestOptions(outcome=Outcome.parse("inspection:inadequate"), new_only=True, step_months=6)
    fitted = train(history, options, dt.date(2023, 7, 1), n_boot=8)
    assert fitted.refits.shape == (8, 1 + fitted.coefficients.size)
    assert fitted.training_origins[-1] <= dt.date(2022, 7, 1)  # outcomes known by the date
    assert fitted.n_events >= 2 and fitted.calibration["training_deciles"]["n"]
