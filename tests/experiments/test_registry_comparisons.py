"""Non-randomised designs in the registry: staggered adoption (Callaway & Sant'Anna) and synthetic control,
each recovering an effect injected at the adoption dates."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, update

from forewarn.experiments.analysis import analyse_experiment
from forewarn.experiments.registry import (
    ExperimentError,
    ExperimentSpec,
    create_experiment,
    start_experiment,
)
from forewarn.store.models import Observation, Organisation
from tests.experiments.conftest import CODES, START


def spec(**changes: object) -> ExperimentSpec:
    base = {
        "code": "adopters",
        "title": "Peer practice spreading",
        "hypothesis": "Adopting the peer's discharge checklist shortens waits",
        "outcome_indicator": "waits",
        "design": "staggered_did",
        "units": CODES,
        "analysis": "staggered_did",
        "minimum_effect": 0.5,
        "planned_start": START,
        "planned_end": dt.date(2024, 12, 31),
        "owner": "analyst",
    }
    return ExperimentSpec(**(base | changes))  # type: ignore[arg-type]


def add_effect(engine: Engine, adoption: dict[str, dt.date], effect: float) -> None:
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        for code, day in adoption.items():
            conn.execute(
                update(Observation)
                .where(Observation.organisation_id == ids[code], Observation.period_start >= day)
                .values(value=Observation.value + effect)
            )


def test_staggered_adoption_recovers_the_effect(world: Engine) -> None:
    adoption = dict.fromkeys(CODES[:6], START) | {c: dt.date(2024, 7, 1) for c in CODES[6:12]}
    create_experiment(world, spec(treated=list(adoption), adoption=adoption), by="tester")
    start_experiment(world, "adopters", by="tester")
    add_effect(world, adoption, -4.0)
    result = analyse_experiment(world, "adopters", by="tester").results[-1]
    body = result["result"]
    assert body["ci_low"] < -4.0 < body["ci_high"]
    assert body["ci_high"] < 0
    assert body["units"] == 24
    assert result["rating"]["design"] == 3


def test_synthetic_control_recovers_the_effect(world: Engine) -> None:
    create_experiment(
        world,
        spec(code="solo", design="synthetic_control", analysis="synthetic_control", treated=["ORG05"]),
        by="t",
    )
    start_experiment(world, "solo", by="tester")
    add_effect(world, {"ORG05": START}, -6.0)
    result = analyse_experiment(world, "solo", by="tester").results[-1]["result"]
    assert result["estimate"] == pytest.approx(-6.0, abs=2.0)
    assert result["p_value"] < 0.1  # ORG05's post/pre RMSPE ratio tops the 23 placebos


def test_designs_and_analyses_must_match(world: Engine) -> None:
    with pytest.raises(ExperimentError, match="exactly one treated"):
        create_experiment(
            world, spec(design="synthetic_control", analysis="synthetic_control", treated=CODES[:2])
        )
    with pytest.raises(ExperimentError, match="is analysed by"):
        create_experiment(world, spec(design="cluster", analysis="synthetic_control"))
    with pytest.raises(ExperimentError, match="needs the units that adopt"):
        create_experiment(world, spec())
    with pytest.raises(ExperimentError, match="come from its allocation"):
        create_experiment(world, spec(design="cluster", analysis="cluster_robust", treated=CODES[:2]))
