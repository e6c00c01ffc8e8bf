"""The API documentation page (issue 16): Swagger UI from the app's own vendored files, under the app's content
security policy, linked from the footer for signed-in users."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import Engine

from forewarn.web.app import STATIC_DIR
from forewarn.web.routes.api_docs import SWAGGER_UI_VERSION
from forewarn.web.security import CONTENT_SECURITY_POLICY
from tests.web.conftest import SignedIn
from tests.web.world import World


def test_the_api_docs_page_serves_swagger_ui_from_this_app(
    app: FastAPI, engine: Engine, world: World
) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    page = analyst.client.get("/api/docs")
    assert page.status_code == 200 and "API documentation" in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    loaded = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page.text)
    assert f"/static/vendor/swagger-ui/swagger-ui-bundle-{SWAGGER_UI_VERSION}.min.js" in loaded
    assert f"/static/vendor/swagger-ui/swagger-ui-{SWAGGER_UI_VERSION}.min.css" in loaded
    assert "/static/forewarn/api-docs.js" in loaded
    assert not [u for u in loaded if not u.startswith("/")], loaded  # nothing from another host
    for url in loaded:
        if url.startswith("/static/"):
            assert analyst.client.get(url).status_code == 200, url
    assert (STATIC_DIR / "forewarn" / "api-docs.js").read_text().count("validatorUrl: null") == 1
    assert analyst.client.get("/api/v1/openapi.json").status_code == 200


def test_the_footer_links_the_api_docs_for_signed_in_users_only(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    assert 'href="/api/docs"' in member.client.get("/portfolio").text
    anonymous = SignedIn(app, engine, None)
    assert 'href="/api/docs"' not in anonymous.client.get("/sign-in").text
    assert anonymous.client.get("/api/docs").status_code == 200  # public, like the OpenAPI file it draws
