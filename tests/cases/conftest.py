"""Fixtures borrowed for the case pages' tests: the web tests' small world, its app and signed-in clients, and the
browser tests' live server and Chromium page."""

from tests.browser.conftest import browser, live_server, page
from tests.web.conftest import app, signed_in, web_settings, world

__all__ = ["app", "browser", "live_server", "page", "signed_in", "web_settings", "world"]
