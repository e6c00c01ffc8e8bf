"""Case files in the store (SQLite, and PostgreSQL with FOREWARN_TEST_DATABASE=postgresql): open with evidence
pulled in and dated, milestones, exit criteria evaluated against the store, notes, interventions as events (with a
rebase recorded with who and why), close; every change audited; the case's effect and follow-up measured."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from forewarn.cases import interventions, outcomes, reading, service
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store.models import Event, Indicator, Observation, Organisation
from forewarn.store.models_surveillance import SpcBaseline
from forewarn.store.models_web import AuditEntry


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_cases")
    simulate(out, SimulationParameters(n_organisations=60, n_years=3, seed=8))
    return out


@pytest.fixture
def store(engine: Engine, simulated: Path) -> Engine:
    load(engine, simulated, imported_by="tests")
    return engine


def test_a_case_from_opening_to_closing(store: Engine) -> None:
    actor = "analyst@test.forewarn"
    with store.begin() as conn:
        case_id = service.open_case(
            conn,
            "SIM00007",
            support="development",
            owner="A. Analyst",
            concern="Falling timely care and a poor inspection",
            actor=actor,
        )
        with pytest.raises(service.CaseError, match="already has an open case"):
            service.open_case(conn, "SIM00007", support="watch", owner="x", concern="y", actor=actor)
        with pytest.raises(service.CaseError, match="no organisation"):
            service.open_case(conn, "NOPE", support="watch", owner="x", concern="y", actor=actor)
        with pytest.raises(service.CaseError, match="support must be"):
            service.update_case(conn, case_id, actor=actor, support="punish")
        milestone = service.add_milestone(
            conn, case_id, title="Action plan agreed", due=dt.date(2020, 9, 1), actor=actor
        )
        service.complete_milestone(conn, milestone, done_on=dt.date(2020, 8, 20), actor=actor)
        service.add_exit_criterion(
            conn,
            case_id,
            indicator_code="sim_timely_care",
            comparison="at_least",
            threshold=0.5,
            months=3,
            actor=actor,
        )
        service.add_exit_criterion(
            conn,
            case_id,
            indicator_code="sim_incident_rate",
            comparison="at_most",
            threshold=-1.0,
            months=2,
            actor=actor,
        )
        changes = service.update_case(
            conn, case_id, actor=actor, owner="B. Analyst", concern="Falling timely care"
        )
        assert set(changes) == {"owner", "concern"}
        service.add_note(conn, case_id, body="Met the board.", actor=actor)
        service.add_note(conn, case_id, body="Our plan is on track.", kind="progress", actor="member@sim")
        first = interventions.start_intervention(
            conn,
            case_id,
            start=dt.date(2020, 6, 15),
            indicators=["sim_timely_care", "sim_followup_on_time"],
            rebase_reason="the support changes how the service runs",
            actor=actor,
        )
        with pytest.raises(service.CaseError, match="has not ended"):
            interventions.start_intervention(
                conn, case_id, start=dt.date(2020, 7, 1), indicators=[], actor=actor
            )
        with pytest.raises(service.CaseError, match="must be after"):
            interventions.end_intervention(conn, case_id, end=dt.date(2020, 1, 1), actor=actor)
        assert interventions.end_intervention(conn, case_id, end=dt.date(2021, 3, 1), actor=actor) == first

    with store.connect() as conn:
        case = reading.get_case(conn, case_id)
        org = conn.execute(select(Organisation.id).where(Organisation.code == "SIM00007")).scalar_one()
        # Evidence pulled in and dated: context attributes (staff, deprivation) and the latest inspections.
        kinds = {e["kind"] for e in case.evidence}
        assert {"context", "inspection"} <= kinds
        assert all(e["as_of"] is not None and e["pulled_by"] == actor for e in case.evidence)
        assert case.owner == "B. Analyst" and case.withdrawal_date == dt.date(2021, 3, 1)
        assert case.milestones[0]["done_on"] == dt.date(2020, 8, 20)
        assert [n["kind"] for n in case.notes] == ["note", "progress"]
        # Exit criteria against the store: the mean of the latest values, computed here from the observations.
        timely = (
            conn.execute(
                select(Observation.value)
                .join(Indicator, Indicator.id == Observation.indicator_id)
                .where(Observation.organisation_id == org, Indicator.code == "sim_timely_care")
                .order_by(Observation.period_start.desc())
                .limit(3)
            )
            .scalars()
            .all()
        )
        first_criterion, second = case.exit_criteria
        assert first_criterion.value == pytest.approx(sum(timely) / 3)
        assert first_criterion.met is (first_criterion.value >= 0.5)
        assert second.met is False  # a rate is never negative
        # Interventions are events, created from the case; the rebase is recorded with who and why.
        events = conn.execute(
            select(Event.kind, Event.date, Event.detail, Event.batch_id)
            .where(
                Event.organisation_id == org,
                Event.kind.in_(["intervention_start", "intervention_end"]),
                Event.detail.like(f"%(case {case_id})"),
            )
            .order_by(Event.date)
        ).all()
        assert [(k, d) for k, d, _, _ in events] == [
            ("intervention_start", dt.date(2020, 6, 15)),
            ("intervention_end", dt.date(2021, 3, 1)),
        ]
        assert all(batch is None for *_, batch in events)
        rebases = conn.execute(
            select(SpcBaseline.rebase_from, SpcBaseline.created_by, SpcBaseline.reason).where(
                SpcBaseline.organisation_id == org
            )
        ).all()
        assert len(rebases) == 2 and all(r[0] == dt.date(2020, 6, 1) and r[1] == actor for r in rebases)
        assert "the support changes how the service runs" in rebases[0][2]
        (summary,) = reading.list_cases(conn, organisation_ids=[org])
        assert summary.status == "open" and summary.support == "development"
        assert reading.list_cases(conn, organisation_ids=[org + 1]) == []

        outcome = outcomes.case_outcome(conn, case_id)
        (effect,) = outcome.effects
        assert effect.reason is None and effect.n_comparison == 5
        assert effect.did == pytest.approx(effect.naive - effect.comparison_change)
        (fu,) = outcome.follow_ups
        assert fu.status in ("relapse", "holding") and fu.months_followed == 9
        (watched,) = outcomes.follow_up_watch(conn)
        assert (watched.case_id, watched.withdrawal, watched.status) == (
            case_id,
            dt.date(2021, 3, 1),
            fu.status,
        )
        assert len(outcomes.follow_up_watch(conn, relapses_only=True)) == int(fu.status == "relapse")

    with store.begin() as conn:
        service.close_case(conn, case_id, note="Exit criteria met", actor=actor)
        with pytest.raises(service.CaseError, match="closed"):
            service.add_note(conn, case_id, body="late", actor=actor)
    with store.connect() as conn:
        closed = reading.get_case(conn, case_id)
        assert closed.status == "closed" and closed.closed_by == actor
        audited = conn.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id))
        ).scalar_one()
        # create, pull, milestone x2, criteria x2, update, notes x2, start, end, close
        assert audited == 12
        with pytest.raises(service.CaseNotFound):
            reading.get_case(conn, 98765)


def test_an_imported_event_on_the_same_day_is_the_cases_event(store: Engine) -> None:
    with store.begin() as conn:
        org, date = conn.execute(
            select(Event.organisation_id, Event.date).where(Event.kind == "intervention_start").limit(1)
        ).one()
        code = conn.execute(select(Organisation.code).where(Organisation.id == org)).scalar_one()
        case_id = service.open_case(
            conn, code, support="enforcement", owner="o", concern="c", actor="a", pull=False
        )
        interventions.start_intervention(conn, case_id, start=date, indicators=["sim_timely_care"], actor="a")
        count = conn.execute(
            select(func.count())
            .select_from(Event)
            .where(Event.organisation_id == org, Event.date == date, Event.kind == "intervention_start")
        ).scalar_one()
        assert count == 1
        assert reading.get_case(conn, case_id).interventions[0]["rebased"] is False
