"""Results into the practice library, the adapted practice's document, and the stepped-wedge analysis through the
registry (issue 15)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import Engine, select, update

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.experiments.analysis import analyse_experiment, crossover_dates
from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.publish import publish_result
from forewarn.experiments.registry import (
    ExperimentError,
    create_experiment,
    edit_experiment,
    get_experiment,
    start_experiment,
)
from forewarn.library.documents import DocumentInput, create_document, get_document
from forewarn.library.search import search
from forewarn.stats.experiments.stepped_wedge import hussey_hughes
from forewarn.store.models import Observation, Organisation
from forewarn.views.library import library_document
from tests.experiments.conftest import CODES, START
from tests.experiments.test_registry import spec


def _started(engine: Engine, **changes: object) -> None:
    create_experiment(engine, spec(**changes), by="tester")
    allocate_experiment(engine, "huddles", seed=5, by="tester")
    start_experiment(engine, "huddles", by="tester")


def test_a_result_is_published_to_the_library_and_found_by_search(world: Engine) -> None:
    _started(world, owner_organisation="ORG00")
    analyse_experiment(world, "huddles", by="tester")
    with world.begin() as conn:
        with pytest.raises(ExperimentError, match="no result 999"):
            publish_result(conn, "huddles", "tester", result_id=999)
        document_id = publish_result(conn, "huddles", "tester")
        with pytest.raises(ExperimentError, match="published already"):
            publish_result(conn, "huddles", "tester")
    info = get_experiment(world, "huddles")
    result = info.results[-1]
    assert result["library_document_id"] == document_id
    assert info.events[-1]["kind"] == "published"
    assert info.events[-1]["new"] == {"result": result["id"], "library_document": document_id}
    with world.connect() as conn:
        doc = get_document(conn, document_id)
        assert (
            doc is not None
            and doc.kind == "experiment"
            and doc.title == "Experiment result: Daily safety huddles"
        )
        assert doc.organisation_code == "ORG00"
        assert sorted(code for _, code, _ in doc.organisations) == sorted(CODES)
        assert doc.indicators == [("waits", "Waiting time")]
        estimate = result["result"]["estimate"]
        assert f"{estimate:.3f}" in doc.body
        assert f"{result['padlocks']} of 5 padlocks" in doc.body
        assert result["rating"]["reasons"][0] in doc.body
        assert "/experiments/huddles" in doc.body
        assert not any(code in doc.body for code in CODES)  # organisations only as links, shown by visibility
        hits = search(conn, "huddles padlocks")
        assert [h.id for h in hits] == [document_id]
        assert [h.id for h in search(conn, "waiting time")] == [document_id]  # through its indicator


def test_a_result_for_its_organisation_only_needs_an_owner(world: Engine) -> None:
    _started(world)
    analyse_experiment(world, "huddles", by="tester")
    with world.begin() as conn, pytest.raises(ExperimentError) as refused:
        publish_result(conn, "huddles", "tester", audience="organisation")
    assert "audience" in refused.value.fields
    with world.begin() as conn:
        document_id = publish_result(conn, "huddles", "tester", audience="everyone")
        member_elsewhere = Visibility(all_organisations=False, own=None)
        assert library_document(conn, member_elsewhere, document_id) is not None


def test_nothing_to_publish_before_an_analysis(world: Engine) -> None:
    _started(world)
    with world.begin() as conn, pytest.raises(ExperimentError, match="analyse the experiment"):
        publish_result(conn, "huddles", "tester")


def test_the_adapted_practice_links_to_a_library_document(world: Engine) -> None:
    with world.begin() as conn:
        note = create_document(conn, DocumentInput(title="Huddles at a peer", body="Ten minutes daily."), "t")
    with pytest.raises(ExperimentError) as refused:
        create_experiment(world, spec(practice_document_id=note + 100), by="tester")
    assert refused.value.fields == {"practice_document_id": f"there is no library document {note + 100}"}
    info = create_experiment(world, spec(practice_document_id=note), by="tester")
    assert info.practice_document_id == note
    with world.connect() as conn:
        assert library_document(conn, ALL_ORGANISATIONS, note) is not None
    info = edit_experiment(world, "huddles", {"practice_document_id": None}, by="tester")
    assert info.practice_document_id is None and info.events[-1]["field"] == "practice_document_id"


def test_registration_problems_name_their_fields(world: Engine) -> None:
    with pytest.raises(ExperimentError) as refused:
        create_experiment(
            world,
            spec(hypothesis=" ", minimum_effect=0, units=["ORG00"], planned_end=START, title=""),
            by="tester",
        )
    assert set(refused.value.fields) == {"hypothesis", "minimum_effect", "units", "planned_end", "title"}
    with pytest.raises(ExperimentError) as refused:
        create_experiment(world, spec(units=["ORG00", "NOPE"]), by="tester")
    assert refused.value.fields == {"units": "unknown organisation code(s): NOPE"}


def test_crossover_dates_split_the_planned_period_into_equal_steps() -> None:
    dates = crossover_dates(["step 2", "step 1", "step 3", None], dt.date(2024, 1, 1), dt.date(2024, 7, 1))
    # 182 days in three steps of 60 days 16 hours, whole days kept: step 2 on day 60 (1 March, 2024 is a leap
    # year), step 3 on day 121 (1 May).
    assert dates == {
        "step 1": dt.date(2024, 1, 1),
        "step 2": dt.date(2024, 3, 1),
        "step 3": dt.date(2024, 5, 1),
    }
    assert crossover_dates(["control", "intervention"], dt.date(2024, 1, 1), dt.date(2024, 7, 1)) == {}


def test_a_stepped_wedge_is_analysed_with_period_effects_and_recovers_the_effect(world: Engine) -> None:
    effect = 4.0
    create_experiment(
        world,
        spec(design="stepped_wedge", analysis="hussey_hughes", planned_end=dt.date(2024, 12, 1)),
        by="tester",
    )
    with pytest.raises(ExperimentError, match="allocated to steps"):
        allocate_experiment(world, "huddles", seed=8, by="tester")
    info = allocate_experiment(world, "huddles", seed=8, steps=4, by="tester")
    assert sorted(set(info.units.values())) == ["step 1", "step 2", "step 3", "step 4"]
    start_experiment(world, "huddles", by="tester")
    crossover = crossover_dates(info.units.values(), START, dt.date(2024, 12, 1))
    # The truth: a secular trend of 0.5 a month for everyone, and the effect from each unit's crossover on.
    with world.begin() as conn:
        ids = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        rows = conn.execute(
            select(Observation.id, Observation.organisation_id, Observation.period_start)
        ).all()
        code_of = {v: k for k, v in ids.items()}
        for obs_id, org, period in rows:
            months = (period.year - 2023) * 12 + period.month - 1
            treated = period >= crossover[str(info.units[code_of[org]])]
            conn.execute(
                update(Observation)
                .where(Observation.id == obs_id)
                .values(value=Observation.value + 0.5 * months + (effect if treated else 0.0))
            )
    info = analyse_experiment(world, "huddles", by="tester")
    result = info.results[-1]
    assert result["method"] == "hussey_hughes" and result["pre_registered"]
    r = result["result"]
    assert r["ci_low"] < effect < r["ci_high"] and r["ci_low"] > 0
    assert r["n_clusters"] == 24 and r["n_periods"] == 24
    assert r["crossover"]["step 1"] == START.isoformat()
    # The registry's numbers are the statistics module's on the same data.
    with world.connect() as conn:
        data = conn.execute(
            select(Organisation.code, Observation.period_start, Observation.value).join(
                Organisation, Organisation.id == Observation.organisation_id
            )
        ).all()
    codes = np.array([d[0] for d in data])
    periods = np.array([d[1] for d in data])
    treated = np.array([d[1] >= crossover[str(info.units[d[0]])] for d in data], dtype=float)
    direct = hussey_hughes(np.array([d[2] for d in data]), codes, periods, treated)
    assert r["estimate"] == pytest.approx(direct.estimate, rel=1e-6)
    assert r["std_error"] == pytest.approx(direct.std_error, rel=1e-5)
    assert result["rating"]["baseline_difference"] is None and result["padlocks"] >= 0
