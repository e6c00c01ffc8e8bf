"""``forewarn experiment`` end to end: create, design, allocate, start, analyse, show, list, with --json."""

from __future__ import annotations

import json

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from forewarn.cli.experiment import experiment_app
from forewarn.settings import get_settings
from tests.experiments.conftest import CODES, build_world, inject

app = typer.Typer()
app.add_typer(experiment_app, name="experiment")
runner = CliRunner()


@pytest.fixture
def cli_store(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    build_world(engine, seed=3)
    yield engine
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_experiment_from_the_command_line(cli_store: Engine) -> None:
    code, out, errors = run(
        "experiment", "create", "huddles", "--title", "Huddles", "--hypothesis", "Huddles shorten waits",
        "--outcome", "waits", "--design", "cluster", "--units", ",".join(CODES), "--analysis", "cluster_robust",
        "--minimum-effect", "0.4", "--start", "2024-01-01", "--end", "2024-12-31", "--owner", "analyst",
        "--strata", "region", "--by", "tester", "--json",
    )  # fmt: skip
    assert code == 0, errors
    assert json.loads(out)["status"] == "draft"
    code, out, errors = run(
        "experiment", "design", "huddles", "--cluster-size", "12", "--icc", "0.3", "--json"
    )
    assert code == 0, errors
    assert json.loads(out)["design_calculation"]["design_effect"] == pytest.approx(1 + 11 * 0.3)
    assert run("experiment", "start", "huddles")[0] == 1  # not allocated yet
    code, out, errors = run("experiment", "allocate", "huddles", "--seed", "42", "--json")
    assert code == 0, errors
    arms = json.loads(out)["units"]
    assert sorted(arms.values()).count("intervention") == 12
    assert run("experiment", "start", "huddles")[0] == 0
    assert run("experiment", "allocate", "huddles", "--seed", "43")[0] == 1  # fixed once started
    inject(cli_store, arms, effect=-5.0)
    code, out, errors = run("experiment", "analyse", "huddles", "--json")
    assert code == 0, errors
    result = json.loads(out)["results"][-1]
    assert result["result"]["ci_low"] < -5.0 < result["result"]["ci_high"]
    assert "padlock" in errors
    code, out, _ = run("experiment", "list", "--json")
    assert [r["code"] for r in json.loads(out)] == ["huddles"]
    assert json.loads(out)[0]["padlocks"] == result["padlocks"]
    code, out, _ = run("experiment", "show", "huddles", "--json")
    assert [e["kind"] for e in json.loads(out)["events"]] == [
        "created",
        "design",
        "allocated",
        "started",
        "analysed",
    ]
    assert run("experiment", "show", "nothing")[0] == 1
    # Issue 15: analysed again and published to the practice library, in one go.
    code, out, errors = run("experiment", "analyse", "huddles", "--publish", "--json")
    assert code == 0, errors
    published = json.loads(out)["results"][-1]["library_document_id"]
    assert isinstance(published, int) and f"/library/{published}" in errors
    assert json.loads(out)["events"][-1]["kind"] == "published"
    assert run("experiment", "analyse", "huddles", "--publish", "--audience", "organisation")[0] == 1
    _, out, _ = run("experiment", "show", "huddles", "--json")
    assert len(json.loads(out)["results"]) == 2  # the refused publication took its analysis with it


def test_a_staggered_adoption_from_the_command_line(cli_store: Engine) -> None:
    code, out, errors = run(
        "experiment", "create", "spread", "--title", "Spread", "--hypothesis", "Adopters improve",
        "--outcome", "waits", "--design", "staggered_did", "--units", ",".join(CODES), "--analysis",
        "staggered_did", "--minimum-effect", "0.5", "--start", "2024-01-01", "--end", "2024-12-31",
        "--owner", "analyst", "--treated", ",".join(CODES[:8]), "--adoption", f"{CODES[0]}=2024-07-01", "--json",
    )  # fmt: skip
    assert code == 0, errors
    body = json.loads(out)
    assert sorted(body["units"].values()).count("intervention") == 8
    assert run("experiment", "create", "bad", "--title", "x", "--hypothesis", "x", "--outcome", "waits",
               "--design", "staggered_did", "--units", "ORG00,ORG01", "--analysis", "staggered_did",
               "--minimum-effect", "0.5", "--start", "2024-01-01", "--end", "2024-12-31", "--owner", "a",
               "--treated", "ORG00", "--adoption", "ORG00=July")[0] == 1  # fmt: skip
    assert run("experiment", "start", "spread")[0] == 0
    code, out, errors = run("experiment", "analyse", "spread", "--json")
    assert code == 0, errors
    assert json.loads(out)["results"][-1]["method"] == "staggered_did"
