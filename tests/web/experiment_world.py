"""Experiments for the authorisation matrix's rows of issue 15's write endpoints: a fresh one for each request, so
each role acts on an experiment at the stage the action needs, owned as the row says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select

from tests.web.world import World

UNITS = {
    "OWN": ["OWN1", "PEER1", "HIDE1", "SIM1"],  # the member's organisation's own experiment, with every other
    "REGULATOR": ["OWN1", "PEER1", "HIDE1", "SIM1"],  # the regulator's, with the member's organisation in it
    "HIDDEN": ["HIDE1", "SIM1"],  # the regulator's, without the member's organisation
}
STAGES = ("draft", "allocated", "started", "analysed")


def experiment_in(owner: str, stage: str) -> Callable[[World, Engine], dict[str, Any]]:
    """A new cluster-randomised experiment on 'perf' owned by ``owner`` (OWN: the member's organisation; REGULATOR
    and HIDDEN: nobody's) brought to ``stage``; its code is numbered from the store, so the same on every run."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        from forewarn.experiments.analysis import analyse_experiment
        from forewarn.experiments.design import allocate_experiment
        from forewarn.experiments.registry import ExperimentSpec, create_experiment, start_experiment
        from forewarn.store.models_experiments import Experiment

        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(Experiment)).scalar_one()
        code = f"mx-{owner.lower()}-{n + 1}"
        create_experiment(
            engine,
            ExperimentSpec(
                code=code,
                title="Matrix huddles",
                hypothesis="Huddles improve performance",
                outcome_indicator="perf",
                design="cluster",
                units=UNITS[owner],
                analysis="its",
                minimum_effect=0.5,
                planned_start=dt.date(2021, 1, 1),
                planned_end=dt.date(2021, 12, 31),
                owner="Quality team",
                owner_organisation="OWN1" if owner == "OWN" else None,
            ),
            by="tests",
        )
        if STAGES.index(stage) >= 1:
            allocate_experiment(engine, code, seed=3, by="tests")
        if STAGES.index(stage) >= 2:
            start_experiment(engine, code, by="tests")
        if STAGES.index(stage) >= 3:
            analyse_experiment(engine, code, by="tests")
        return {"code": code}

    return setup
