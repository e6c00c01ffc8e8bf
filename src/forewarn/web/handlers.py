"""How each refusal is answered: a GOV.UK error page for the browser, a redirect to sign in, or API JSON."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from forewarn.accounts.users import AccountError
from forewarn.web.errors import CsrfError, NotSignedInError, WebError
from forewarn.web.rendering import render


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_response(
    request: Request, status: int, title: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    if is_api(request):
        headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
        return JSONResponse({"detail": message, "status": status}, status_code=status, headers=headers)
    page = render(
        request, "error.html", {"title": title, "message": message, "status": status}, status_code=status
    )
    page.headers.update(headers or {})
    return page


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError) -> Response:
        if isinstance(exc, NotSignedInError) and not is_api(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
        message = exc.message
        if isinstance(exc, CsrfError):
            message = f"{exc.message}. Go back, reload the page and try again."
        return _error_response(request, exc.status_code, exc.title, message)

    @app.exception_handler(AccountError)
    async def _account_problem(request: Request, exc: AccountError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": exc.problems, "status": 422}, status_code=422)
        return _error_response(request, 400, "There is a problem", "; ".join(exc.problems.values()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {
            404: "Page not found",
            405: "This page cannot be used that way",
            413: "The file is too large",
        }
        title = titles.get(exc.status_code, "Sorry, there is a problem with the service")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404:
            detail = "If you typed the web address, check it is correct."
        # Keep the exception's headers: a 405 says which methods the path takes (Allow).
        return _error_response(request, exc.status_code, title, detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            # jsonable_encoder: a validator's error carries its exception in ``ctx``, which json cannot encode.
            return JSONResponse({"detail": jsonable_encoder(exc.errors()), "status": 422}, status_code=422)
        return _error_response(
            request, 400, "There is a problem with the request", "Some of the information sent was not valid."
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _error_response(
            request,
            500,
            "Sorry, there is a problem with the service",
            "Try again later. Nothing was changed.",
        )
