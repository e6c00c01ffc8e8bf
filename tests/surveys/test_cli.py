"""A survey run end to end from the command line: create, open, tokens, answers, an upload, close, results with
suppression; and the analyst's ``psychometrics`` command on a small file worked by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from forewarn.cli.survey import psychometrics_command, survey_app
from forewarn.settings import get_settings
from forewarn.surveys.responses import submit_with_token
from tests.surveys.conftest import acquire_answers, add_organisations

app = typer.Typer()
app.add_typer(survey_app, name="survey")
app.command("psychometrics")(psychometrics_command)
runner = CliRunner()


@pytest.fixture
def cli_store(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    add_organisations(engine)
    return engine


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_survey_end_to_end(cli_store: Engine, tmp_path: Path) -> None:
    code, _, errors = run(
        "survey", "create", "Spring 2026", "--orgs", "AAA,BBB", "--orgs", "CCC", "--by", "admin"
    )
    assert code == 0, errors
    assert "wave 1 'Spring 2026' created (draft) for 3 organisation(s)" in errors
    assert run("survey", "results", "Spring 2026")[0] == 1, "no results for a wave that is not closed"
    assert run("survey", "open", "Spring 2026")[0] == 0

    tokens_file = tmp_path / "tokens.csv"
    code, _, errors = run(
        "survey", "tokens", "Spring 2026", "--per-org", "6", "--orgs", "AAA,CCC", "-o", str(tokens_file)
    )
    assert code == 0, errors
    assert "12 tokens issued for 2 organisation(s)" in errors
    tokens = list(csv.DictReader(tokens_file.open(encoding="utf-8")))
    assert [t["org_code"] for t in tokens] == ["AAA"] * 6 + ["CCC"] * 6
    assert run("survey", "tokens", "Spring 2026", "-n", "1", "-o", str(tokens_file))[0] == 1, (
        "never overwrites"
    )
    aaa_scores = [5, 4, 4, 3, 3, 5]
    for token, score in zip([t["token"] for t in tokens if t["org_code"] == "AAA"], aaa_scores, strict=True):
        submit_with_token(cli_store, token, acquire_answers(score))
    ccc_token = next(t["token"] for t in tokens if t["org_code"] == "CCC")
    submit_with_token(cli_store, ccc_token, acquire_answers(1))

    export = tmp_path / "bbb_export.csv"
    export.write_text(
        "Respondent,org_code,Q1,acq_2,acq_3,acq_4\n" + "".join(f"r{i},BBB,2,2,2,4\n" for i in range(5)),
        encoding="utf-8",
    )
    code, out, errors = run("survey", "import", "Spring 2026", str(export), "--json")
    assert code == 1
    assert json.loads(out)["report"]["problems"][0]["column"] == "Respondent"
    args = (
        "survey",
        "import",
        "Spring 2026",
        str(export),
        "--map-column",
        "Q1=acq_1",
        "--ignore-column",
        "Respondent",
    )
    code, _, errors = run(*args)
    assert code == 0, errors
    assert "5 responses added" in errors
    assert "already imported" in run(*args)[2]

    code, out, _ = run("survey", "status", "Spring 2026", "--json")
    assert json.loads(out)["responses"] == {"AAA": 6, "BBB": 5, "CCC": "<5"}
    assert run("survey", "close", "Spring 2026")[0] == 0

    table = tmp_path / "results.csv"
    code, out, errors = run(
        "survey", "results", "Spring 2026", "--resamples", "0", "--json", "-o", str(table)
    )
    assert code == 0, errors
    results = json.loads(out)
    cells = {(c["group"], c["dimension"]): c for c in results["analysis"]["cells"]}
    assert cells[("AAA", "acquire")]["n"] == 6
    assert cells[("AAA", "acquire")]["mean"] == pytest.approx(4.0, abs=1e-12)
    assert cells[("AAA", "acquire")]["sd"] == pytest.approx(math.sqrt(0.8), abs=1e-12)
    assert (cells[("BBB", "acquire")]["n"], cells[("BBB", "acquire")]["mean"]) == (
        5,
        pytest.approx(2.0, abs=1e-12),
    )
    assert cells[("CCC", "acquire")] | {"rwg_j": None} == {
        "group": "CCC",
        "dimension": "acquire",
        "suppressed": True,
        "n": "<5",
        "mean": None,
        "sd": None,
        "ci_lower": None,
        "ci_upper": None,
        "rwg_j": None,
        "awg": None,
        "verdict": None,
        "reason": None,
    }
    assert results["instrument"] == "forewarn_lc@1.0"
    exported = {(r["group"], r["dimension"]): r for r in csv.DictReader(table.open(encoding="utf-8"))}
    assert exported[("CCC", "acquire")]["n"] == "<5"
    assert exported[("CCC", "acquire")]["mean"] == ""
    assert float(exported[("AAA", "acquire")]["mean"]) == pytest.approx(4.0)

    code, out, _ = run("survey", "results", "Spring 2026", "--resamples", "0")
    assert code == 0
    assert "suppressed" in out
    code, out, _ = run("survey", "list", "--json")
    assert [w["status"] for w in json.loads(out)] == ["closed"]


def test_survey_commands_explain_refusals(cli_store: Engine) -> None:
    code, _, errors = run("survey", "create", "w", "--orgs", "AAA,NOPE")
    assert code == 1
    assert "unknown organisation code(s): NOPE" in errors
    code, _, errors = run("survey", "create", "w", "--orgs", "AAA", "--instrument", "missing.yml")
    assert code == 2
    assert "instrument file not found" in errors
    assert run("survey", "open", "nope")[0] == 1


def test_psychometrics_of_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["team,q1,q2,q3"]
    lines += [f"north,{s},{s},{6 - s}" for s in (5, 4, 4, 3, 3, 5)]  # scale mean of q1, q2 and reversed q3: s
    lines += [f"south,{s},{s},{6 - s}" for s in (2, 2, 2, 2, 1)]
    lines += ["tiny,1,1,5", "tiny,2,2,4"]
    data = tmp_path / "teams.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_csv = tmp_path / "groups.csv"
    args = [
        "psychometrics",
        str(data),
        "--group-col",
        "team",
        "--items",
        "q1,q2,q3",
        "--reverse",
        "q3",
        "--resamples",
        "0",
    ]
    code, out, errors = run(*args, "--json", "--output", str(out_csv))
    assert code == 0, errors
    result = json.loads(out)
    cells = {c["group"]: c for c in result["analysis"]["cells"]}
    assert (cells["north"]["n"], cells["south"]["n"], cells["tiny"]["n"]) == (6, 5, "<5")
    assert cells["north"]["mean"] == pytest.approx(4.0, abs=1e-12)
    assert cells["south"]["mean"] == pytest.approx(1.8, abs=1e-12)
    assert cells["south"]["sd"] == pytest.approx(
        math.sqrt(0.2), abs=1e-12
    )  # deviations .2 x4 and -.8: 0.8 / 4
    assert cells["tiny"]["mean"] is None
    scale = result["analysis"]["dimensions"][0]
    assert (scale["groups_shown"], scale["respondents"]) == (2, 11)
    assert [i["reverse_keyed"] for i in scale["items"]] == [False, False, True]
    assert {r["group"]: r["n"] for r in csv.DictReader(out_csv.open(encoding="utf-8"))} == {
        "north": "6",
        "south": "5",
        "tiny": "<5",
    }

    code, out, errors = run(*args)
    assert code == 0, errors
    assert {r["group"]: r["n"] for r in csv.DictReader(out.splitlines())} == {
        "north": "6",
        "south": "5",
        "tiny": "<5",
    }
    assert "Reliability and aggregation" in errors, (
        "without --output the summary goes to stderr, the table to stdout"
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("team,q1,q2,q3\nnorth,1,6,x\n,3,3,3\n", encoding="utf-8")
    code, _, errors = run("psychometrics", str(bad), "--group-col", "team", "--items", "q1,q2,q3")
    assert code == 1
    assert (
        "bad.csv, row 2, column 'q2': not an answer: expected a whole number from 1 to 5 (value '6')"
        in errors
    )
    assert (
        "bad.csv, row 2, column 'q3': not an answer: expected a whole number from 1 to 5 (value 'x')"
        in errors
    )
    assert "bad.csv, row 3, column 'team': missing group" in errors
    code, _, errors = run("psychometrics", str(data), "--group-col", "team", "--items", "q1,q4")
    assert code == 2  # an option that does not fit the file, as in the other analyst tools
    assert "row 1, column 'q4': --items names a column that is not in the header" in errors
    code, _, errors = run(
        "psychometrics", str(data), "--group-col", "team", "--items", "q1", "--reverse", "q9"
    )
    assert code == 2
    assert "--reverse names columns that are not among the items: q9" in errors


def test_the_commands_give_the_services_the_process_settings(
    cli_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The survey services read no settings: the commands pass FOREWARN_MIN_GROUP_SIZE as the floor and
    FOREWARN_IMPORTED_BY as the actor when --by is not given."""
    monkeypatch.setenv("FOREWARN_MIN_GROUP_SIZE", "8")
    monkeypatch.setenv("FOREWARN_IMPORTED_BY", "survey office")
    get_settings.cache_clear()
    code, _, errors = run("survey", "create", "Autumn", "--orgs", "AAA", "--min-group-size", "7")
    assert code == 1 and "below the minimum group size setting (8)" in errors
    code, _, errors = run("survey", "create", "Autumn", "--orgs", "AAA")
    assert code == 0 and "groups under 8 suppressed" in errors, errors
    assert run("survey", "open", "Autumn", "--by", "admin")[0] == 0
    code, listed, _ = run("survey", "list", "--json")
    (wave,) = json.loads(listed)
    assert (wave["min_group_size"], wave["created_by"]) == (8, "survey office")
    with cli_store.connect() as conn:
        opened_by = conn.exec_driver_sql("SELECT opened_by FROM survey_waves").scalar_one()
    assert opened_by == "admin"
    get_settings.cache_clear()
