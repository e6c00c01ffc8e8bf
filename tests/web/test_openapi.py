"""The OpenAPI description tells the truth (issue 16): timestamps carry their time zone, refusals (401, 403, 404)
are documented, and a method a path does not take answers 405 with ``Allow``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from tests.web.conftest import SignedIn, bearer_for
from tests.web.world import World


def _timestamps(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") and isinstance(item, str):
                found.append(item)
            else:
                found += _timestamps(item)
    elif isinstance(value, list):
        for item in value:
            found += _timestamps(item)
    return found


def test_timestamps_carry_their_time_zone(app: FastAPI, engine: Engine, world: World) -> None:
    admin = SignedIn(app, engine, world.users["admin"])
    headers = {"Authorization": f"Bearer {bearer_for(engine, world.users['admin'])}"}
    stamps: list[str] = []
    for path in ("/api/v1/account", "/api/v1/users", "/api/v1/surveys", "/api/v1/audit"):
        response = admin.client.get(path, headers=headers)
        assert response.status_code == 200, path
        stamps += _timestamps(response.json())
    assert len(stamps) > 5
    naive = [s for s in stamps if dt.datetime.fromisoformat(s).tzinfo is None]
    assert not naive, naive[:5]


def test_refusals_are_documented(app: FastAPI) -> None:
    spec = app.openapi()
    assert "Error" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            where = f"{method.upper()} {path}"
            if path.startswith("/api/v1/survey/"):
                assert {"404", "410"} <= codes, where  # the respondent's link: no account
                continue
            if path == "/api/v1/openapi.json":
                continue
            assert {"401", "403"} <= codes, where
            if "{" in path:
                assert "404" in codes, where
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


def test_a_method_a_path_does_not_take_answers_405_with_allow(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client = SignedIn(app, engine, world.users["analyst"]).client
    headers = {"Authorization": f"Bearer {bearer_for(engine, world.users['analyst'])}"}
    response = client.delete("/api/v1/portfolio", headers=headers)
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert response.json()["status"] == 405
    page = client.put("/portfolio", headers=headers)
    assert page.status_code == 405 and page.headers["allow"] == "GET"


def test_a_wave_of_an_unknown_or_file_instrument_is_refused_not_a_server_error(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client = SignedIn(app, engine, world.users["admin"]).client
    headers = {"Authorization": f"Bearer {bearer_for(engine, world.users['admin'])}"}
    for instrument in ("no such thing", "/etc/hostname", "../../instruments/forewarn_lc.yml"):
        response = client.post(
            "/api/v1/surveys",
            json={"name": "Wave", "organisation_codes": ["OWN1"], "instrument": instrument},
            headers=headers,
        )
        assert response.status_code == 400, (instrument, response.text)
        assert "choose one of" in response.json()["detail"]
    blank = {"name": "Wave", "organisation_codes": ["", " "]}
    assert client.post("/api/v1/surveys", json=blank, headers=headers).status_code == 400


def test_an_id_beyond_what_the_store_holds_or_a_nul_is_refused_not_a_server_error(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client = SignedIn(app, engine, world.users["admin"]).client
    headers = {"Authorization": f"Bearer {bearer_for(engine, world.users['admin'])}"}
    for number in ("2147483648", "9223372036854775808", "-9223372036854775809", "9" * 5000, "1%00"):
        for path in (
            f"/api/v1/organisations/{number}",
            f"/api/v1/users/{number}",
            f"/organisations/{number}",
        ):
            assert client.get(path, headers=headers).status_code == 404, path
    assert client.get("/api/v1/organisations/2147483647", headers=headers).status_code == 404
    assert client.get("/api/v1/audit", params={"action": "a\x00b"}, headers=headers).status_code == 422
    nul = {"name": "Wave", "organisation_codes": ["OWN1\x00"]}
    assert client.post("/api/v1/surveys", json=nul, headers=headers).status_code == 422


def test_operations_that_need_an_account_declare_the_api_token_scheme(app: FastAPI) -> None:
    """The bearer scheme is described once, and marked on exactly the operations that need an account: not on
    the health check or a respondent's token link, which anyone may call."""
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["APIToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["APIToken"]["description"],
    }
    open_to_all = {("get", "/healthz"), ("get", "/api/v1/survey/{token}"), ("post", "/api/v1/survey/{token}")}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            declared = operation.get("security") == [{"APIToken": []}]
            assert declared is ((method, path) not in open_to_all), (method, path)
