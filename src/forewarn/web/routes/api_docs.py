"""The API documentation page: Swagger UI, served from the app's own vendored copy (no CDN), over the OpenAPI
file at ``/api/v1/openapi.json``. Public, like the OpenAPI file it draws; linked from the footer when signed in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from forewarn.web.deps import MaybePrincipal
from forewarn.web.rendering import render

router = APIRouter(include_in_schema=False)

SWAGGER_UI_VERSION = "5.36.0"
"""The vendored swagger-ui-dist (scripts/package.json); its files carry the version in their names."""


@router.get("/api/docs")
def api_docs_page(
    request: Request, principal: MaybePrincipal
) -> Response:  # principal: the page's navigation
    return render(request, "api_docs.html", {"title": "API documentation", "swagger_ui": SWAGGER_UI_VERSION})
