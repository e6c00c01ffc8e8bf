"""Issue 15 in Chromium: an experiment registered, allocated, started and analysed (through the registry, as the
command line does), then found and read on its pages by an analyst and by a member; axe finds no violation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from forewarn.experiments.analysis import analyse_experiment
from forewarn.experiments.design import allocate_experiment
from forewarn.experiments.registry import (
    ExperimentSpec,
    create_experiment,
    edit_experiment,
    start_experiment,
)
from tests.browser.conftest import LiveServer
from tests.browser.test_journeys import assert_accessible, sign_in


def _register(server: LiveServer) -> None:
    engine = server.engine
    create_experiment(
        engine,
        ExperimentSpec(
            code="huddles",
            title="Daily safety huddles",
            hypothesis="Daily huddles raise performance",
            outcome_indicator="perf",
            design="cluster",
            units=["OWN1", "PEER1", "HIDE1", "SIM1"],
            analysis="cluster_robust",
            minimum_effect=0.5,
            planned_start=dt.date(2021, 1, 1),
            planned_end=dt.date(2021, 12, 31),
            owner="the regulator's analysts",
            adapted_practice="Huddles as a peer trust runs them",
        ),
        by="analyst",
    )
    allocate_experiment(engine, "huddles", seed=11, by="analyst")
    start_experiment(engine, "huddles", by="analyst")
    edit_experiment(
        engine, "huddles", {"planned_end": dt.date(2022, 3, 31)}, by="analyst", reason="late data"
    )
    analyse_experiment(engine, "huddles", by="analyst")


def test_an_analyst_reads_an_experiment(page: Any, live_server: LiveServer) -> None:
    _register(live_server)
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/experiments")
    assert page.get_by_role("heading", name="Experiments").is_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Daily safety huddles").click()
    page.wait_for_url(f"{live_server.url}/experiments/huddles")
    assert page.get_by_role("heading", name="Daily safety huddles").is_visible()
    body = page.locator("main").inner_text()
    assert "of 5 padlocks" in body
    assert "locked at the start" in body
    assert "deviation" in body and "late data" in body
    assert "Bravo Peer" not in body and "PEER1" in body  # staff see codes
    assert_accessible(page)
    assert page.errors == []


def test_a_member_sees_others_under_pseudonyms(page: Any, live_server: LiveServer) -> None:
    _register(live_server)
    sign_in(page, live_server, "member")
    page.goto(f"{live_server.url}/experiments/huddles")
    body = page.locator("main").inner_text()
    assert "OWN1" in body and "Peer 1" in body and "another organisation" in body
    for secret in ("PEER1", "HIDE1", "SIM1", "Bravo Peer", "Charlie Hidden", "Delta Simulated"):
        assert secret not in body
    assert_accessible(page)


def test_the_whole_journey_in_the_browser(page: Any, live_server: LiveServer) -> None:
    """Issue 15's journey through the pages: register, design, allocate, start, analyse and publish, read the
    result with its padlocks and find it in the practice library; axe on every page and error state."""
    url = live_server.url
    sign_in(page, live_server, "analyst")
    page.goto(f"{url}/experiments")
    page.get_by_role("link", name="Register an experiment").click()
    page.wait_for_url(f"{url}/experiments/new")
    assert_accessible(page)
    page.get_by_role("button", name="Register the experiment").click()  # empty: the error summary, by field
    assert page.locator(".govuk-error-summary").is_visible()
    assert page.locator('.govuk-error-summary a[href="#hypothesis"]').is_visible()
    assert_accessible(page)
    page.get_by_label("Title").fill("Night-time safety huddles")
    page.get_by_label("Hypothesis").fill("Night huddles raise performance")
    page.get_by_label("The units taking part").fill("OWN1, PEER1, HIDE1, SIM1")
    page.get_by_label("Outcome indicator").fill("perf")
    page.get_by_label("Design", exact=True).select_option("cluster")
    page.get_by_label("Pre-registered analysis").select_option("cluster_robust")
    page.get_by_label("Minimum effect of interest").fill("0.5")
    page.get_by_label("Owner", exact=True).fill("Quality team")
    page.get_by_label("Planned start").fill("2021-01-01")
    page.get_by_label("Planned end").fill("2021-12-31")
    page.get_by_role("button", name="Register the experiment").click()
    page.wait_for_url(f"{url}/experiments/night-time-safety-huddles")
    assert_accessible(page)

    page.get_by_label("Members in each cluster").fill("30")
    page.get_by_label("Intra-cluster correlation (optional)").fill("0.05")
    page.get_by_role("button", name="Calculate the power").click()
    page.wait_for_url("**/experiments/night-time-safety-huddles#design")
    assert "Power " in page.locator("main").inner_text()
    page.get_by_label("Seed").fill("not a number")
    page.get_by_role("button", name="Allocate").click()
    assert page.locator('.govuk-error-summary a[href="#seed"]').is_visible()
    assert_accessible(page)
    page.get_by_label("Seed").fill("20210101")
    page.get_by_role("button", name="Allocate").click()
    page.wait_for_url("**#allocation")
    text = " ".join(page.locator("main").inner_text().split())
    assert "Randomised with seed 20210101 (forewarn-sha256-blocks, version 1) by analyst@" in text
    page.get_by_role("button", name="Start the experiment").click()
    page.wait_for_url("**#start")
    body = page.locator("main").inner_text()
    assert "locked at the start" in body

    page.get_by_label("Publish the result to the practice library").check()
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_url("**#results")
    body = page.locator("main").inner_text()
    assert "of 5 padlocks" in body and "cluster robust" in body
    assert_accessible(page)
    page.get_by_role("link", name="Published").click()
    page.wait_for_url(f"{url}/library/*")
    assert page.get_by_role("heading", name="Experiment result: Night-time safety huddles").is_visible()
    assert "of 5 padlocks" in page.locator("main").inner_text()
    assert_accessible(page)
    page.goto(f"{url}/library?q=night+huddles")
    assert page.get_by_role("link", name="Experiment result: Night-time safety huddles").is_visible()
    assert page.errors == []
