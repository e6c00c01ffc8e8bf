"""``forewarn psychometrics`` on bad input behaves as the other analyst tools: options that do not fit the file
exit 2, problems in its cells exit 1, and every problem names the file, row, column and what is wrong (there is
no mapping file here, so no message speaks of one). Registered as :mod:`forewarn.cli` registers it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from forewarn.cli.survey import psychometrics_command

app = typer.Typer(pretty_exceptions_enable=False)
app.command("psychometrics")(psychometrics_command)
app.command("other")(lambda: None)  # two commands, so "psychometrics" is named on the command line
runner = CliRunner()


@pytest.fixture
def teams(tmp_path: Path) -> Path:
    path = tmp_path / "teams.csv"
    path.write_text("team,q1,q2,q3\nnorth,1,2,3\nnorth,2,2,2\nsouth,4,4,5\n", encoding="utf-8")
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["psychometrics", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def test_a_column_not_in_the_header_exits_2_naming_row_column_and_problem(teams: Path) -> None:
    code, _, errors = run(teams, "--group-col", "tema", "--items", "q1,Q2,q9", "--resamples", "0")
    assert code == 2
    header = "(the header has 'team', 'q1', 'q2', 'q3')"
    assert (
        f"teams.csv, row 1, column 'tema': --group-col names a column that is not in the header; did you mean "
        f"'team'? {header}" in errors
    )
    assert (
        f"teams.csv, row 1, column 'Q2': --items names a column that is not in the header; did you mean 'q2'? {header}"
        in errors
    )
    assert "teams.csv, row 1, column 'q9': --items names a column that is not in the header" in errors
    assert "mapping" not in errors
    assert "teams.csv: 3 problem(s) with the options; nothing was computed" in errors


def test_every_option_problem_is_listed_at_once_and_as_json(teams: Path) -> None:
    code, out, errors = run(teams, "--group-col", "team", "--items", "q1,q4", "--reverse", "q3", "--json")
    assert code == 2
    payload = json.loads(out)
    assert payload["ok"] is False
    assert payload["exit_code"] == 2
    assert [(p["row"], p["column"]) for p in payload["problems"]] == [(None, None), (1, "q4")]
    assert payload["problems"][0]["message"] == "--reverse names columns that are not among the items: q3"
    assert "teams.csv: --reverse names columns that are not among the items: q3" in errors


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, errors = run(tmp_path / "nope.csv", "--group-col", "team", "--items", "q1")
    assert code == 2
    assert f"nope.csv: file not found: {tmp_path / 'nope.csv'}" in errors


def test_bad_answers_still_exit_1(teams: Path) -> None:
    teams.write_text("team,q1\nnorth,7\n", encoding="utf-8")
    code, _, errors = run(teams, "--group-col", "team", "--items", "q1")
    assert code == 1
    assert (
        "teams.csv, row 2, column 'q1': not an answer: expected a whole number from 1 to 5 (value '7')"
        in errors
    )
