"""`forewarn export` to CSV writes text that a spreadsheet would run as a formula with a leading apostrophe
(issue 16); Parquet keeps the values as they are."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from forewarn.cli import app
from tests.conftest import FIXTURES

HEADER = "period,org_code,org_name,attendances,breaches\n"
NAMES = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@HYPERLINK(x)", "Alpha"]


def test_export_escapes_spreadsheet_formulas(runner: CliRunner, tmp_path: Path) -> None:
    rows = [
        f'2020-01-01,ORG{i},"{name.replace(chr(34), chr(34) * 2)}",100,10' for i, name in enumerate(NAMES)
    ]
    data = tmp_path / "f.csv"
    data.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    imported = runner.invoke(app, ["import", str(data), "-m", str(FIXTURES / "ingest" / "mapping.yml")])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "out.csv"
    assert runner.invoke(app, ["export", "perf", "-o", str(out)]).exit_code == 0
    with out.open(encoding="utf-8", newline="") as handle:
        names = [row["org_name"] for row in csv.DictReader(handle)]
    assert names == ["'=cmd|' /C calc'!A0", "'+SUM(A1)", "'-2+3", "'@HYPERLINK(x)", "Alpha"]
    parquet = tmp_path / "out.parquet"
    assert runner.invoke(app, ["export", "perf", "-o", str(parquet)]).exit_code == 0
    assert pl.read_parquet(parquet)["org_name"].to_list() == NAMES
