"""Experiments from the web (issue 15): register, design, allocate, start, analyse and publish through the pages
and the API, as an analyst and as a member; who may do what; problems named by field; deviations shown."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import Engine

from forewarn.experiments.registry import get_experiment
from forewarn.library.search import search
from tests.web.conftest import SignedIn, bearer_for
from tests.web.world import World

REGISTRATION = {
    "code": "huddles",
    "title": "Daily safety huddles",
    "hypothesis": "Daily huddles raise performance",
    "adapted_practice": "Huddles as a peer runs them",
    "unit_kind": "organisation",
    "outcome_indicator": "perf",
    "design": "cluster",
    "analysis": "cluster_robust",
    "units": "OWN1, PEER1\nHIDE1, SIM1",
    "minimum_effect": "0.5",
    "owner": "Quality team",
    "planned_start": "2021-01-01",
    "planned_end": "2021-12-31",
}


def _post(who: SignedIn, path: str, data: dict[str, str]) -> httpx.Response:
    return who.client.post(path, data=data, headers=who.headers(), follow_redirects=False)


def _errors(response: httpx.Response) -> set[str]:
    summary = response.text.split('govuk-error-summary__list">', 1)[1].split("</ul>", 1)[0]
    return set(re.findall(r'href="#([a-z_]+)"', summary))


def test_an_analyst_runs_an_experiment_from_the_pages(signed_in: dict[str, SignedIn], engine: Engine) -> None:
    analyst = signed_in["analyst"]
    form = analyst.client.get("/experiments/new")
    assert form.status_code == 200 and 'name="strata_by"' in form.text
    refused = _post(analyst, "/experiments/new", {"code": "bad code!", "minimum_effect": "big"})
    assert refused.status_code == 400
    assert {"title", "hypothesis", "minimum_effect", "planned_start", "owner"} <= _errors(refused)
    refused = _post(
        analyst, "/experiments/new", REGISTRATION | {"units": "OWN1", "planned_end": "2020-01-01"}
    )
    assert refused.status_code == 400 and _errors(refused) == {"units", "planned_end"}
    assert "An experiment needs at least two units" in refused.text
    done = _post(analyst, "/experiments/new", REGISTRATION)
    assert done.status_code == 303 and done.headers["location"] == "/experiments/huddles"
    page = analyst.client.get("/experiments/huddles")
    assert "Calculate the power" in page.text and "Start the experiment" in page.text

    refused = _post(analyst, "/experiments/huddles/design", {"cluster_size": "", "icc": "0.05"})
    assert refused.status_code == 400 and "cluster_size" in _errors(refused)
    assert (
        _post(analyst, "/experiments/huddles/design", {"cluster_size": "30", "icc": "0.05"}).status_code
        == 303
    )
    info = get_experiment(engine, "huddles")
    assert info.design_calculation is not None
    page = analyst.client.get("/experiments/huddles")
    assert f"{info.design_calculation['power']:.3f}" in page.text

    refused = _post(analyst, "/experiments/huddles/allocate", {"seed": "twelve"})
    assert refused.status_code == 400 and _errors(refused) == {"seed"}
    assert _post(analyst, "/experiments/huddles/allocate", {"seed": "11"}).status_code == 303
    page = analyst.client.get("/experiments/huddles")
    assert 'Randomised with seed <span class="fw-code">11</span>' in page.text
    assert "allocated" in page.text and "analyst@" in page.text  # the audit trail: what, and who

    refused = _post(analyst, "/experiments/huddles/analyse", {})
    assert refused.status_code == 400 and _errors(refused) == {"results"}  # not started: nothing to analyse
    assert _post(analyst, "/experiments/huddles/start", {}).status_code == 303
    assert _post(analyst, "/experiments/huddles/allocate", {"seed": "12"}).status_code == 400

    # Locked: a change needs a reason, and is shown as a deviation.
    refused = _post(
        analyst, "/experiments/huddles/edit", {**_edit_values(analyst), "planned_end": "2022-03-31"}
    )
    assert refused.status_code == 400 and _errors(refused) == {"reason"}
    changed = _post(
        analyst,
        "/experiments/huddles/edit",
        {**_edit_values(analyst), "planned_end": "2022-03-31", "reason": "late data"},
    )
    assert changed.status_code == 303
    page = analyst.client.get("/experiments/huddles")
    assert 'govuk-tag--red">deviation' in page.text and "late data" in page.text
    assert "2021-12-31 → 2022-03-31" in page.text

    done = _post(analyst, "/experiments/huddles/analyse", {"publish": "yes", "audience": "everyone"})
    assert done.status_code == 303
    info = get_experiment(engine, "huddles")
    result = info.results[-1]
    assert result["pre_registered"] and result["library_document_id"] is not None
    page = analyst.client.get("/experiments/huddles")
    assert f"{result['padlocks']} of 5 padlocks" in page.text
    assert f'href="/library/{result["library_document_id"]}"' in page.text
    with engine.connect() as conn:
        assert result["library_document_id"] in [h.id for h in search(conn, "huddles")]
    library = analyst.client.get("/library", params={"q": "Daily safety huddles"})
    assert f"/library/{result['library_document_id']}" in library.text
    # A second analysis by another method: not pre-registered, published by its own button.
    assert _post(analyst, "/experiments/huddles/analyse", {"method": "its"}).status_code == 303
    info = get_experiment(engine, "huddles")
    assert not info.results[-1]["pre_registered"] and info.results[-1]["library_document_id"] is None
    published = _post(analyst, "/experiments/huddles/publish", {"result_id": str(info.results[-1]["id"])})
    assert published.status_code == 303
    again = _post(analyst, "/experiments/huddles/publish", {"result_id": str(info.results[-1]["id"])})
    assert again.status_code == 400 and "published already" in again.text


def _edit_values(who: SignedIn) -> dict[str, str]:
    page = who.client.get("/experiments/huddles/edit").text
    values = dict(re.findall(r'name="([a-z_]+)" type="text" value="([^"]*)"', page))
    values["hypothesis"] = "Daily huddles raise performance"
    values["adapted_practice"] = "Huddles as a peer runs them"
    return values


def test_a_member_registers_with_their_peers_under_pseudonyms(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    member = signed_in["member"]
    form = member.client.get("/experiments/new")
    assert form.status_code == 200 and 'name="strata_by"' not in form.text
    refused = _post(member, "/experiments/new", REGISTRATION | {"units": "OWN1, HIDE1"})
    assert refused.status_code == 400 and _errors(refused) == {"units"}
    assert "HIDE1" not in refused.text  # not even what they typed is shown back
    assert "1 of the units given are not organisations you may include" in refused.text
    done = _post(
        member, "/experiments/new", REGISTRATION | {"units": "OWN1\npeer 1", "owner_organisation": "HIDE1"}
    )
    assert done.status_code == 303
    info = get_experiment(engine, "huddles")
    assert sorted(info.units) == ["OWN1", "PEER1"] and info.owner_organisation == "OWN1"
    page = member.client.get("/experiments/huddles")
    assert "Peer 1: not allocated" in page.text and "PEER1" not in page.text
    assert _post(member, "/experiments/huddles/allocate", {"seed": "5"}).status_code == 303
    assert _post(member, "/experiments/huddles/start", {}).status_code == 303
    # The analyst sees it by name, and may change it too.
    analyst_page = signed_in["analyst"].client.get("/experiments/huddles")
    assert "PEER1" in analyst_page.text and "Change the registration" in analyst_page.text


def test_who_may_change_what(signed_in: dict[str, SignedIn], engine: Engine) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    # The regulator's experiment with the member's organisation in it: they read it, they may not change it.
    assert _post(analyst, "/experiments/new", REGISTRATION).status_code == 303
    page = member.client.get("/experiments/huddles")
    assert (
        page.status_code == 200
        and "Calculate the power" not in page.text
        and "Start the experiment" not in page.text
    )
    for action, data in (("design", {"cluster_size": "30"}), ("allocate", {"seed": "1"}), ("start", {})):
        assert _post(member, f"/experiments/huddles/{action}", data).status_code == 403
    assert member.client.get("/experiments/huddles/edit").status_code == 403
    # One without them: not there.
    hidden = REGISTRATION | {"code": "hidden", "units": "HIDE1, SIM1"}
    assert _post(analyst, "/experiments/new", hidden).status_code == 303
    assert member.client.get("/experiments/hidden").status_code == 404
    assert _post(member, "/experiments/hidden/start", {}).status_code == 404


def _api(
    client: httpx.Client | Any, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> Any:
    return client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_api_runs_the_same_operations(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    client = signed_in["anonymous"].client
    member = bearer_for(engine, world.users["member"])
    analyst = bearer_for(engine, world.users["analyst"])
    body = {
        "code": "api-trial",
        "title": "Huddles by API",
        "hypothesis": "Huddles raise performance",
        "outcome_indicator": "perf",
        "design": "stepped_wedge",
        "analysis": "hussey_hughes",
        "units": ["OWN1", "Peer 1"],
        "minimum_effect": 0.5,
        "planned_start": "2020-07-01",
        "planned_end": "2021-07-01",
        "owner": "Quality team",
    }
    refused = _api(client, "POST", "/api/v1/experiments", member, body | {"units": ["OWN1"]})
    assert (
        refused.status_code == 400
        and refused.json()["detail"] == "units: an experiment needs at least two units"
    )
    refused = _api(client, "POST", "/api/v1/experiments", member, body | {"units": ["OWN1", "HIDE1"]})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("units: ")
    refused = _api(
        client, "POST", "/api/v1/experiments", member, body | {"analysis": "its", "design": "cluster2"}
    )
    assert refused.status_code == 400 and "design: " in refused.json()["detail"]
    created = _api(client, "POST", "/api/v1/experiments", member, body)
    assert created.status_code == 201, created.text
    assert [u["label"] for u in created.json()["units"]] == ["OWN1", "Peer 1"]
    assert created.json()["may_change"] and created.json()["analyses"][0] == "hussey_hughes"
    allocated = _api(
        client, "POST", "/api/v1/experiments/api-trial/allocate", member, {"seed": 3, "steps": 2}
    )
    assert allocated.status_code == 200 and allocated.json()["allocation"]["seed"] == 3
    assert set(allocated.json()["crossover"]) == {"step 1", "step 2"}
    started = _api(client, "POST", "/api/v1/experiments/api-trial/start", member)
    assert started.json()["status"] == "started" and started.json()["registration_checksum"]
    refused = _api(client, "PATCH", "/api/v1/experiments/api-trial", member, {"minimum_effect": 0.3})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("reason: ")
    edited = _api(
        client, "PATCH", "/api/v1/experiments/api-trial", member, {"minimum_effect": 0.3, "reason": "funder"}
    )
    assert edited.json()["events"][-1]["kind"] == "deviation" and edited.json()["events"][-1]["new"] == "0.3"
    # Two units cannot separate a treatment from period effects in a mixed model: refused, nothing stored.
    refused = _api(client, "POST", "/api/v1/experiments/api-trial/analyse", member, {})
    assert refused.status_code == 400 and "three clusters" in refused.json()["detail"]
    assert get_experiment(engine, "api-trial").results == []
    analysed = _api(
        client, "POST", "/api/v1/experiments/api-trial/analyse", member, {"method": "its", "publish": True}
    )
    assert analysed.status_code == 200, analysed.text
    result = analysed.json()["results"][-1]
    assert result["published"]["url"].startswith("/library/") and result["padlocks"] >= 0
    document = _api(client, "GET", f"/api/v1{result['published']['url']}", member).json()
    assert document["kind"] == "experiment" and "Peer 1" in [o["label"] for o in document["organisations"]]
    # The regulator's analyst reads and changes it; another member's token would see nothing of it.
    assert _api(client, "GET", "/api/v1/experiments/api-trial", analyst).json()["may_change"]
    listed = _api(client, "GET", "/api/v1/experiments", member).json()
    assert listed["can_register"] and [e["code"] for e in listed["experiments"]] == ["api-trial"]


def test_codes_from_titles_and_refusals_rather_than_errors(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    analyst = signed_in["analyst"]
    without_code = {k: v for k, v in REGISTRATION.items() if k != "code"} | {"units": "OWN1, PEER1"}
    first = _post(analyst, "/experiments/new", without_code)
    second = _post(analyst, "/experiments/new", without_code)
    assert first.headers["location"] == "/experiments/daily-safety-huddles"
    assert second.headers["location"] == "/experiments/daily-safety-huddles-2"
    # One cluster an arm: the statistics refuse the design; the page says so (400), it does not fail (500).
    refused = _post(analyst, "/experiments/daily-safety-huddles/design", {"cluster_size": "30", "icc": "0.1"})
    assert refused.status_code == 400 and "at least two clusters an arm" in refused.text
    token = bearer_for(engine, world.users["analyst"])
    client = signed_in["anonymous"].client
    nul = _api(
        client, "POST", "/api/v1/experiments", token, {**without_code, "title": "Bad\x00title", "units": []}
    )
    assert nul.status_code == 422
    removed = _api(client, "PATCH", "/api/v1/experiments/daily-safety-huddles", token, {"title": None})
    assert removed.status_code == 400 and removed.json()["detail"].startswith("title: ")
    assert get_experiment(engine, "daily-safety-huddles").title == "Daily safety huddles"
