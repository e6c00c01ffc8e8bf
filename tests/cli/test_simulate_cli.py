"""``forewarn simulate --load --surveys [--pulse-months ...]``: the staff survey waves loaded beside the rest, as the
demo loads them, so that a region built by the command a user runs has soft measures to backtest (docs/risk.md)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import create_engine
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.surveys.waves import list_waves


def test_simulate_loads_the_annual_and_pulse_waves(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "sim"
    args = [
        "simulate",
        "--orgs",
        "12",
        "--years",
        "2",
        "--seed",
        "3",
        "--out",
        str(out),
        "--load",
        "--surveys",
    ]
    result = runner.invoke(app, [*args, "--pulse-months", "1,4,7"])
    assert result.exit_code == 0, result.output
    # The waves expected are those in the simulator's files: one per annual label, one per pulse month.
    annual = pl.read_csv(out / "survey_responses.csv", infer_schema_length=0)["wave"].unique().to_list()
    pulse = pl.read_csv(out / "survey_pulse_responses.csv", infer_schema_length=0)["wave"].unique().to_list()
    assert sorted(m[5:] for m in pulse) and {m[5:] for m in pulse} == {"01", "04", "07"}
    expected = {f"Learning capacity {y} (SIMULATED)" for y in annual}
    expected |= {f"Learning capacity pulse {label} (SIMULATED)" for label in pulse}
    engine = create_engine(database_url)
    try:
        assert {w.name for w in list_waves(engine, floor=5)} == expected
    finally:
        engine.dispose()


def test_a_bad_pulse_month_list_is_refused_with_the_option_named(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--orgs", "3", "--out", str(tmp_path / "s"), "--pulse-months", "1,x"]
    )
    assert result.exit_code == 2
    assert "--pulse-months" in result.output
    clash = runner.invoke(
        app, ["simulate", "--orgs", "3", "--out", str(tmp_path / "s"), "--pulse-months", "10"]
    )
    assert clash.exit_code == 2
    assert "survey_pulse_months" in clash.output  # the annual wave's month cannot also be a pulse month
