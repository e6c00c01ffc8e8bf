"""The OpenAPI description, completed with what FastAPI cannot see: the refusals every route may answer.

Who may call what is decided by dependencies (a signed-in account, a permission, what the account may see), so
FastAPI documents only the success and validation answers. Every operation under ``/api/v1`` here also documents
401 (not signed in: no session, or a missing, expired or revoked token), 403 (signed in, but the role does not
allow it, or a browser request without a valid CSRF token), and, where the path names something, 404 (no such
thing, or one the account may not see: the two look the same); writes also 400 (a request that cannot be met as
sent), and where they apply 409 and 413. The respondent's token link needs no account and
documents 404, 409 and 410 instead. Each refusal is ``{"detail": ..., "status": ...}`` (the ``Error`` schema).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"title": "Detail", "description": "What went wrong, in words (for 422, each problem)"},
        "status": {"title": "Status", "type": "integer"},
    },
    "required": ["detail", "status"],
}
PUBLIC = {"/api/v1/openapi.json"}
RESPONDENT_PREFIX = "/api/v1/survey/"
REFUSALS = {
    "401": "Not signed in: no session, or the bearer token is missing, expired, revoked or its owner disabled",
    "403": "Signed in, but your role does not allow this (or a browser request without a valid CSRF token)",
    "404": "There is no such thing, or your account may not see it (the two answers are the same)",
    "409": "The survey has not opened yet",
    "410": "The survey link has been used, or the survey has closed",
    "400": "The request cannot be met as sent (the detail says why)",
    "409 wave": "Not possible in the wave's present state (opening a closed wave, tokens for a closed wave)",
    "413": "The request body is larger than the server accepts (FOREWARN_MAX_UPLOAD_MB)",
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Error`` schema and each operation's refusals to a generated description (in place)."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in spec.get("paths", {}).items():
        if path in PUBLIC:
            continue
        if path.startswith(RESPONDENT_PREFIX):
            codes = ["404", "409", "410"] if "get" in operations else ["404", "410"]
        else:
            codes = ["401", "403"] + (["404"] if "{" in path else [])
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = []
            if method in ("post", "put") and not path.startswith(RESPONDENT_PREFIX):
                extra.append("400")
            if method == "post" and path.startswith("/api/v1/surveys/{"):
                extra.append("409 wave")
            if method == "post" and path.startswith("/api/v1/imports"):
                extra.append("413")
            for code in codes + extra:
                responses.setdefault(code.split()[0], _error(REFUSALS[code]))
    return spec


def install(app: FastAPI) -> None:
    """Serve the completed description at the app's ``openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
