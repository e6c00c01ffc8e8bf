"""The `forewarn` command: exit codes, messages on stderr, JSON on stdout, and the demo end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from tests.conftest import FIXTURES

MAPPING = FIXTURES / "ingest" / "mapping.yml"
HEADER = "period,org_code,org_name,attendances,breaches\n"


def test_import_prints_json_and_is_idempotent(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_text(HEADER + "2020-01-01,AAA,Alpha,1000,100\n")
    first = runner.invoke(app, ["import", str(path), "--mapping", str(MAPPING), "--json"])
    assert first.exit_code == 0, first.output
    payload = json.loads(first.stdout)
    assert payload["ok"] is True
    assert payload["result"]["observations_inserted"] == 2
    again = runner.invoke(app, ["import", str(path), "--mapping", str(MAPPING)])
    assert again.exit_code == 0
    assert "already imported as batch 1 with this mapping; nothing changed" in again.stderr


def test_bad_import_lists_every_problem_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "2020-01-01,,Nameless,1000,100\n2020-99-01,BBB,Beta,10,1\n")
    result = runner.invoke(app, ["import", str(path), "--mapping", str(MAPPING), "--json"])
    assert result.exit_code == 1
    assert "bad.csv, row 2, column 'org_code': missing organisation code" in result.stderr
    assert (
        "bad.csv, row 3, column 'period': not a date (expected YYYY-MM-DD) (value '2020-99-01')"
        in result.stderr
    )
    assert "2 problem(s) found; nothing was written" in result.stderr
    report = json.loads(result.stdout)["report"]
    assert [p["row"] for p in report["problems"]] == [2, 3]


def test_unusable_mapping_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yml"
    mapping.write_text(
        "version: 1\ndataset: {code: x, name: X}\ncolumns: {a: text}\norganisation: {code: b}\n"
    )
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    result = runner.invoke(app, ["import", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 2
    assert "organisation.code refers to column 'b', which is not declared in `columns`" in result.stderr


def test_export_writes_the_observations_back(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_text(HEADER + "2020-01-01,AAA,Alpha,1000,100\n2020-02-01,AAA,Alpha,800,200\n")
    assert runner.invoke(app, ["import", str(path), "--mapping", str(MAPPING)]).exit_code == 0
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"perf.{suffix}"
        result = runner.invoke(app, ["export", "perf", "-o", str(out)])
        assert result.exit_code == 0, result.output
        frame = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
        assert frame["value"].to_list() == pytest.approx([0.9, 0.75])
        assert frame["numerator"].to_list() == [900.0, 600.0]
    unknown = runner.invoke(app, ["export", "nope", "-o", str(tmp_path / "x.csv")])
    assert unknown.exit_code == 1
    assert "unknown indicator 'nope'" in unknown.stderr


@pytest.mark.slow
def test_demo_imports_the_bundled_data_scans_and_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    datasets = {d["code"]: d for d in payload["datasets"]}
    assert datasets["nhs_ae"]["organisations"] == 274
    assert datasets["nhs_ae"]["periods"] == 36
    assert datasets["la_public_health"]["organisations"] == 343
    assert payload["scan"]["series_scanned"] > 5000
    # Issue 11: the risk model backtested, trained and scored on the A&E data and the simulated region, both
    # printed with the soft-measures sentence, and stored (the web app's /risk and /risk/backtest).
    runs = {run["dataset"]: run for run in payload["risk"]}
    assert list(runs) == ["nhs_ae", "simulated"]
    for run in runs.values():
        figures = run["backtest"]
        assert 0.5 < figures["auc"] <= 1 and figures["auc_ci"][0] <= figures["auc"] <= figures["auc_ci"][1]
        assert figures["n_events"] > 0 and run["scored"] > 0 and len(run["riskiest"]) == 3
        assert figures["soft_measures_sentence"] in result.stderr
        assert f"{run['scored']} organisations scored as of {run['as_of']}" in result.stderr
    assert runs["nhs_ae"]["backtest"]["outcome"].startswith("ae_4h_type1 below 0.95")
    assert "latent_truth" in runs["simulated"]["backtest"]["baselines"]  # the ceiling beside the model
    assert runs["simulated"]["backtest"]["soft_measures"]["delta_ci"] is not None
    assert runs["nhs_ae"]["as_of"] == "2019-04-01"  # the month after the last A&E data
    again = runner.invoke(app, ["demo", "--no-serve", "--json"])
    assert again.exit_code == 0
    second = json.loads(again.stdout)
    assert all(i["already_imported"] for i in second["imports"])
    # The same data give the same stored backtests and models (by version), not new ones.
    assert [(r["backtest_version"], r["model_version"]) for r in second["risk"]] == [
        (r["backtest_version"], r["model_version"]) for r in payload["risk"]
    ]


def test_progress_of_unknown_length_shows_no_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal a stage with no known total spins without a "1/None" count; a known total is counted."""
    from rich.console import Console

    from forewarn.cli import output

    screen = io.StringIO()
    monkeypatch.setattr(output, "err", Console(file=screen, force_terminal=True, width=100))
    with output.progress_stages() as stage:
        stage("Validating", None)(1)
        stage("Writing", 2000)(500)
    shown = screen.getvalue()
    assert "Validating" in shown
    assert "None" not in shown
    assert "500/2,000" in shown
