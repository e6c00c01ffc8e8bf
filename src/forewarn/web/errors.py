"""Refusals the routes raise. How each is answered (a GOV.UK error page, a redirect, or API JSON) is
:mod:`forewarn.web.handlers`: this module sits below rendering, so every layer may raise them."""

from __future__ import annotations


class WebError(Exception):
    status_code = 500
    title = "Sorry, there is a problem with the service"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title


class NotSignedInError(WebError):
    status_code = 401
    title = "Sign in to continue"


class ForbiddenError(WebError):
    status_code = 403
    title = "You do not have access to this page"


class NotFoundError(WebError):
    """Also the answer when something exists but this account may not see it: the two look the same."""

    status_code = 404
    title = "Page not found"


class GoneError(WebError):
    status_code = 410
    title = "This link can no longer be used"


class BadRequestError(WebError):
    status_code = 400
    title = "There is a problem with the request"


class CsrfError(WebError):
    status_code = 403
    title = "This form could not be sent"
