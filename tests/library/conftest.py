"""The web tests' world, app and signed-in clients, for the library's and neighbours' pages."""

from tests.web.conftest import app, signed_in, web_settings, world  # noqa: F401
