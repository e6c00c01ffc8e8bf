"""The library's pages: a member adds a note for their own organisation, finds it by search (the match marked),
edits it; another organisation's note is readable when shared but not editable; neighbours' page shows the two
lists with pseudonyms for a member."""

from __future__ import annotations

import re

from tests.web.conftest import SignedIn


def _post(who: SignedIn, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return who.client.post(path, data=data, headers=who.headers(), follow_redirects=False)


def test_a_member_adds_finds_and_edits_a_note(signed_in: dict[str, SignedIn]) -> None:
    member, analyst = signed_in["member"], signed_in["analyst"]
    refused = _post(member, "/library/new", {"title": "", "body": ""})
    assert refused.status_code == 400
    assert "There is a problem" in refused.text and 'href="#title"' in refused.text
    done = _post(
        member,
        "/library/new",
        {
            "title": "Handover huddles",
            "body": "A short huddle at handover names every patient at risk.",
            "kind": "case_study",
            "indicators": "falls",
            "audience": "everyone",
            "organisation_code": "HIDE1",
        },  # a member cannot choose another organisation: the field is ignored
    )
    assert done.status_code == 303
    url = done.headers["location"]
    document_id = int(url.rsplit("/", 1)[1])
    page = member.client.get(url)
    assert "Handover huddles" in page.text and "Case study" in page.text and "Alpha Own Trust" in page.text
    found = member.client.get("/library", params={"q": "huddle"})
    assert re.search(r"<mark>huddle</mark>", found.text, re.I) and url in found.text
    api = member.client.get("/api/v1/library", params={"q": "handover -falls"}).json()
    assert (
        api["results"] == []
    )  # the indicator's name (Falls per 1,000 bed days) is searchable, so -falls drops it
    edited = _post(
        member,
        f"{url}/edit",
        {"title": "Handover huddles, revised", "body": "Now twice a day.", "audience": "organisation"},
    )
    assert edited.status_code == 303
    assert "revised" in member.client.get(url).text
    # The analyst reads it (the regulator sees notes for an organisation only) and may edit any note.
    assert analyst.client.get(f"/api/v1/library/{document_id}").json()["audience"] == "organisation"
    assert analyst.client.get(f"{url}/edit").status_code == 200


def test_the_neighbours_page_shows_both_lists_to_the_member_without_names(
    signed_in: dict[str, SignedIn],
) -> None:
    member = signed_in["member"]
    own = member.client.get("/api/v1/portfolio").json()["organisations"]
    own_id = next(o["organisation_id"] for o in own if o["organisation_id"] is not None)
    page = member.client.get(f"/organisations/{own_id}/neighbours", params={"indicator": "perf"})
    assert page.status_code == 200
    assert "CIPFA-style (fixed weights)" in page.text and "Peer 1" in page.text and "Neighbour 1" in page.text
    for secret in ("Bravo Peer", "PEER1", "Charlie Hidden", "HIDE1"):
        assert secret not in page.text
    assert (
        member.client.get(f"/organisations/{own_id}/neighbours", params={"indicator": "nope"}).status_code
        == 404
    )
