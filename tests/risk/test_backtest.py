"""The risk model's data are point-in-time, its outcomes are what the mapping says, and its backtest runs end to
end on a simulated region (figures reported in docs/risk.md; asserted here only where a derivation fixes them)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forewarn.risk.backtest import BacktestOptions, add_months, run_backtest, soft_sentence
from forewarn.risk.features import horizon_features
from forewarn.risk.history import StoreHistory
from forewarn.risk.metrics import calibration_by_decile
from forewarn.risk.outcomes import Outcome, failing_at, failures


def test_outcomes_parse_and_refuse_nonsense() -> None:
    assert Outcome.parse("inspection:inadequate") == Outcome(kind="inspection", grades=("inadequate",))
    assert Outcome.parse("special_measures_start").grades == ()
    below = Outcome.parse("below:ae_4h_type1:0.95:3")
    assert (below.indicator, below.standard, below.periods) == ("ae_4h_type1", 0.95, 3)
    with pytest.raises(ValueError, match="unknown grade"):
        Outcome.parse("inspection:awful")
    with pytest.raises(ValueError, match="below:INDICATOR:STANDARD:PERIODS"):
        Outcome.parse("below:ae:0.95")


def test_a_derived_outcome_is_dated_at_the_end_of_its_nth_period_below() -> None:
    months = [dt.date(2020, m, 1) for m in range(1, 9)]
    values = [0.96, 0.94, 0.93, 0.92, 0.97, 0.90, 0.91, 0.94]  # a run of 3 from March, then of 3 from June
    observations = pl.DataFrame(
        {
            "organisation_id": [1] * 8,
            "indicator_id": [5] * 8,
            "period_start": months,
            "value": values,
            "known_on": [add_months(m, 2) for m in months],
        }
    )
    indicators = pl.DataFrame({"indicator_id": [5], "code": ["ae"]})
    history = StoreHistory(
        observations, indicators, pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), pl.DataFrame()
    )
    found = failures(history, Outcome.parse("below:ae:0.95:3"))
    assert found["date"].to_list() == [add_months(dt.date(2020, 4, 1), 2), add_months(dt.date(2020, 8, 1), 2)]


def test_no_feature_at_an_origin_uses_anything_published_after_it(history: StoreHistory) -> None:
    """Features at an origin from the whole history equal those from a history cut at the origin, and differ
    when later data are changed: nothing after the origin can reach them."""
    origin = dt.date(2021, 7, 1)
    whole = horizon_features(history, origin, 12).frame
    # The horizon's features are covered too: the chance of an inspection within it is there and known.
    assert whole["inspection_due"].drop_nulls().drop_nans().len() > 0
    known = history.as_of(origin)
    assert known.observations["known_on"].max() <= origin  # type: ignore[operator]
    assert known.events["known_on"].max() <= origin  # type: ignore[operator]
    # Everything published after the origin replaced by nonsense: the features must not move.
    later = pl.col("known_on") > origin
    scrambled = StoreHistory(
        history.observations.with_columns(
            pl.when(later).then(pl.col(c) * 7 + 3).otherwise(pl.col(c)).alias(c)
            for c in ("numerator", "value", "expected")
        ),
        history.indicators,
        history.events.with_columns(
            pl.when(later).then(pl.lit("inadequate")).otherwise(pl.col("grade")).alias("grade")
        ),
        history.organisations,
        history.attributes,
        history.soft.with_columns(
            pl.when(later).then(pl.col("mean") + 1).otherwise(pl.col("mean")).alias("mean")
        ),
    )
    again = horizon_features(scrambled, origin, 12).frame
    assert_frame_equal(whole, again, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    # And the check can fail: a change before the origin, to one organisation's figures, moves them (a change
    # to everyone's alike would not: the features are relative to the other organisations).
    one = history.organisations["organisation_id"][0]
    changed = ~later & (pl.col("organisation_id") == one)
    earlier = StoreHistory(
        history.observations.with_columns(
            pl.when(changed).then(pl.col(c) * 0.5).otherwise(pl.col(c)).alias(c)
            for c in ("value", "numerator")
        ),
        *(history.indicators, history.events, history.organisations, history.attributes, history.soft),
    )
    moved = horizon_features(earlier, origin, 12).frame
    with pytest.raises(AssertionError):
        assert_frame_equal(whole, moved, check_exact=False, rel_tol=1e-6, abs_tol=1e-9)


def test_failing_organisations_are_left_out_of_new_failures(history: StoreHistory) -> None:
    outcome = Outcome.parse("inspection:inadequate")
    origin = dt.date(2022, 1, 1)
    failing = set(failing_at(history, outcome, origin)["organisation_id"].to_list())
    inspections = history.as_of(origin).events.filter(pl.col("kind") == "inspection").sort("date")
    last = inspections.group_by("organisation_id").agg(pl.col("grade").last())
    assert set(last.filter(pl.col("grade") == "inadequate")["organisation_id"].to_list()) <= failing


@pytest.mark.slow
def test_backtest_beats_the_signal_count_and_is_calibrated(history: StoreHistory) -> None:
    """The figures a regulator reads, with every baseline beside them. Asserted: the keys, the point-in-time
    split, that the model beats today's signal count (the portfolio's order), and calibration by decile on
    held-out origins within a few points."""
    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"),
        new_only=True,
        horizon_months=12,
        step_months=3,
        n_boot=50,
    )
    result = run_backtest(history, options)
    for key in (
        "auc",
        "auc_ci",
        "brier",
        "brier_skill",
        "recall_at_10",
        "recall_at_20",
        "precision_at_10",
        "lead_time",
        "median_lead_months",
        "n_cases",
        "n_events",
        "baselines",
        "soft_measures",
        "calibration",
    ):
        assert key in result
    assert result["auc"] > result["baselines"]["signal_count"]["auc"]
    assert result["auc_ci"][0] < result["auc"] < result["auc_ci"][1]
    assert result["soft_measures_sentence"] == soft_sentence(result["soft_measures"])


def test_calibration_of_held_out_predictions(history: StoreHistory) -> None:
    """Predicted against observed by decile on the held-out origins: the mean absolute gap is a few points."""
    from forewarn.risk.backtest import default_origins, held_out_predictions, labelled_cases
    from forewarn.risk.backtest import failures as found_failures

    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"), horizon_months=12, step_months=3
    )
    origins, tests = default_origins(history, options)
    cases = labelled_cases(history, options, origins, found_failures(history, options.outcome))
    scored = held_out_predictions(cases, options, tests)
    curve = calibration_by_decile(scored["probability"].to_numpy(), scored["event"].to_numpy())
    gap = np.abs(np.array(curve["predicted"]) - np.array(curve["observed"]))
    assert gap.mean() < 0.06


def test_the_backtest_fits_and_predicts_on_one_blas_thread(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every model of the backtest is fitted and scores its test cases with BLAS limited to one thread (the
    logistic fits' OpenBLAS threads spun while waiting, half their CPU on a busy machine), and the limit is
    lifted after; the probabilities are those of the model fitted alone on one thread, to the bit."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    from forewarn.risk import backtest
    from forewarn.risk.latent import one_blas_thread

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen: list[set[int]] = []
    fitted: list[tuple[object, np.ndarray, np.ndarray]] = []
    real = backtest.model_pipeline

    class Recorded:
        def __init__(self, model: object) -> None:
            self.model = model

        def fit(self, x: np.ndarray, y: np.ndarray) -> Recorded:
            seen.append(blas_threads())
            fitted.append((self.model, x, y))
            self.model.fit(x, y)  # type: ignore[attr-defined]
            return self

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            seen.append(blas_threads())
            return self.model.predict_proba(x)  # type: ignore[attr-defined,no-any-return]

    before = blas_threads()
    monkeypatch.setattr(backtest, "model_pipeline", lambda *a: Recorded(real(*a)))
    options = BacktestOptions(
        outcome=Outcome.parse("inspection:inadequate"), horizon_months=12, step_months=6
    )
    origins, tests = backtest.default_origins(history, options)
    cases = backtest.labelled_cases(history, options, origins, failures(history, options.outcome))
    scored = backtest.held_out_predictions(cases, options, tests)
    assert fitted and seen and all(threads == {1} for threads in seen)
    assert blas_threads() == before  # the limit is lifted after the fits
    _, x, y = fitted[-1]
    with one_blas_thread():
        alone = real(options.model, options.seed, options.c or 0.1).fit(x, y)
    last = scored.filter(pl.col("origin") == scored["origin"].max())
    columns = [c for c in cases.features if c in cases.frame.columns]
    needed = max(20, x.shape[0] // 20)
    train = cases.frame.filter(pl.col("origin") <= add_months(last["origin"][0], -options.horizon_months))
    used = [c for c in columns if train[c].drop_nulls().drop_nans().len() >= needed]
    expected = alone.predict_proba(last.select(used).to_numpy())[:, 1]
    np.testing.assert_array_equal(last["probability"].to_numpy(), expected)
