"""The organisation page's "who to learn from now" panel and its JSON: shown when a leading signal drifts, with
neighbours as the viewer may see them. In the test world the member's own trust deteriorates on ``perf``; a
rising risk score (two stored scores, the later interval above the earlier probability) makes it drift."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, insert

from forewarn.library.documents import DocumentInput, create_document
from forewarn.store.models_risk import RiskModel, RiskScore
from tests.web.conftest import SignedIn
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World


def add_rising_risk(engine: Engine, organisation_id: int) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        model = conn.execute(
            insert(RiskModel)
            .values(
                version="t" * 64,
                kind="logistic",
                outcome="inspection:inadequate",
                new_only=True,
                horizon_months=12,
                step_months=3,
                trained_as_of=dt.date(2021, 6, 1),
                trained_at=now,
                trained_by="tests",
                features=[],
                medians=[],
                indicator_features=[],
                means=[],
                scales=[],
                coefficients=[],
                intercept=0.0,
                refits=[],
                calibration={},
                training_origins=[],
                n_cases=1,
                n_events=1,
                data_version="d",
                code_version="c",
            )
            .returning(RiskModel.id)
        ).scalar_one()
        for as_of, p, lo in ((dt.date(2021, 9, 1), 0.05, 0.03), (dt.date(2021, 12, 1), 0.20, 0.12)):
            conn.execute(
                insert(RiskScore).values(
                    model_id=model,
                    organisation_id=organisation_id,
                    as_of=as_of,
                    probability=p,
                    lower=lo,
                    upper=p + 0.1,
                    contributions={},
                    reasons=[],
                    scored_at=now,
                )
            )


def add_practice_note(engine: Engine, owner: str, audience: str = "everyone") -> None:
    with engine.begin() as conn:
        create_document(
            conn,
            DocumentInput(
                title=f"Triage at the door ({audience})",
                body="A senior nurse sees every arrival within fifteen minutes.",
                organisation=owner,
                indicators=("perf",),
                audience=audience,
            ),
            "tests",
        )


@pytest.fixture
def drifting(engine: Engine, world: World) -> World:
    add_rising_risk(engine, world.ids["OWN"])
    add_practice_note(engine, "HIDE1")
    add_practice_note(engine, "HIDE1", "organisation")
    return world


def test_no_drift_no_panel(signed_in: dict[str, SignedIn], world: World) -> None:
    analyst = signed_in["analyst"]
    for key in ("OWN", "PEER"):
        api = analyst.client.get(f"/api/v1/organisations/{world.ids[key]}/learn-from").json()
        assert api["drifting"] is False and api["indicators"] == []
    assert "Who to learn from now" not in analyst.client.get(f"/organisations/{world.ids['OWN']}").text


def test_the_member_sees_who_to_learn_from_without_names(
    signed_in: dict[str, SignedIn], drifting: World
) -> None:
    member, analyst = signed_in["member"], signed_in["analyst"]
    own = drifting.ids["OWN"]
    api = member.client.get(f"/api/v1/organisations/{own}/learn-from").json()
    assert api["drifting"] is True
    # An organisation-level drift (the risk score) sends the trust to the indicator it is furthest on the side of
    # concern: perf (funnel z below 0, higher is better); falls is on the good side.
    assert api["reasons"] == ["the risk score rose to 20.0% on 2021-12-01 (from 5.0%)"]
    assert [i["code"] for i in api["indicators"]] == ["perf"]
    full = analyst.client.get(f"/api/v1/organisations/{own}/learn-from").json()
    named = full["indicators"][0]["deviants"]
    assert named and all(d["url"] for d in named) and all(d["level"] is not None for d in named)
    # The member sees the same deviants, the ungranted trust as "Neighbour N" with no figures and no link.
    shown = api["indicators"][0]["deviants"]
    assert [(d["by_level"], d["by_improvement"]) for d in shown] == [
        (d["by_level"], d["by_improvement"]) for d in named
    ]
    for d in shown:
        if d["label"].startswith("Neighbour "):
            assert d["url"] is None and d["level"] is None and d["shift_since"] is None
    # The deviant's shared note, not the one for its own organisation only (which the analyst reads).
    assert [p["title"] for p in api["indicators"][0]["practice"]] == ["Triage at the door (everyone)"]
    assert len(full["indicators"][0]["practice"]) == 2
    page = member.client.get(f"/organisations/{own}").text
    assert "Who to learn from now" in page and "The risk score rose to 20.0%" in page
    assert f'href="/organisations/{own}/neighbours?indicator=perf"' in page
    for secret in SECRET_WORDS_FOR_MEMBER:
        assert secret not in page and secret not in str(api)
    # The analyst's page, kept separately, names them.
    assert named[0]["label"] in analyst.client.get(f"/organisations/{own}").text
