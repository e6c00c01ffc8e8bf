"""The registry: register, design, allocate with a seed, start (locks), deviations, analyse with a rating."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from statsmodels.stats.power import TTestIndPower

from forewarn.experiments.analysis import analyse_experiment, reading
from forewarn.experiments.catalogue import list_experiments
from forewarn.experiments.design import allocate_experiment, design_experiment
from forewarn.experiments.registry import (
    ExperimentError,
    ExperimentSpec,
    create_experiment,
    edit_experiment,
    get_experiment,
    registration_checksum,
    start_experiment,
)
from forewarn.stats.experiments.allocation import allocate
from tests.experiments.conftest import CODES, START, inject


def spec(**changes: object) -> ExperimentSpec:
    base = {
        "code": "huddles",
        "title": "Daily safety huddles",
        "hypothesis": "Daily safety huddles shorten waits",
        "outcome_indicator": "waits",
        "design": "individual",
        "units": CODES,
        "analysis": "cluster_robust",
        "minimum_effect": 0.5,
        "planned_start": START,
        "planned_end": dt.date(2024, 12, 31),
        "owner": "analyst@example.org",
        "adapted_practice": "Huddles as run by a peer trust",
        "strata_by": "region",
    }
    return ExperimentSpec(**(base | changes))  # type: ignore[arg-type]


def test_register_design_allocate_start(world: Engine) -> None:
    info = create_experiment(world, spec(), by="tester")
    assert (
        info.status == "draft" and len(info.units) == 24 and set(info.strata.values()) == {"north", "south"}
    )
    info = design_experiment(world, "huddles", by="tester")
    assert info.design_calculation is not None
    # Individually randomised organisations, 12 an arm, d = 0.5: statsmodels' t-test power.
    assert info.design_calculation["power"] == pytest.approx(
        TTestIndPower().power(effect_size=0.5, nobs1=12, alpha=0.05), rel=1e-12
    )
    info = allocate_experiment(world, "huddles", seed=2026, by="tester")
    expected = allocate(CODES, seed=2026, strata={c: ("north", "south")[i % 2] for i, c in enumerate(CODES)})
    assert info.units == expected.arm_of()
    assert info.allocation is not None and info.allocation["checksum"] == expected.to_dict()["checksum"]
    info = start_experiment(world, "huddles", by="tester")
    assert info.status == "started"
    assert info.registration_checksum == registration_checksum(info)
    assert [e["kind"] for e in info.events] == ["created", "design", "allocated", "started"]


def test_locked_after_start_changes_are_deviations(world: Engine) -> None:
    create_experiment(world, spec(), by="tester")
    edit_experiment(world, "huddles", {"title": "Huddles"}, by="tester")  # a draft: a plain edit
    allocate_experiment(world, "huddles", seed=1, by="tester")
    start_experiment(world, "huddles", by="tester")
    with pytest.raises(ExperimentError, match="needs a reason"):
        edit_experiment(world, "huddles", {"minimum_effect": 0.3}, by="tester")
    with pytest.raises(ExperimentError, match="allocation is fixed"):
        allocate_experiment(world, "huddles", seed=2, by="tester")
    info = edit_experiment(world, "huddles", {"minimum_effect": 0.3}, by="tester", reason="funder asked")
    deviation = info.events[-1]
    assert deviation["kind"] == "deviation" and deviation["old"] == 0.5 and deviation["new"] == 0.3
    assert deviation["reason"] == "funder asked"
    assert info.events[1]["kind"] == "edited"
    # The stored checksum still says what was registered at the start.
    assert info.registration_checksum != registration_checksum(info)


def test_refusals(world: Engine) -> None:
    with pytest.raises(ExperimentError, match="design must be"):
        create_experiment(world, spec(design="hunch"))
    with pytest.raises(ExperimentError, match="unknown indicator"):
        create_experiment(world, spec(outcome_indicator="nope"))
    with pytest.raises(ExperimentError, match="unknown organisation"):
        create_experiment(world, spec(units=["ORG00", "XYZ"]))
    create_experiment(world, spec())
    with pytest.raises(ExperimentError, match="exists already"):
        create_experiment(world, spec())
    with pytest.raises(ExperimentError, match="allocate the units first"):
        start_experiment(world, "huddles")
    with pytest.raises(ExperimentError, match="start the experiment"):
        analyse_experiment(world, "huddles")


@pytest.mark.parametrize("analysis", ["cluster_robust", "difference_in_means"])
def test_analysis_recovers_an_injected_effect(world: Engine, analysis: str) -> None:
    create_experiment(world, spec(analysis=analysis), by="tester")
    info = allocate_experiment(world, "huddles", seed=7, by="tester")
    start_experiment(world, "huddles", by="tester")
    inject(world, {c: a for c, a in info.units.items() if a}, effect=-4.0)
    info = analyse_experiment(world, "huddles", by="tester")
    result = info.results[-1]
    assert result["pre_registered"] is True
    low, high = result["result"]["ci_low"], result["result"]["ci_high"]
    assert low < -4.0 < high
    assert high < 0  # clearly detected
    assert result["result"]["reading"] == "improvement"  # waits: lower is better
    assert 0 <= result["padlocks"] <= 5 and result["rating"]["attrition_share"] == 0
    other = analyse_experiment(world, "huddles", method="its", by="tester").results[-1]
    assert other["pre_registered"] is False


def test_member_listing_is_limited_to_their_organisations(world: Engine) -> None:
    create_experiment(world, spec(), by="tester")
    create_experiment(world, spec(code="other", units=CODES[:4]), by="tester")
    from sqlalchemy import select

    from forewarn.store.models import Organisation

    with world.connect() as conn:
        org = conn.execute(select(Organisation.id).where(Organisation.code == CODES[10])).scalar_one()
    assert [e["code"] for e in list_experiments(world, organisation_ids=[org])] == ["huddles"]
    assert [e["code"] for e in list_experiments(world)] == ["huddles", "other"]
    assert get_experiment(world, "other").units.keys() == set(CODES[:4])


def test_cluster_design_takes_its_icc_from_the_store(world: Engine) -> None:
    """Without --icc, the design uses ICC(1) of the outcome within organisations before the start (the world's
    levels have SD 5 and monthly noise SD 2: a true ICC of 25/29 = 0.862)."""
    import numpy as np
    from sqlalchemy import select

    from forewarn.stats.psychometrics.group_icc import group_icc
    from forewarn.store.models import Observation

    create_experiment(world, spec(design="cluster"), by="tester")
    info = design_experiment(world, "huddles", cluster_size=12, by="tester")
    calc = info.design_calculation
    assert calc is not None and str(calc["icc_source"]).startswith("store")
    with world.connect() as conn:
        rows = conn.execute(
            select(Observation.organisation_id, Observation.value).where(Observation.period_start < START)
        ).all()
    groups = np.unique([r[0] for r in rows], return_inverse=True)[1]
    expected = group_icc(np.array([r[1] for r in rows]), groups, group_size="n0").icc1[0]
    assert calc["icc"] == pytest.approx(expected)
    assert calc["icc"] == pytest.approx(25 / 29, abs=0.1)
    assert calc["design_effect"] == pytest.approx(1 + 11 * expected)


@pytest.mark.parametrize(
    ("body", "polarity", "expected"),
    [
        ({"estimate": -2.0, "ci_low": -3.0, "ci_high": -1.0}, "lower_is_better", "improvement"),
        ({"estimate": -2.0, "ci_low": -3.0, "ci_high": -1.0}, "higher_is_better", "worsening"),
        ({"estimate": -2.0, "ci_low": -3.0, "ci_high": 0.5}, "higher_is_better", "no clear change"),
        ({"estimate": 2.0, "ci_low": 1.0, "ci_high": 3.0}, "neutral", "change"),
        (
            {"estimate": 2.0, "ci_low": None, "ci_high": None, "p_value": 0.03},
            "higher_is_better",
            "improvement",
        ),
        (
            {"estimate": 2.0, "ci_low": None, "ci_high": None, "p_value": 0.2},
            "higher_is_better",
            "no clear change",
        ),
    ],
)
def test_reading_follows_the_indicators_polarity(
    body: dict[str, object], polarity: str, expected: str
) -> None:
    assert reading(body, polarity) == expected
