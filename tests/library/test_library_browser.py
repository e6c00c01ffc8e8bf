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


def test_an_analyst_uploads_a_pdf_links_it_and_finds_it(
    page: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    tmp_path: Any,
) -> None:
    """Create by upload (a refused encrypted file first: the error summary names the file), link the positive
    deviant it came from, find it by a word only its PDF's text holds; axe on the form with the file's error and
    on the document."""
    from tests.library.test_extract import encrypted, make_pdf

    good = tmp_path / "noon.pdf"
    good.write_bytes(make_pdf("Early pharmacy rounds let patients leave before noon."))
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted(make_pdf("Secret.")))
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/library/new")
    page.get_by_label("Document (optional)").set_input_files(str(locked))
    page.get_by_role("button", name="Save").click()
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible() and "locked.pdf: the PDF is encrypted" in summary.inner_text()
    assert_accessible(page)
    page.get_by_label("Document (optional)").set_input_files(str(good))
    page.get_by_label("Organisations it concerns (optional)").fill("PEER1")
    page.get_by_label("Indicators (optional)").fill("perf")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("heading", name="Discharge before noon").is_visible()
    assert "Bravo Peer Trust" in page.content() and "pharmacy rounds" in page.content()
    assert_accessible(page)
    page.goto(f"{live_server.url}/library")
    page.get_by_label("Search the library").fill("pharmacy")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name="Discharge before noon").is_visible()
    assert_accessible(page)
    assert page.errors == []
