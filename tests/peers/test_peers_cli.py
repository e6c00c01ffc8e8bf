"""``forewarn neighbours`` and ``forewarn deviants``: JSON on stdout, the lists on stderr, exit 2 on unknown codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.settings import get_settings
from tests.peers.conftest import Region


@pytest.fixture
def runner(region: Region, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[CliRunner]:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", region.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_neighbours_as_json_and_as_text(runner: CliRunner) -> None:
    done = runner.invoke(
        app,
        [
            "neighbours",
            "SIM00003",
            "--indicator",
            "sim_readmission_oe",
            "--k",
            "5",
            "--replicates",
            "20",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["code"] == "SIM00003" and payload["k"] == 5
    assert [len(x["neighbours"]) for x in payload["lists"]] == [5, 5]
    assert "CIPFA-style (fixed weights)" in done.stderr
    assert "outcome-specific (sim_readmission_oe)" in done.stderr
    assert "stays" in done.stderr


def test_deviants_for_one_organisation(runner: CliRunner) -> None:
    done = runner.invoke(app, ["deviants", "--indicator", "sim_timely_care", "--org", "SIM00003", "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert [g["code"] for g in payload["groups"]] == ["SIM00003"]
    assert "listed by name, not ranked" in done.stderr


def test_unknown_codes_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(app, ["neighbours", "NOPE"]).exit_code == 2
    done = runner.invoke(app, ["deviants", "--indicator", "nope", "--org", "SIM00003"])
    assert done.exit_code == 2 and "no indicator with code 'nope'" in done.stderr
    assert runner.invoke(app, ["deviants", "--indicator", "sim_timely_care", "--limit", "90"]).exit_code == 2


def test_neighbours_by_indicator_profile_on_request(runner: CliRunner) -> None:
    # The simulated context has numbers (staff, deprivation), so the profile list comes only with --profile.
    plain = runner.invoke(app, ["neighbours", "SIM00003", "--k", "4", "--replicates", "0", "--json"])
    assert [x["method"] for x in json.loads(plain.stdout)["lists"]] == ["fixed"]
    done = runner.invoke(
        app, ["neighbours", "SIM00003", "--k", "4", "--replicates", "10", "--profile", "--json"]
    )
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    fixed, profile = payload["lists"]
    assert profile["method"] == "profile" and len(profile["neighbours"]) == 4
    assert all(0 <= n["stability"] <= 1 for n in profile["neighbours"])
    assert 0 <= profile["set_stability"] <= 1 and 0 <= profile["period_jaccard"] <= 1
    shared = {n["organisation_id"] for n in fixed["neighbours"]} & {
        n["organisation_id"] for n in profile["neighbours"]
    }
    assert payload["profile_overlap"] == len(shared)
    assert "indicator profile (earliest periods" in done.stderr
    assert "in both the CIPFA-style and the profile list" in done.stderr
