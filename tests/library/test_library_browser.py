"""The library and the neighbours page in Chromium (Debian's, through Playwright): a member adds a note, finds it,
opens the page of their organisation's neighbours; axe-core finds no WCAG 2.2 AA violation on any of them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, LiveServer, axe_violations, browser, live_server, page  # noqa: F401
from tests.browser.test_journeys import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
    ),
]


def assert_accessible(page: Any) -> None:  # noqa: F811
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)


def test_a_member_adds_a_note_finds_it_and_sees_who_to_learn_from(page: Any, live_server: LiveServer) -> None:  # noqa: F811
    sign_in(page, live_server, "member")
    page.goto(f"{live_server.url}/library")
    assert_accessible(page)
    page.get_by_role("link", name="Add to the library").click()
    page.get_by_role("button", name="Save").click()  # empty: the error summary
    assert page.locator(".govuk-error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Title").fill("Handover huddles")
    page.get_by_label("Kind").select_option("case_study")
    page.get_by_label("Text").fill("A short huddle at handover names every patient at risk.")
    page.get_by_label("Indicators (optional)").fill("perf")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("heading", name="Handover huddles").is_visible()
    assert_accessible(page)
    page.goto(f"{live_server.url}/library")
    page.get_by_label("Search the library").fill("huddle")
    page.get_by_role("button", name="Search").click()
    assert page.locator("mark").first.inner_text().lower().startswith("huddle")  # huddles, stemmed
    assert_accessible(page)
    page.goto(f"{live_server.url}/organisations/{live_server.world.ids['OWN']}/neighbours")
    page.get_by_label("Also weight the context").select_option("perf")
    page.get_by_role("button", name="Show neighbours").click()
    assert page.get_by_role("heading", name="Who to learn from").is_visible()
    assert "Peer 1" in page.content() and "Bravo Peer" not in page.content()
    assert_accessible(page)
    assert page.errors == []
