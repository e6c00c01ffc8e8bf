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


def test_milestones_and_exit_criteria_from_the_web(signed_in: dict[str, SignedIn], engine: Engine) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    location = _post(
        analyst,
        "/cases",
        {"organisation_code": "OWN1", "support": "watch", "owner": "Dana", "concern": "Falls"},
    )
    case_id = int(location.rsplit("/", 1)[1])
    opened = len(_changes(engine, case_id))

    # Each field's error is named, linked from the summary, and the form keeps what was typed; nothing is written.
    bad = analyst.client.post(
        f"{location}/exit-criteria",
        data={"indicator_code": "perf", "comparison": "above", "threshold": "eighty", "months": "0"},
        headers=analyst.headers(),
    )
    assert bad.status_code == 400
    for field, message in (
        ("comparison", "Choose at least or at most"),
        ("threshold", "The threshold must be a number, such as 0.8"),
        ("months", "The number of latest values must be a whole number from 1 to 120"),
    ):
        assert f'<a href="#{field}">{message}</a>' in bad.text
        assert f'id="{field}-error"' in bad.text
    assert 'id="indicator_code-error"' not in bad.text and 'value="eighty"' in bad.text
    unknown = analyst.client.post(
        f"{location}/exit-criteria",
        data={"indicator_code": "nope", "comparison": "at_least", "threshold": "0.8", "months": "3"},
        headers=analyst.headers(),
    )
    assert (
        unknown.status_code == 400
        and '<a href="#indicator_code">No indicator with code &#39;nope&#39;</a>' in unknown.text
    )
    no_title = analyst.client.post(
        f"{location}/milestones", data={"title": "", "due": "1 May"}, headers=analyst.headers()
    )
    assert no_title.status_code == 400
    assert '<a href="#title">Enter the title of the milestone</a>' in no_title.text
    assert '<a href="#due">The due date must be a date, as YYYY-MM-DD</a>' in no_title.text
    assert "None set." in no_title.text  # neither list has anything yet

    _post(
        analyst,
        f"{location}/exit-criteria",
        {"indicator_code": "perf", "comparison": "at_least", "threshold": "0.9", "months": "3"},
    )
    _post(analyst, f"{location}/milestones", {"title": "Action plan agreed", "due": "2022-03-01"})
    page = analyst.client.get(location).text
    assert "Seen within four hours: mean of the latest 3 values &gt;= 0.9" in page
    assert "Action plan agreed, due 2022-03-01" in page
    (milestone_id,) = {int(m) for m in re.findall(rf"/cases/{case_id}/milestones/(\d+)/done", page)}
    # Members may read their case's plan but not change it; another case's milestone is not this case's.
    assert "Add a milestone" not in member.client.get(location).text
    for path, data in (
        (f"{location}/milestones", {"title": "x"}),
        (f"{location}/exit-criteria", {"indicator_code": "perf"}),
        (f"{location}/milestones/{milestone_id}/done", {"done_on": "2022-02-01"}),
    ):
        assert member.client.post(path, data=data, headers=member.headers()).status_code == 403
    other = _post(
        analyst, "/cases", {"organisation_code": "PEER1", "support": "watch", "owner": "Dana", "concern": "x"}
    )
    wrong = analyst.client.post(
        f"{other}/milestones/{milestone_id}/done", data={"done_on": "2022-02-01"}, headers=analyst.headers()
    )
    assert wrong.status_code == 404
    _post(analyst, f"{location}/milestones/{milestone_id}/done", {"done_on": "2022-02-20"})
    assert "Action plan agreed, due 2022-03-01, done 2022-02-20" in analyst.client.get(location).text

    changes = _changes(engine, case_id)
    assert {channel for channel, _ in changes} == {"web"}
    details = [str(detail) for _, detail in changes[opened:]]
    assert len(details) == 3  # the criterion, the milestone, done: the refused forms wrote nothing
    assert "perf at_least 0.9 over 3 months" in details[0]
    assert "Action plan agreed" in details[1] and "milestone_done" in details[2]


def _changes(engine: Engine, case_id: int) -> list[tuple[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.channel, AuditEntry.detail)
            .where(AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id))
            .order_by(AuditEntry.id)
        ).all()
    return [(str(channel), detail) for channel, detail in rows]
