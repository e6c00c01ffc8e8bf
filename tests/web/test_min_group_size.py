"""The app's own settings govern survey suppression (issue 12, item 7): an app built with a minimum group size above
the default suppresses, on every survey output it serves, a group the default would show, while the process's
global settings still say the default. The world's closed wave has 6 respondents in each organisation, between
the default (5) and the app's 7."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from forewarn.risk.soft import survey_cells
from forewarn.settings import Settings, default, get_settings
from tests.web.conftest import SignedIn, make_app
from tests.web.world import World

DEFAULT = default("min_group_size")
STRICTER = 7
RESPONDENTS = 6  # per organisation in the world's closed wave


@pytest.fixture(autouse=True)
def global_settings_say_the_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("FOREWARN_MIN_GROUP_SIZE", raising=False)
    get_settings.cache_clear()
    assert get_settings().min_group_size == DEFAULT < RESPONDENTS < STRICTER
    yield
    get_settings.cache_clear()


@pytest.fixture
def strict_app(web_settings: Settings, engine: Engine, world: World, tmp_path: Path) -> FastAPI:
    return make_app(web_settings.model_copy(update={"min_group_size": STRICTER}), engine, tmp_path)


def _get(app: FastAPI, engine: Engine, user: int, path: str) -> Any:
    response = SignedIn(app, engine, user).client.get(path)
    assert response.status_code == 200, response.text
    return response


def _cells(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for d in results["dimensions"] for c in d["cells"]]


@pytest.mark.parametrize(("which", "floor"), [("default", DEFAULT), ("strict", STRICTER)])
def test_the_survey_results_page_and_api_suppress_under_the_app_s_minimum(
    app: FastAPI, strict_app: FastAPI, engine: Engine, world: World, which: str, floor: int
) -> None:
    chosen = strict_app if which == "strict" else app
    wave = world.waves["closed"]
    analyst = world.users["analyst"]
    results = _get(chosen, engine, analyst, f"/api/v1/surveys/{wave}/results").json()
    assert results["min_group_size"] == floor and results["wave"]["min_group_size"] == floor
    cells = _cells(results)
    assert cells and len({c["label"] for c in cells}) == 3
    if floor > RESPONDENTS:
        assert all(c["suppressed"] and c["n"] == f"<{floor}" and c["mean"] is None for c in cells)
    else:
        assert all(not c["suppressed"] and c["n"] == RESPONDENTS and c["mean"] is not None for c in cells)
    page = _get(chosen, engine, analyst, f"/surveys/{wave}/results").text
    assert (f"Not shown: fewer than {floor} respondents" in page) == (floor > RESPONDENTS)
    progress = _get(chosen, engine, analyst, f"/api/v1/surveys/{wave}").json()["progress"]
    shown = RESPONDENTS if floor <= RESPONDENTS else f"<{floor}"
    assert progress and all(row["responses"] == shown for row in progress)
    listed = {w["id"]: w for w in _get(chosen, engine, analyst, "/api/v1/surveys").json()["waves"]}
    assert listed[wave]["min_group_size"] == floor


@pytest.mark.parametrize(("which", "floor"), [("default", DEFAULT), ("strict", STRICTER)])
def test_the_portfolio_and_the_organisation_s_soft_measures_suppress_under_the_app_s_minimum(
    app: FastAPI, strict_app: FastAPI, engine: Engine, world: World, which: str, floor: int
) -> None:
    chosen = strict_app if which == "strict" else app
    analyst = world.users["analyst"]
    rows = {r["code"]: r for r in _get(chosen, engine, analyst, "/api/v1/portfolio").json()["organisations"]}
    status = rows["OWN1"]["soft_status"]
    assert (status == "Closed wave: too few respondents to show") == (floor > RESPONDENTS), status
    assert status.startswith("Closed wave: ")
    page = _get(chosen, engine, analyst, "/portfolio").text
    assert ("Closed wave: too few respondents to show" in page) == (floor > RESPONDENTS)
    organisation = _get(chosen, engine, analyst, f"/api/v1/organisations/{world.ids['OWN']}").json()
    (measures,) = organisation["soft_measures"]
    assert measures["suppressed"] == (floor > RESPONDENTS)
    assert measures["respondents"] == (f"<{floor}" if floor > RESPONDENTS else RESPONDENTS)
    assert all(d["suppressed"] == (floor > RESPONDENTS) for d in measures["dimensions"])


def test_a_wave_cannot_be_created_below_the_app_s_minimum(
    app: FastAPI, strict_app: FastAPI, engine: Engine, world: World
) -> None:
    body = {"name": "New wave", "organisation_codes": ["OWN1"], "min_group_size": RESPONDENTS}
    strict = SignedIn(strict_app, engine, world.users["admin"])
    refused = strict.client.post("/api/v1/surveys", json=body, headers=strict.headers())
    assert refused.status_code == 400
    assert f"below the minimum group size setting ({STRICTER})" in refused.text
    default_app = SignedIn(app, engine, world.users["admin"])
    created = default_app.client.post("/api/v1/surveys", json=body, headers=default_app.headers())
    assert created.status_code == 201 and created.json()["min_group_size"] == RESPONDENTS
    plain = {"name": "Plain wave", "organisation_codes": ["OWN1"]}
    made = strict.client.post("/api/v1/surveys", json=plain, headers=strict.headers())
    assert made.status_code == 201 and made.json()["min_group_size"] == STRICTER


def test_the_risk_model_reads_only_cells_published_under_the_minimum_it_is_given(
    engine: Engine, world: World
) -> None:
    published = survey_cells(engine, min_group_size=DEFAULT)
    assert published.height > 0 and set(published["n"].to_list()) == {RESPONDENTS}
    assert survey_cells(engine, min_group_size=STRICTER).height == 0
