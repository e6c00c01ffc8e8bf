"""The watchlist's reasons: only contributions that push the risk up with a value on the side of concern (the
domain's polarity), in plain words with sensible precision; checked against contributions derived by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from forewarn.domain import Polarity
from forewarn.risk import reasons as reasons_module
from forewarn.risk.features import horizon_features
from forewarn.risk.history import StoreHistory
from forewarn.risk.reasons import Meaning, feature_label, meaning, reasons, rounded, sentence, shown
from forewarn.risk.watchlist import FittedModel, _from_pipeline


def _model(features: tuple[str, ...], **numbers: object) -> FittedModel:
    return FittedModel(
        outcome="inspection:inadequate",
        new_only=True,
        horizon_months=12,
        step_months=6,
        trained_as_of=dt.date(2024, 1, 1),
        features=features,
        refits=np.empty((0, 0)),
        training_origins=(),
        n_cases=20,
        n_events=4,
        **{"indicator_features": (), **numbers},  # type: ignore[arg-type]
    )


def test_a_fitted_logistic_model_gives_the_reasons_derived_by_hand() -> None:
    """Twenty cases in four cells whose event rates follow an additive logit exactly: odds 1/3 at (0, 0), times
    3 in special measures, divided by 3 with an intervention. The unpenalised fit reproduces the rates, so the
    coefficients on the raw scale are ln 3 and -ln 3 and each contribution is coefficient x (value - mean),
    with means 6/20 and 14/20.

    Not in special measures, no intervention: the intervention's contribution is -ln 3 x (0 - 0.7) > 0 (no
    intervention "raises" the risk in this model), but no intervention is not a concern: no reason. In special
    measures: +ln 3 x 0.7, a reason."""
    cells = {(0, 0): (4, 1), (1, 0): (2, 1), (0, 1): (10, 1), (1, 1): (4, 1)}  # (cases, events)
    rows, events = [], []
    for (special, intervention), (n, k) in cells.items():
        rows += [[special, intervention]] * n
        events += [1] * k + [0] * (n - k)
    x, y = np.asarray(rows, dtype=np.float64), np.asarray(events)
    pipeline = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000),
    )
    pipeline.fit(x, y)
    model = _model(("in_special_measures", "interventions_2y"), **_from_pipeline(pipeline, 2))
    grid = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    by_hand = np.array([[math.log(3) * (a - 0.3), -math.log(3) * (b - 0.7)] for a, b in grid])
    assert model.contributions(grid) == pytest.approx(by_hand, abs=1e-6)
    rates = [k / n for n, k in cells.values()]
    assert model.probability(grid) == pytest.approx(rates, abs=1e-6)
    assert model.centre == pytest.approx([0.3, 0.7])
    found = reasons(model.features, grid, model.contributions(grid), model.centre)
    assert found == [[], ["in special measures"], [], ["in special measures"]]


def test_good_values_that_raise_the_risk_are_not_reasons() -> None:
    """A hand-set model: contribution = coefficient x (value - mean) / scale, each derived below."""
    features = (
        "funnel_z_worst",  # concern-signed: high is the concern; negative coefficient
        "soft_mean",  # a low capacity to learn is the concern; negative coefficient
        "spc_concern",
        "last_grade",
        "months_since_inspection",  # neutral
        "funnel_z_mean",
        "a_feature_nobody_described",
    )
    model = _model(
        features,
        medians=np.zeros(7),
        means=np.array([1.0, 0.0, 1.0, 1.0, 20.0, -1.0, 0.0]),
        scales=np.array([1.0, 1.0, 1.0, 1.0, 10.0, 1.0, 1.0]),
        coefficients=np.array([-0.5, -1.0, 0.4, 0.7, 0.3, 0.5, 2.0]),
        intercept=-2.0,
    )
    raw = np.array(
        [
            # funnel z -0.04: +0.52 but good; soft -1.23: +1.23; 3 SPC: +0.8; requires improvement: +0.7;
            # 35 months: +0.45; mean funnel z -0.04: +0.48 but shows as 0.0; unknown: +10.
            [-0.04, -1.23, 3.0, 2.0, 35.0, -0.04, 5.0],
            # Every value on the good side (the unknown feature aside): no reason stands out.
            [3.0, 0.5, 0.0, 0.0, 10.0, -2.0, 1.0],
            # Mean funnel z 0.06 shows as 0.1: +0.53, a reason; outstanding: -0.7; good: no reason either way.
            [1.0, 0.0, 1.0, 0.0, 20.0, 0.06, 0.0],
        ]
    )
    contributions = model.contributions(raw)
    assert contributions[0] == pytest.approx([0.52, 1.23, 0.8, 0.7, 0.45, 0.48, 10.0])
    assert contributions[2, 5] == pytest.approx(0.53)
    assert reasons(features, raw, contributions, model.centre) == [
        [
            "staff report a lower capacity to learn than elsewhere (z -1.2)",
            "3 SPC special cause(s) of concern at the latest point",
            "last inspection: requires improvement",
        ],
        [],
        ["its indicators sit on the side of concern on average (mean funnel z 0.1)"],
    ]
    assert reasons(features, raw[:1], contributions[:1], model.centre, top=10) == [
        [
            "staff report a lower capacity to learn than elsewhere (z -1.2)",
            "3 SPC special cause(s) of concern at the latest point",
            "last inspection: requires improvement",
            "35 months since the last inspection",  # neutral: stated as it is
        ]
    ]


def test_a_missing_value_or_a_falling_contribution_is_never_a_reason() -> None:
    features = ("spc_concern", "soft_change")
    raw = np.array([[np.nan, -0.5], [4.0, -0.5]])
    contributions = np.array([[1.0, -0.2], [-0.1, 0.0]])
    assert reasons(features, raw, contributions, np.array([1.0, 0.0])) == [[], []]


def test_values_are_shown_with_sensible_precision_and_never_as_minus_zero() -> None:
    assert shown(-0.04, "z") == "0.0"
    assert rounded(np.array([-0.04, -0.06]), "z").tolist() == [0.0, -0.1]
    assert str(rounded(np.array([-0.04]), "z")[0]) == "0.0"
    assert shown(2.345, "z") == "2.3"
    assert shown(2.6, "count") == "3"
    assert shown(0.254, "share") == "25%"
    assert shown(3.0, "grade") == "inadequate"
    assert shown(4381.2, "number") == "4,381"
    assert shown(0.0347, "number") == "0.035"
    assert shown(12.3, "number") == "12"


def test_a_feature_with_metadata_gets_a_sentence_without_code_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new feature needs only its meaning (label, polarity, unit): the sentence and the rule follow."""
    meanings = {
        **reasons_module.MEANINGS,
        "four_hour_share": Meaning("patients seen within 4 hours", Polarity.HIGHER_IS_BETTER, "share"),
        "complaints": Meaning("complaints this year", Polarity.LOWER_IS_BETTER, "count", 0.0),
        "beds": Meaning("beds", Polarity.NEUTRAL, "number"),
    }
    monkeypatch.setattr(reasons_module, "MEANINGS", meanings)
    assert sentence("four_hour_share", 0.823) == "patients seen within 4 hours: 82%, lower than average"
    assert sentence("complaints", 12.0) == "complaints this year: 12, more than average"
    assert sentence("beds", 812.0) == "beds: 812"
    assert feature_label("missing: complaints") == "no data: complaints this year"
    raw = np.array([[0.95, 0.0, 812.0], [0.80, 3.0, 812.0]])
    centre = np.array([0.9, 1.0, 500.0])
    contributions = np.ones((2, 3))
    assert reasons(("four_hour_share", "complaints", "beds"), raw, contributions, centre) == [
        ["beds: 812"],
        [
            "patients seen within 4 hours: 80%, lower than average",
            "complaints this year: 3, more than average",
            "beds: 812",
        ],
    ]


def test_families_name_their_features_from_the_data() -> None:
    assert sentence("context_type_acute_trust", 1.0) == "type: acute trust"
    assert feature_label("context_deprivation") == "deprivation"
    known = meaning("context_deprivation")
    assert known is not None and known.polarity is Polarity.NEUTRAL
    assert meaning("a_feature_nobody_described") is None
    # A type's indicator is a reason only when set.
    ok = reasons_module.concerning(["context_type_school"], np.array([[0.0], [1.0]]), np.array([0.5]))
    assert ok[:, 0].tolist() == [False, True]


def test_every_feature_the_model_reads_has_a_meaning(history: StoreHistory) -> None:
    """So that every feature can be a reason in plain words, or be left out for being on the good side."""
    features = horizon_features(history, dt.date(2023, 1, 1), 12).feature_columns  # inspection_due too
    assert len(features) > 15
    assert [f for f in features if meaning(f) is None] == []
