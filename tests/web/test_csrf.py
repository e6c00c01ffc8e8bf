"""CSRF: fetch metadata (Sec-Fetch-Site, Origin) and a token, on every state-changing route.

Reference: OWASP Cross-Site Request Forgery Prevention Cheat Sheet (fetch metadata and synchroniser tokens);
Datasette's Sec-Fetch-Site check.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine

from tests.web.conftest import SignedIn, bearer_for
from tests.web.world import PASSWORD, World

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def unsafe_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        for method in (getattr(context.original_route, "methods", None) or set()) & UNSAFE:
            found.append((method, str(context.path)))
    return sorted(found)


def fill(path: str, world: World) -> str:
    values = {
        "organisation_id": world.ids["OWN"],
        "peer_id": world.ids["PEER"],
        "user_id": world.users["other_member"],
        "token_id": 1,
        "pending_id": "x" * 24,
        "wave_id": world.waves["open"],
        "action": "tokens",
        "token": world.tokens["fresh"],
        "case_id": 1,  # issue 14: the CSRF guard answers before the route looks for the case
        "document_id": 1,  # issue 13: likewise for a library document
        "code": "any-experiment",  # issue 15: likewise for an experiment
        "milestone_id": 1,  # issue 14: likewise for a case's milestone
    }
    return path.format(**values)


def test_every_unsafe_route_refuses_a_request_without_the_token(
    app: FastAPI, engine: Engine, world: World
) -> None:
    admin = SignedIn(app, engine, world.users["admin"])
    routes = unsafe_routes(app)
    assert len(routes) > 20
    for method, path in routes:
        response = admin.client.request(method, fill(path, world), data={"x": "1"}, follow_redirects=False)
        assert response.status_code == 403, f"{method} {path} accepted a request without a CSRF token"
        wrong = admin.client.request(
            method, fill(path, world), data={"csrf_token": "forged"}, follow_redirects=False
        )
        assert wrong.status_code == 403, f"{method} {path} accepted a forged CSRF token"


def test_cross_site_requests_are_refused_even_with_the_token(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
    ):
        response = member.client.post(
            "/account/tokens",
            data={"csrf_token": member.csrf, "name": "x"},
            headers=headers,
            follow_redirects=False,
        )
        assert response.status_code == 403, headers
        assert "could not be sent" in response.text
    same = member.client.post(
        "/account/tokens",
        data={"csrf_token": member.csrf, "name": "x"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    )
    assert same.status_code == 200


def test_htmx_sends_the_token_in_a_header(app: FastAPI, engine: Engine, world: World) -> None:
    member = SignedIn(app, engine, world.users["member"])
    page = member.client.get("/portfolio")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{member.csrf}"}}\'' in page.text
    response = member.client.post(
        "/api/v1/account/tokens",
        json={"name": "htmx"},
        headers={"X-CSRF-Token": member.csrf, "HX-Request": "true"},
    )
    assert response.status_code == 201


def test_the_sign_in_form_itself_needs_the_pre_session_token(
    app: FastAPI, engine: Engine, world: World
) -> None:
    anonymous = SignedIn(app, engine, None)
    data = {"email": world.emails["member"], "password": PASSWORD}
    forged = anonymous.client.post("/sign-in", data=data, follow_redirects=False)
    assert forged.status_code == 403
    signed = anonymous.client.post(
        "/sign-in", data={**data, "csrf_token": anonymous.csrf}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/portfolio"
    # Once signed in, the pre-session token no longer works: the session's own token does.
    stale = anonymous.client.post("/account/tokens", data={"csrf_token": anonymous.csrf, "name": "x"})
    assert stale.status_code == 403


def test_bearer_requests_need_no_csrf_token_and_ignore_cookies(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client = SignedIn(app, engine, None).client
    token = bearer_for(engine, world.users["member"])
    response = client.post(
        "/api/v1/account/tokens", json={"name": "cli"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    bad = client.get("/api/v1/account", headers={"Authorization": "Bearer fwt_not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\\\evil.example", "javascript:alert(1)"]
)
def test_sign_in_never_redirects_off_site(app: FastAPI, engine: Engine, world: World, target: str) -> None:
    anonymous = SignedIn(app, engine, None)
    response = anonymous.client.post(
        "/sign-in",
        data={
            "email": world.emails["member"],
            "password": PASSWORD,
            "csrf_token": anonymous.csrf,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/portfolio"
