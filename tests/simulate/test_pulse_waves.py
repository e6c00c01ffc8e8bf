"""Quarterly pulse waves beside the annual staff survey (``survey_pulse_months``): the design of the NHS National
Quarterly Pulse Survey, run in the three quarters the annual NHS Staff Survey is not (NHS England, "National
Quarterly Pulse Survey": January, April and July). Reference: the simulator's own run without pulse waves, which
the option must leave unchanged (the pulse waves come from their own random stream)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from forewarn.demo import load_simulated_surveys
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store.models_surveys import SurveyResponse
from forewarn.surveys.waves import list_waves


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pulse_waves_add_files_and_change_nothing_else(tmp_path: Path) -> None:
    plain = SimulationParameters(n_organisations=30, n_years=2, seed=5)
    pulse = SimulationParameters(n_organisations=30, n_years=2, seed=5, survey_pulse_months=(1, 4, 7))
    simulate(tmp_path / "plain", plain)
    summary = simulate(tmp_path / "pulse", pulse)
    a, b = _files(tmp_path / "plain"), _files(tmp_path / "pulse")
    added = set(b) - set(a)
    assert added == {"survey_pulse_responses.csv", "truth/survey_pulse_waves.parquet"}
    # Every data file of the run without pulse waves is byte-identical (truth, indicators, events, annual waves).
    changed = {k for k in a if a[k] != b[k]}
    assert changed == {"README.md", "simulation.json", "truth/parameters.json"}
    answers = pl.read_csv(tmp_path / "pulse" / "survey_pulse_responses.csv", infer_schema_length=0)
    assert sorted(answers["wave"].unique()) == [f"{y}-{m:02d}" for y in (2019, 2020) for m in (1, 4, 7)]
    annual = pl.read_csv(tmp_path / "pulse" / "survey_responses.csv", infer_schema_length=0)
    assert answers.columns == annual.columns
    assert summary.survey_waves == 2 + 6
    assert summary.survey_responses == annual.height + answers.height
    truth = pl.read_parquet(tmp_path / "pulse" / "truth" / "survey_pulse_waves.parquet")
    # The truth's respondents per organisation and wave are the answers' group sizes.
    sizes = answers.group_by("org_code", "wave").len()
    joined = truth.with_columns(pl.col("org_code").cast(pl.String)).join(
        sizes, on=["org_code", "wave"], how="left"
    )
    assert (joined["len"].fill_null(0) == joined["respondents"]).all()
    # A rerun without pulse waves in the same folder leaves no pulse file behind.
    simulate(tmp_path / "pulse", plain)
    assert _files(tmp_path / "pulse") == a


def test_pulse_waves_load_as_closed_waves_dated_in_their_month(engine: Engine, tmp_path: Path) -> None:
    params = SimulationParameters(n_organisations=20, n_years=1, seed=3, survey_pulse_months=(1, 4, 7))
    simulate(tmp_path, params)
    load(engine, tmp_path)
    names = load_simulated_surveys(engine, tmp_path, "test", params.survey_month, min_group_size=5)
    assert names == [
        "Learning capacity 2019 (SIMULATED)",
        "Learning capacity pulse 2019-01 (SIMULATED)",
        "Learning capacity pulse 2019-04 (SIMULATED)",
        "Learning capacity pulse 2019-07 (SIMULATED)",
    ]
    waves = {w.name: w for w in list_waves(engine, floor=5)}
    assert {w.status for w in waves.values()} == {"closed"}
    with engine.connect() as conn:
        months = dict(
            conn.execute(
                select(SurveyResponse.wave_id, func.max(SurveyResponse.submitted_month)).group_by(
                    SurveyResponse.wave_id
                )
            ).all()
        )
    assert {name: months[w.id] for name, w in waves.items()} == {
        "Learning capacity 2019 (SIMULATED)": dt.date(2019, 10, 1),
        "Learning capacity pulse 2019-01 (SIMULATED)": dt.date(2019, 1, 1),
        "Learning capacity pulse 2019-04 (SIMULATED)": dt.date(2019, 4, 1),
        "Learning capacity pulse 2019-07 (SIMULATED)": dt.date(2019, 7, 1),
    }
    assert load_simulated_surveys(engine, tmp_path, "test", params.survey_month, min_group_size=5) == names


@pytest.mark.parametrize("months", [(10,), (0,), (1, 1), (13,)])
def test_pulse_months_must_be_distinct_months_other_than_the_annual_one(months: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"survey_pulse_months must be distinct months 1\.\.12"):
        SimulationParameters(survey_pulse_months=months)
