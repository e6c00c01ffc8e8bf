"""The API documentation page draws the API in a real browser under the app's real content security policy, and
loads nothing from another host (issue 16)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer
from tests.web.world import PASSWORD


def test_swagger_ui_draws_the_api_under_the_real_policy(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the real CSP: no bypass
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(f"{live_server.url}/sign-in")
        page.get_by_label("Email address").fill(live_server.world.emails["analyst"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="API documentation").click()
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/portfolio" in p for p in paths), paths
        # "Try it out" as the signed-in analyst: the portfolio answers with the session, no token.
        block = page.locator(".opblock", has=page.locator('[data-path="/api/v1/portfolio"]')).first
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
        page.wait_for_selector(".live-responses-table .response-col_status", timeout=20_000)
        statuses = block.locator(".live-responses-table .response-col_status").all_inner_texts()
        assert any(s.strip().startswith("200") for s in statuses), statuses
    finally:
        context.close()
    assert not problems, problems
    assert [u for u in requested if not u.startswith(live_server.url)] == []
