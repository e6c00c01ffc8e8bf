"""The simulator check: an experiment on simulated organisations recovers a known injected effect within its CI.

A population of 120 simulated organisations over two years (forewarn.simulate, SIMULATED data) is loaded through
the importer. An experiment randomises them with a seed, starts half-way, and a known effect is added to the
intervention arm's outcome from the start on (the simulator's own model has no experiment arm, so the truth is
injected, and everything else, trends, seasonality, shocks, inspections, comes from the simulator).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update

from forewarn.experiments.analysis import analyse_experiment
from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.registry import (
    ExperimentSpec,
    create_experiment,
    start_experiment,
)
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store.models import Indicator, Observation, Organisation


@pytest.mark.slow
@pytest.mark.parametrize("analysis", ["cluster_robust", "difference_in_means"])
def test_simulated_experiment_recovers_the_injected_effect(
    engine: Engine, tmp_path: Path, analysis: str
) -> None:
    simulate(tmp_path, SimulationParameters(n_organisations=120, n_years=2, seed=11))
    load(engine, tmp_path, imported_by="tester")
    with engine.connect() as conn:
        indicator_id, indicator = conn.execute(
            select(Indicator.id, Indicator.code).order_by(Indicator.code)
        ).first()  # type: ignore[misc]
        codes = [c for (c,) in conn.execute(select(Organisation.code).order_by(Organisation.code))]
        first, last = conn.execute(
            select(func.min(Observation.period_start), func.max(Observation.period_start)).where(
                Observation.indicator_id == indicator_id
            )
        ).one()
        values = np.array(
            [
                v
                for (v,) in conn.execute(
                    select(Observation.value).where(Observation.indicator_id == indicator_id)
                )
            ],
            dtype=float,
        )
    start = first + (last - first) / 2
    start = dt.date(start.year, start.month, 1)
    create_experiment(
        engine,
        ExperimentSpec(
            code="sim",
            title="Simulated trial",
            hypothesis="The practice moves the indicator",
            outcome_indicator=indicator,
            design="cluster",
            units=codes,
            analysis=analysis,
            minimum_effect=0.3,
            planned_start=start,
            planned_end=last,
            owner="tester",
        ),
        by="tester",
    )
    info = allocate_experiment(engine, "sim", seed=15, by="tester")
    start_experiment(engine, "sim", by="tester")
    effect = 0.5 * float(np.nanstd(values))  # half an SD of the indicator: the known truth
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        treated = [ids[c] for c, a in info.units.items() if a == "intervention"]
        conn.execute(
            update(Observation)
            .where(
                Observation.indicator_id == indicator_id,
                Observation.organisation_id.in_(treated),
                Observation.period_start >= start,
            )
            .values(value=Observation.value + effect)
        )
    result = analyse_experiment(engine, "sim", by="tester").results[-1]
    low, high = result["result"]["ci_low"], result["result"]["ci_high"]
    assert low < effect < high
    assert low > 0  # and it is found
