"""The case journey in Chromium: an analyst opens a case, records an intervention, sets a milestone and an exit
criterion (one refused with its field's error first), sees the intervention on the organisation's charts (its SPC
charts and an indicator's funnel history),
withdraws it and closes the case; the organisation's member sees only their own case (another organisation's is
neither listed nor opened: 404) and adds a progress note;
axe-core finds no WCAG 2.2 AA violation on any of the pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, LiveServer
from tests.browser.test_journeys import assert_accessible, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
    ),
]


def test_a_case_from_opening_to_closing_in_the_browser(
    page: Any, browser: Any, live_server: LiveServer
) -> None:
    url = live_server.url
    sign_in(page, live_server, "analyst")
    page.goto(f"{url}/cases")
    assert page.get_by_role("heading", name="Cases").is_visible()
    assert_accessible(page)
    page.get_by_label("Organisation code").fill("OWN1")
    page.get_by_label("Support").select_option("development")
    page.get_by_label("Owner").fill("Dana Analyst")
    page.get_by_label("Why the organisation is of concern").fill("Four-hour waits falling for a year")
    page.get_by_role("button", name="Open the case").click()
    page.wait_for_url("**/cases/*")
    case_url = page.url
    assert page.get_by_text("Four-hour waits falling for a year").is_visible()
    assert_accessible(page)
    page.get_by_label("Start (YYYY-MM-DD)").fill("2021-02-01")
    page.get_by_label("Targeted indicator codes").fill("perf")
    page.get_by_role("button", name="Record the start").click()
    page.wait_for_url(case_url)
    assert page.locator("#interventions").inner_text().startswith("development from 2021-02-01 to now")
    assert_accessible(page)
    case_id = case_url.rsplit("/", 1)[1]

    # The plan: an exit criterion refused with its field's error (and the error summary accessible), then set;
    # a milestone.
    page.get_by_label("Indicator code").fill("perf")
    page.get_by_label("Threshold").fill("ninety")
    page.get_by_role("button", name="Add the exit criterion").click()
    summary = page.locator(".govuk-error-summary")
    assert "The threshold must be a number" in summary.inner_text()
    assert_accessible(page)
    summary.get_by_role("link", name="The threshold must be a number, such as 0.8").click()
    assert page.evaluate("document.activeElement.id") == "threshold"
    page.get_by_label("Threshold").fill("0.9")
    page.get_by_role("button", name="Add the exit criterion").click()
    page.wait_for_url(case_url)
    assert page.get_by_text("Seen within four hours: mean of the latest 3 values >= 0.9").is_visible()
    page.get_by_label("Milestone", exact=True).fill("Action plan agreed")
    page.get_by_label("Due (YYYY-MM-DD, optional)").fill("2021-04-01")
    page.get_by_role("button", name="Add the milestone").click()
    page.wait_for_url(case_url)
    assert page.get_by_text("Action plan agreed, due 2021-04-01").is_visible()
    assert_accessible(page)

    # On the organisation's charts at once: the intervention's band and label, drawn by Vega in the page.
    page.goto(f"{url}/organisations/{live_server.world.ids['OWN']}")
    label = f"development (case {case_id})"
    chart = page.locator('[data-vega-spec="spec-spc-perf"]')
    chart.locator("svg").first.wait_for()
    assert chart.locator("svg text", has_text=label).count() == 1
    assert_accessible(page)
    # And on the indicator's funnel history, beside its SPC chart.
    page.goto(f"{url}/organisations/{live_server.world.ids['OWN']}/indicators/perf")
    history = page.locator('[data-vega-spec="spec-funnel-history-perf"]')
    history.locator("svg").first.wait_for()
    assert history.locator("svg text", has_text=label).count() == 1
    assert_accessible(page)
    page.goto(case_url)
    page.get_by_label("End of the intervention (YYYY-MM-DD)").fill("2021-11-01")
    page.get_by_role("button", name="Record the withdrawal").click()
    page.wait_for_url(case_url)
    assert "to 2021-11-01" in page.locator("#interventions").inner_text()

    # A case on another organisation, which the member must not see.
    page.goto(f"{url}/cases")
    page.get_by_label("Organisation code").fill("PEER1")
    page.get_by_label("Support").select_option("watch")
    page.get_by_label("Owner").fill("Dana Analyst")
    page.get_by_label("Why the organisation is of concern").fill("Falls rising at the peer")
    page.get_by_role("button", name="Open the case").click()
    page.wait_for_url("**/cases/*")
    other_case_url = page.url
    assert other_case_url != case_url

    # The member of the organisation sees this case, and only this one, and adds a progress note.
    member_context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    member = member_context.new_page()
    try:
        sign_in(member, live_server, "member")
        member.goto(f"{url}/cases")
        links = member.locator("table a")
        assert links.count() == 1
        assert case_url.endswith(str(links.first.get_attribute("href")))
        assert "Falls rising at the peer" not in member.locator("main").inner_text()
        refused = member.goto(other_case_url)
        assert refused is not None and refused.status == 404
        assert "Falls rising at the peer" not in member.content()
        member.goto(f"{url}/cases")
        links.first.click()
        member.wait_for_url(case_url)
        member.get_by_label("Add a progress note").fill("The new rota started in March.")
        member.get_by_role("button", name="Add the note").click()
        member.wait_for_url(case_url)
        assert "The new rota started in March." in member.locator("#notes").inner_text()
        assert member.get_by_role("button", name="Close the case").count() == 0
        assert_accessible(member)
    finally:
        member_context.close()

    page.goto(case_url)
    assert "Progress" in page.locator("#notes").inner_text()
    page.get_by_label("Why it is closed").fill("Exit criteria met")
    page.get_by_role("button", name="Close the case").click()
    page.wait_for_url(case_url)
    assert page.get_by_text("closed: Exit criteria met").is_visible()
    assert_accessible(page)
    assert page.errors == []
