"""`forewarn ewma` gives the numbers of the analyst's API (one implementation underneath), and its EWMA
recursion is the textbook one (Lucas & Saccucci 1990), re-derived here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import forewarn as fw
from forewarn.cli import app


def test_cli_ewma_matches_the_api_and_the_recursion(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    months = [f"2020-{m:02d}" for m in range(1, 13)] + [f"2021-{m:02d}" for m in range(1, 13)]
    values = np.r_[rng.normal(10, 1, 12), rng.normal(12, 1, 12)]
    frame = pl.DataFrame({"month": months, "value": values})
    path = tmp_path / "e.csv"
    frame.write_csv(path)
    result = CliRunner().invoke(
        app, ["ewma", str(path), "--period-col", "month", "--value-col", "value", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    cli = json.loads(result.stdout)
    api = fw.ewma(frame, period_col="month", value_col="value")
    assert cli["summary"]["L"] == pytest.approx(api.summary["L"], rel=1e-12)
    ewma_cli = [row["ewma"] for row in cli["rows"]]
    assert ewma_cli == pytest.approx(api.table["ewma"].to_list(), rel=1e-12)
    centre = values[:12].mean()
    z, expected = centre, []
    for x in values:
        z = 0.2 * x + 0.8 * z
        expected.append(z)
    assert ewma_cli == pytest.approx(expected, rel=1e-9)
