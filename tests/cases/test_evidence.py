"""A case pulls in, dated, the organisation's latest stored risk score and the soft measures of its latest closed
survey wave as its page shows them (small groups suppressed: named, no number), beside the signals, inspections
and context it pulled before (forewarn.cases.evidence)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from forewarn.cases import service
from forewarn.store.models_cases import CaseEvidence
from forewarn.views.soft import case_soft_measures, soft_measures
from tests.web.risk_world import SCORES, store_risk_scores
from tests.web.world import World


def _evidence(engine: Engine, case_id: int, kind: str) -> list[CaseEvidence]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(CaseEvidence).where(CaseEvidence.case_id == case_id, CaseEvidence.kind == kind)
            ).all()
        )


def test_opening_a_case_pulls_in_its_risk_score_and_soft_measures(engine: Engine, world: World) -> None:
    store_risk_scores(world, engine)
    with engine.begin() as conn:
        case_id = service.open_case(
            conn,
            "OWN1",
            support="development",
            owner="Dana",
            concern="Four-hour waits falling",
            actor="tests",
            soft_measures_of=case_soft_measures(min_group_size=5),
        )
    with engine.connect() as conn:
        page = soft_measures(conn, "OWN1", min_group_size=5)
    (risk,) = _evidence(engine, case_id, "risk")
    probability, low, high, reasons = SCORES["OWN"]
    assert risk.as_of == dt.date(2024, 1, 1) and risk.source == "risk model 0123456789abcdef"
    assert (
        risk.label == "Risk: inspection graded inadequate within 12 months"
    )  # the model's outcome, as /risk names it
    assert risk.value.startswith(f"{probability:.1%} (90% interval {low:.1%} to {high:.1%})")
    assert all(reason in risk.value for reason in reasons)
    soft = _evidence(engine, case_id, "soft_measure")
    (wave,) = page[:1]
    assert [e.label for e in soft] == [d.name for d in wave.dimensions]
    assert {e.as_of for e in soft} == {wave.closed_at.date() if wave.closed_at else None}
    assert {e.source for e in soft} == {f"staff survey {wave.wave}"}
    for row, dimension in zip(soft, wave.dimensions, strict=True):
        if dimension.suppressed:
            assert row.value == "suppressed (small group)"
        else:
            assert dimension.mean is not None and row.value.startswith(f"{dimension.mean:.3g} (95% CI")


def test_without_a_score_or_survey_nothing_is_invented(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        case_id = service.open_case(
            conn, "PEER1", support="watch", owner="Dana", concern="Watch", actor="tests"
        )
    assert _evidence(engine, case_id, "risk") == []
    assert _evidence(engine, case_id, "soft_measure") == []  # no soft_measures_of given: none pulled
