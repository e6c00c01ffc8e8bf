"""``forewarn case``: the case's life from the command line, JSON out, errors as messages with exit code 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.settings import get_settings
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store.database import make_engine


@pytest.fixture
def runner(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FOREWARN_IMPORTED_BY", "cli-analyst")
    get_settings.cache_clear()
    out = tmp_path / "sim"
    simulate(out, SimulationParameters(n_organisations=40, n_years=3, seed=4))
    engine = make_engine(database_url)
    from forewarn.store import migrate

    migrate.upgrade(engine)
    load(engine, out, imported_by="tests")
    engine.dispose()
    yield CliRunner()
    get_settings.cache_clear()


def _ok(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_case_on_the_command_line(runner: CliRunner) -> None:
    opened = _ok(
        runner,
        "case",
        "open",
        "SIM00003",
        "--support",
        "enforcement",
        "--owner",
        "Ops",
        "--concern",
        "Outlier",
    )
    case_id = str(opened["result"])  # type: ignore[index]
    _ok(runner, "case", "milestone", case_id, "Plan agreed", "--due", "2020-09-01")
    _ok(runner, "case", "exit", case_id, "sim_timely_care", "--at-least", "0.6", "--months", "3")
    _ok(runner, "case", "note", case_id, "Board met", "--progress")
    _ok(
        runner,
        "case",
        "evidence",
        case_id,
        "--label",
        "risk score",
        "--value",
        "0.31",
        "--as-of",
        "2021-06-30",
    )
    _ok(runner, "case", "intervene", case_id, "--start", "2020-04-10", "--indicator", "sim_timely_care")
    _ok(runner, "case", "withdraw", case_id, "--end", "2021-04-01")
    shown = _ok(runner, "case", "show", case_id, "--outcome")
    case = shown["case"]  # type: ignore[index]
    assert case["support"] == "enforcement" and case["withdrawal_date"] == "2021-04-01"
    assert case["exit_criteria"][0]["indicator_code"] == "sim_timely_care"
    assert any(e["label"] == "risk score" and e["pulled_by"] == "cli-analyst" for e in case["evidence"])
    assert shown["outcome"]["effects"][0]["n_comparison"] == 5  # type: ignore[index]
    (watched,) = _ok(runner, "case", "follow-up")  # type: ignore[misc]
    assert watched["withdrawal"] == "2021-04-01" and watched["months_followed"] == 8
    _ok(runner, "case", "close", case_id, "--note", "done")
    listed = _ok(runner, "case", "list")
    assert [c["status"] for c in listed] == ["closed"]  # type: ignore[union-attr]
    again = runner.invoke(app, ["case", "note", case_id, "late"])
    assert again.exit_code == 1 and "is closed" in again.stderr
    missing = runner.invoke(app, ["case", "show", "999"])
    assert missing.exit_code == 1 and "no case 999" in missing.stderr
    both = runner.invoke(app, ["case", "exit", case_id, "x", "--at-least", "1", "--at-most", "2"])
    assert both.exit_code == 2
