"""The web tests' fixtures (a small world, its app, signed-in clients), for the case pages' tests."""

from tests.web.conftest import app, signed_in, web_settings, world

__all__ = ["app", "signed_in", "web_settings", "world"]
