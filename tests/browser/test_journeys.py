"""Journeys through the real app in Chromium, each page checked by axe-core for WCAG 2.2 AA (no violations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forewarn.access.principal import utc_now
from forewarn.accounts.totp import code_for_step, time_step
from tests.browser.conftest import LiveServer, axe_violations
from tests.web.world import PASSWORD

MAPPING = Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "mapping.yml"


def sign_in(page: Any, server: LiveServer, role: str) -> None:
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Email address").fill(server.world.emails[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/portfolio")


def assert_accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)


def test_sign_in_and_the_portfolio(page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/portfolio")
    assert page.url.startswith(f"{live_server.url}/sign-in")
    assert_accessible(page)
    page.get_by_role("button", name="Sign in").click()  # empty form: GOV.UK error summary, focused
    assert page.locator(".govuk-error-summary").is_visible()
    assert page.title().startswith("Error: ")
    assert_accessible(page)
    sign_in(page, live_server, "analyst")
    assert page.get_by_role("heading", name="Portfolio").is_visible()
    assert page.get_by_role("link", name="Delta Simulated Trust").is_visible()
    assert_accessible(page)
    # Filtering swaps the results in place with htmx and keeps the address shareable.
    page.get_by_label("Region").select_option("South")
    page.wait_for_url("**/portfolio?*region=South*")
    page.wait_for_function("document.querySelectorAll('#portfolio-results tbody tr').length === 1")
    assert page.locator("#portfolio-results").inner_text().count("Bravo Peer Trust") == 1
    assert page.errors == []


def test_an_organisation_page_draws_its_charts(page: Any, live_server: LiveServer) -> None:
    from tests.web.risk_world import store_risk_scores

    store_risk_scores(live_server.world, live_server.engine)  # issue 11: the page opens with its risk
    sign_in(page, live_server, "member")
    page.goto(f"{live_server.url}/organisations/{live_server.world.ids['OWN']}")
    why = page.get_by_role("region", name="Why it is on the watchlist")
    assert why.is_visible() and "12.0% (90% interval 8.0% to 18.0%)" in why.inner_text()
    assert why.get_by_role("link", name="The risk watchlist").is_visible()
    page.wait_for_function(
        "document.querySelectorAll('.fw-chart__canvas--drawn svg').length"
        " === document.querySelectorAll('.fw-chart__canvas').length"
    )
    assert page.locator(".fw-chart__canvas svg").count() == 2
    assert page.locator(".fw-chart__canvas svg .mark-symbol path").count() >= 24  # every point is drawn
    assert_accessible(page)
    page.goto(f"{live_server.url}/indicators/perf")
    page.wait_for_selector(".fw-chart__canvas--drawn svg")
    assert_accessible(page)
    assert page.errors == []


def test_charts_without_javascript_are_server_drawn_svg(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server, "member")
        page.goto(f"{live_server.url}/organisations/{live_server.world.ids['OWN']}")
        images = page.locator("img.fw-chart__img")
        assert images.count() == 2
        for i in range(2):
            images.nth(i).scroll_into_view_if_needed()
            page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle()
            )
            assert images.nth(i).get_attribute("alt").startswith("XmR chart of")
    finally:
        context.close()


def test_a_survey_answered_through_a_token_link(page: Any, live_server: LiveServer) -> None:
    link = f"{live_server.url}/survey/{live_server.world.tokens['fresh']}"
    page.goto(link)
    assert_accessible(page)
    page.get_by_role("button", name="Start now").click()
    assert page.get_by_text("Part 1 of 8").is_visible()
    assert_accessible(page)
    for part in range(1, 9):
        legends = page.locator("legend")
        for i in range(legends.count()):
            page.locator(".govuk-fieldset").nth(i).get_by_label("Agree", exact=True).check()
        name = "Continue" if part < 8 else "Check your answers"
        page.get_by_role("button", name=name).click()
    assert page.get_by_role("heading", name="Check your answers before submitting").is_visible()
    assert page.get_by_text("Not answered").count() == 0
    assert_accessible(page)
    page.get_by_role("button", name="Submit answers").click()
    assert page.get_by_role("heading", name="Answers sent").is_visible()
    assert_accessible(page)
    page.goto(link)
    assert page.get_by_text("already been used").is_visible()
    assert page.errors == []


def test_an_import_with_errors_is_shown_row_by_row(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    bad = tmp_path / "returns.csv"
    bad.write_text(
        "period,org_code,org_name,attendances,breaches\n2020-01-01,AAA,Alpha,1000,100\nsoon,BBB,Beta,many,5\n",
        encoding="utf-8",
    )
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/import")
    assert_accessible(page)
    page.get_by_label("File to import").set_input_files(str(bad))
    page.get_by_label("Mapping file").set_input_files(str(MAPPING))
    page.get_by_role("button", name="Check the file").click()
    assert page.get_by_role("heading", name="The file has problems").is_visible()
    table = page.locator("#problems")
    assert table.locator("tbody tr").count() >= 2
    assert "soon" in table.inner_text() and "many" in table.inner_text()
    assert table.locator("tbody tr td").first.inner_text() == "3"
    assert_accessible(page)


def test_the_accessibility_check_would_catch_a_violation(page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/sign-in")
    page.evaluate("document.querySelector('label[for=email]').remove()")
    violations = axe_violations(page)
    assert any(v.startswith("label ") for v in violations), violations


def test_two_step_sign_in_set_up_then_used(page: Any, live_server: LiveServer) -> None:
    """An analyst sets up two-step sign-in from the key the page shows, signs out, and signs in with a code."""
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/account")
    page.get_by_role("link", name="set up or change two-step sign-in").click()
    assert_accessible(page)
    page.get_by_role("button", name="Set up two-step sign-in").click()
    key = page.locator("#two-step-key").inner_text()
    assert_accessible(page)
    page.get_by_label("Code from your app").fill(code_for_step(key, time_step(utc_now())))
    page.get_by_role("button", name="Turn two-step sign-in on").click()
    assert page.get_by_text("Two-step sign-in is on").first.is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?notice=signed-out")  # signing out lands on the sign-in page
    page.wait_for_load_state("load")
    page.get_by_label("Email address").fill(live_server.world.emails["analyst"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/sign-in/code*")
    assert_accessible(page)
    # The code of the next step: the one used to turn it on cannot be used again.
    page.get_by_label("Code").fill(code_for_step(key, time_step(utc_now()) + 1))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/portfolio")
    assert page.errors == []
