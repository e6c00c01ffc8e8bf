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
