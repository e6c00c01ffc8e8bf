"""Case files in the web app: an analyst opens a case, records an intervention and its withdrawal (events), and
closes it; the organisation's member sees only their own case and adds a progress note; a member of another
organisation sees nothing of it. Every change is in the audit log with the web as its channel."""

from __future__ import annotations

import re

from sqlalchemy import Engine, select

from forewarn.store.models import Event
from forewarn.store.models_web import AuditEntry
from tests.web.conftest import SignedIn
from tests.web.world import World


def _post(who: SignedIn, path: str, data: dict[str, str]) -> str:
    response = who.client.post(path, data=data, headers=who.headers(), follow_redirects=False)
    assert response.status_code == 303, (path, response.status_code, response.text[:500])
    return response.headers["location"]


def test_a_case_through_the_web(
    signed_in: dict[str, SignedIn], engine: Engine, world: World, app: object
) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    location = _post(
        analyst,
        "/cases",
        {
            "organisation_code": "OWN1",
            "support": "development",
            "owner": "Dana",
            "concern": "Four-hour waits",
        },
    )
    case_id = int(location.rsplit("/", 1)[1])
    page = analyst.client.get(location).text
    assert "Four-hour waits" in page and "Seen within four hours" in page  # the scan's signal, pulled in
    organisation_page = f"/organisations/{world.ids['OWN']}"
    label = f"development (case {case_id})"
    assert label not in analyst.client.get(organisation_page).text  # the page is kept from here on
    _post(
        analyst,
        f"/cases/{case_id}/interventions",
        {"start": "2021-01-15", "indicators": "perf", "rebase_reason": "new pathway"},
    )
    # At once on the kept page's charts (the event moves the data version), the server-drawn chart and the
    # member's page: a band from the start, labelled, with the SPC chart rebased from that month.
    shown = analyst.client.get(organisation_page).text
    assert f"intervention {label} 2021-01-15 to now" in shown
    assert label in member.client.get(organisation_page).text
    drawn = analyst.client.get(f"{organisation_page}/charts/perf.svg").text
    assert label in drawn and "baseline reset 1 time" in drawn
    _post(member, f"/cases/{case_id}/notes", {"body": "We started the new pathway."})
    _post(analyst, f"/cases/{case_id}/withdraw", {"end": "2021-10-01"})
    page = analyst.client.get(location).text
    assert "development from 2021-01-15 to 2021-10-01, on perf (SPC charts rebased at the start)" in page
    assert f"intervention {label} 2021-01-15 to 2021-10-01" in analyst.client.get(organisation_page).text
    assert "We started the new pathway." in page
    # The effect against a comparison group, and the follow-up, for the regulator only.
    assert 'id="outcome"' in page and "Follow-up after withdrawal on 2021-10-01" in page
    assert 'id="outcome"' not in member.client.get(location).text

    # The member sees their own case (and only theirs) and their note is a progress note.
    mine = member.client.get("/cases").text
    assert f"/cases/{case_id}" in mine
    assert re.search(r"<strong>Progress</strong>", member.client.get(location).text)
    assert "Record an intervention" not in member.client.get(location).text
    refused = member.client.post(f"/cases/{case_id}/close", data={"note": "x"}, headers=member.headers())
    assert refused.status_code == 403

    # A case on another organisation is not there for the member.
    other = _post(
        analyst,
        "/cases",
        {"organisation_code": "HIDE1", "support": "watch", "owner": "Dana", "concern": "Hidden"},
    )
    assert member.client.get(other).status_code == 404
    assert "Charlie Hidden Trust" not in member.client.get("/cases").text

    _post(analyst, f"/cases/{case_id}/close", {"note": "Exit criteria met"})
    assert "closed: Exit criteria met" in analyst.client.get(location).text
    after = member.client.post(f"/cases/{case_id}/notes", data={"body": "late"}, headers=member.headers())
    assert after.status_code == 400

    with engine.connect() as conn:
        kinds = conn.execute(
            select(Event.kind, Event.date).where(
                Event.organisation_id == world.ids["OWN"], Event.detail.like("%(case %")
            )
        ).all()
        assert sorted(k for k, _ in kinds) == ["intervention_end", "intervention_start"]
        audited = conn.execute(
            select(AuditEntry.actor, AuditEntry.channel).where(
                AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id)
            )
        ).all()
        assert {channel for _, channel in audited} == {"web"}
        assert any(actor.startswith("member") or "member" in actor for actor, _ in audited)
