"""The "who to learn from now" panel in Chromium: a member whose trust drifts sees it on their organisation's
page, follows it to a deviant's practice note; axe-core finds no WCAG 2.2 AA violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, LiveServer, axe_violations, browser, live_server, page  # noqa: F401
from tests.browser.test_journeys import sign_in
from tests.peers.test_learn_from_web import add_practice_note, add_rising_risk

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
    ),
]


def test_a_member_sees_who_to_learn_from_now(page: Any, live_server: LiveServer) -> None:  # noqa: F811
    own = live_server.world.ids["OWN"]
    add_rising_risk(live_server.engine, own)
    add_practice_note(live_server.engine, "HIDE1")
    sign_in(page, live_server, "member")
    page.goto(f"{live_server.url}/organisations/{own}")
    panel = page.locator("#learn-from")
    assert panel.get_by_role("heading", name="Who to learn from now").is_visible()
    assert "Neighbour 1" in panel.inner_text() and "Charlie Hidden" not in page.content()
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
    panel.get_by_role("link", name="Triage at the door (everyone)").click()
    assert page.get_by_role("heading", name="Triage at the door (everyone)").is_visible()
    assert page.errors == []
