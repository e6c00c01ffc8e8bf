"""The logistic model's regularisation chosen by time-respecting cross-validation: the folds against a
derivation by hand, and the choice against the validation log losses written out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from forewarn.risk.backtest import add_months, month_numbers
from forewarn.risk.pipeline import C_GRID, DEFAULT_C, temporal_c, temporal_folds


def test_month_numbers_make_adding_months_an_addition() -> None:
    days = [dt.date(2019, 1, 1), dt.date(2020, 7, 1), dt.date(2023, 12, 1)]
    numbers = month_numbers(pl.Series(days))
    assert numbers.tolist() == [2019 * 12, 2020 * 12 + 6, 2023 * 12 + 11]
    assert month_numbers(pl.Series([add_months(d, 12) for d in days])).tolist() == (numbers + 12).tolist()


def test_folds_train_only_on_origins_a_horizon_before_the_validation_origin() -> None:
    """Origins every 6 months (0, 6, 12, 18, 24), horizon 12: validating at 24 trains on 0, 6, 12; at 18 on 0
    and 6; at 12 on 0; at 6 and 0 nothing is a horizon before, so no fold (and at most three are kept)."""
    origin = np.repeat([0, 6, 12, 18, 24], 2)
    folds = temporal_folds(origin, 12)
    assert [(sorted(set(origin[t])), sorted(set(origin[v]))) for t, v in folds] == [
        ([0, 6, 12], [24]),
        ([0, 6], [18]),
        ([0], [12]),
    ]
    assert len(temporal_folds(origin, 12, n_folds=2)) == 2
    assert temporal_folds(np.array([0, 0, 6]), 12) == []


def _cases(seed: int, n: int, signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    origin = np.repeat(np.arange(5) * 6, n // 5)
    x = rng.normal(size=(origin.size, 12))
    y = (rng.random(origin.size) < 1 / (1 + np.exp(3 - signal * x[:, 0]))).astype(int)
    return x, y, origin


def test_the_chosen_c_has_the_smallest_pooled_validation_log_loss() -> None:
    """The choice written out: for each C the model (imputer, scaler, L2 logistic) fitted on each fold's
    earlier origins, its log loss on the validation origin weighted by the cases there, summed over folds."""
    x, y, origin = _cases(3, 1500, 0.8)
    losses = []
    for c in C_GRID:
        total = 0.0
        for train, test in temporal_folds(origin, 12):
            model = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(C=c, max_iter=5000),
            ).fit(x[train], y[train])
            total += log_loss(y[test], model.predict_proba(x[test])[:, 1]) * test.sum()
        losses.append(total)
    assert temporal_c(x, y, origin, 12, seed=1) == C_GRID[int(np.argmin(losses))]


def test_noise_is_regularised_more_than_a_strong_signal() -> None:
    """Eleven pure-noise features beside one that matters: with few cases and a weak signal the choice is a
    strong penalty, with many cases and a strong signal a weaker one."""
    weak = temporal_c(*_cases(5, 300, 0.2), 12, seed=1)
    strong = temporal_c(*_cases(5, 20_000, 2.0), 12, seed=1)
    assert weak < strong


def test_no_usable_fold_keeps_the_default() -> None:
    x, y, origin = _cases(7, 100, 1.0)
    assert temporal_c(x, y, np.zeros_like(origin), 12, seed=1) == DEFAULT_C
    assert temporal_c(x, np.zeros_like(y), origin, 12, seed=1) == DEFAULT_C


def test_the_ensemble_is_the_mean_of_the_two_models_probabilities() -> None:
    """The ensemble's probability is exactly the mean of the logistic model's and the calibrated boosting
    model's, each fitted on its own to the same cases."""
    from forewarn.risk.boosting import one_thread
    from forewarn.risk.pipeline import model_pipeline

    x, y, _ = _cases(11, 1000, 1.5)
    with one_thread():
        ensemble = model_pipeline("ensemble", 4, 0.3).fit(x, y).predict_proba(x[:50])[:, 1]
        logistic = model_pipeline("logistic", 4, 0.3).fit(x, y).predict_proba(x[:50])[:, 1]
        boosting = model_pipeline("boosting", 4).fit(x, y).predict_proba(x[:50])[:, 1]
    np.testing.assert_allclose(ensemble, (logistic + boosting) / 2, rtol=1e-12)


def test_c_is_chosen_once_from_the_first_test_origins_training_cases() -> None:
    """The backtest's C: chosen by :func:`temporal_c` on the cases known at the first test origin, and every
    later origin's model fitted with that C (a model with the C fixed to it gives the same probabilities)."""
    from forewarn.risk.backtest import BacktestOptions, LabelledCases, held_out_predictions
    from forewarn.risk.outcomes import Outcome

    x, y, origin = _cases(13, 3000, 0.6)
    days = [add_months(dt.date(2020, 1, 1), int(m)) for m in origin]
    frame = pl.DataFrame({f"f{i}": x[:, i] for i in range(x.shape[1])}).with_columns(
        pl.Series("event", y.astype(bool)),
        pl.Series("origin", days),
        pl.Series("organisation_id", np.arange(origin.size) % 600),
    )
    cases = LabelledCases(frame, [f"f{i}" for i in range(x.shape[1])])
    tests = [add_months(dt.date(2020, 1, 1), m) for m in (18, 24)]
    first = origin <= 18 - 12
    expected = temporal_c(x[first], y[first], origin[first] + 2020 * 12, 12, seed=1)
    options = BacktestOptions(outcome=Outcome.parse("inspection:inadequate"), seed=1, c=None)
    chosen = held_out_predictions(cases, options, tests)
    fixed = held_out_predictions(cases, BacktestOptions(outcome=options.outcome, seed=1, c=expected), tests)
    np.testing.assert_array_equal(chosen["probability"].to_numpy(), fixed["probability"].to_numpy())
    # A C other than the first origin's gives other probabilities, so the comparison above can fail.
    other = next(c for c in C_GRID if c != expected)
    moved = held_out_predictions(cases, BacktestOptions(outcome=options.outcome, seed=1, c=other), tests)
    assert not np.allclose(chosen["probability"].to_numpy(), moved["probability"].to_numpy())
