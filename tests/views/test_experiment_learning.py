"""An experiment's page names what it feeds into the risk model's learning-activity features (issue 15 item 5):
the rows ``forewarn.risk.activity`` counts for it, each with its feature and the day it counts from, only for organisations the viewer may open, and whether the latest fitted model uses it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert, select

from forewarn.access.policy import Visibility
from forewarn.experiments.analysis import analyse_experiment
from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.registry import ExperimentSpec, create_experiment, start_experiment
from forewarn.risk.activity import FEATURES, learning_activity
from forewarn.risk.reasons import MEANINGS
from forewarn.store.models import Organisation
from forewarn.store.models_risk import RiskModel
from forewarn.views.experiments import experiment
from tests.experiments.conftest import CODES, START, build_world


def _run(engine: Engine) -> dict[str, int]:
    build_world(engine)
    units = CODES[:8]
    create_experiment(
        engine,
        ExperimentSpec(
            code="huddles",
            title="Huddles",
            hypothesis="Huddles shorten waits",
            outcome_indicator="waits",
            design="cluster",
            units=units,
            analysis="difference_in_means",
            minimum_effect=0.5,
            planned_start=START,
            planned_end=dt.date(2024, 12, 1),
            owner="ORG00's quality lead",
            owner_organisation="ORG00",
        ),
        by="tester",
    )
    allocate_experiment(engine, "huddles", seed=3, by="tester")
    start_experiment(engine, "huddles", by="tester")
    analyse_experiment(engine, "huddles", by="tester")
    with engine.connect() as conn:
        return {str(c): int(i) for c, i in conn.execute(select(Organisation.code, Organisation.id))}


def test_staff_see_every_act_the_risk_model_counts_for_the_experiment(engine: Engine) -> None:
    ids = _run(engine)
    with engine.connect() as conn:
        shown = experiment(conn, Visibility(all_organisations=True), "huddles")
        # the reference: the risk model's own reading of the whole store
        counted = learning_activity(conn)
    assert shown is not None
    expected = sorted(
        (code, FEATURES[kind], known_on)
        for organisation_id, kind, known_on in counted.rows()
        for code in [c for c, i in ids.items() if i == organisation_id]
    )
    assert sorted((a.organisation, a.feature, a.known_on) for a in shown.learning_activity) == expected
    # owner: registered, started, analysed; the seven other units: started
    assert len(expected) == 10
    assert {a.feature for a in shown.learning_activity if a.organisation == "ORG00"} == {
        FEATURES["experiment_registered"],
        FEATURES["experiment_started"],
        FEATURES["experiment_analysed"],
    }
    for a in shown.learning_activity:
        assert a.label == MEANINGS[a.feature].label
        assert a.url == f"/organisations/{ids[a.organisation]}#watchlist-why"
        assert not a.in_current_model  # no risk model fitted yet


def test_a_member_sees_only_their_own_organisation_s_acts(engine: Engine) -> None:
    ids = _run(engine)
    with engine.connect() as conn:
        shown = experiment(conn, Visibility(all_organisations=False, own=ids["ORG01"]), "huddles")
    assert shown is not None
    assert [(a.organisation, a.feature) for a in shown.learning_activity] == [
        ("ORG01", FEATURES["experiment_started"])
    ]


def test_in_the_current_model_follows_the_latest_fitted_model_s_columns(engine: Engine) -> None:
    _run(engine)
    columns = ["funnel_z_worst", FEATURES["experiment_started"]]
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(RiskModel).values(
                version="v1",
                kind="logistic",
                outcome="failure",
                new_only=False,
                horizon_months=12,
                step_months=3,
                trained_as_of=now.date(),
                trained_at=now,
                trained_by="tester",
                features=columns,
                medians=[0.0, 0.0],
                indicator_features=[],
                means=[0.0, 0.0],
                scales=[1.0, 1.0],
                coefficients=[0.1, 0.1],
                intercept=0.0,
                refits=[],
                calibration={},
                training_origins=[],
                n_cases=10,
                n_events=1,
                datasets=None,
                data_version="d",
                code_version="c",
            )
        )
        shown = experiment(conn, Visibility(all_organisations=True), "huddles")
    assert shown is not None
    used = {a.feature for a in shown.learning_activity if a.in_current_model}
    assert used == {FEATURES["experiment_started"]}
