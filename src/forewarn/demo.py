"""The main job behind ``make demo``: set up the store, import the bundled real data, say what is there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from forewarn.ingest.importer import ImportResult, Stage, import_file
from forewarn.ingest.limits import Limits
from forewarn.risk.demo_runs import RiskRun, backtest_train_and_score
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.queries import DatasetSummary, dataset_summaries
from forewarn.surveillance.scan import ScanResult, run_scan
from forewarn.surveys.uploads import import_responses
from forewarn.surveys.waves import close_wave, create_wave, list_waves, open_wave

BUNDLED = (
    ("nhs_ae", "nhs_ae_attendances.csv"),
    ("la_public_health", "la_public_health_indicators.csv"),
)


def bundled_data_dir() -> Path:
    """The repository's ``data/`` folder (the demo runs from a clone)."""
    for candidate in (Path.cwd() / "data", Path(__file__).resolve().parents[2] / "data"):
        if (candidate / "nhs_ae" / "mapping.yml").exists():
            return candidate
    raise FileNotFoundError(
        "cannot find the bundled data folder (data/nhs_ae/mapping.yml); run from the repository"
    )


SIMULATED_ORGANISATIONS = 200
SIMULATED_YEARS = 6
SIMULATION_SEED = 2026

# Issue 11: what the demo's risk model predicts on each dataset (dataset, outcome, horizon and step in months).
RISK_RUNS = (
    ("nhs_ae", "below:ae_4h_type1:0.95:3", 6, 3),  # the 4-hour standard missed for a quarter
    ("simulated", "inspection:inadequate", 12, 6),  # a new inadequate grade
)


@dataclass(frozen=True)
class DemoReport:
    imports: list[ImportResult]
    summaries: list[DatasetSummary]
    scan: ScanResult
    survey_waves: list[str]
    risk: list[RiskRun]


def run_demo(
    engine: Engine,
    data_dir: Path | None = None,
    *,
    imported_by: str | None = None,
    stage: Callable[[str, int | None], Callable[[int], None]] | None = None,
    chunk_rows: int = 100_000,
    simulated_dir: Path | None = None,
    min_group_size: int,
    limits: Limits | None = None,
) -> DemoReport:
    """Migrate the store, import each bundled dataset (idempotently) and summarise what the store holds.

    ``min_group_size`` (the setting) is the floor under the simulated survey waves' thresholds; ``limits`` are the
    import limits from the caller's settings (their defaults when not given)."""
    root = data_dir or bundled_data_dir()
    migrate.upgrade(engine)
    results = []
    for folder, filename in BUNDLED:
        kwargs: dict[str, object] = {"imported_by": imported_by, "chunk_rows": chunk_rows, "limits": limits}
        if stage is not None:
            kwargs["stage"] = stage
        results.append(import_file(engine, root / folder / filename, root / folder / "mapping.yml", **kwargs))  # type: ignore[arg-type]
    if simulated_dir is not None:
        # A small simulated region beside the real data, labelled SIMULATED wherever it appears.
        parameters = SimulationParameters(
            n_organisations=SIMULATED_ORGANISATIONS, n_years=SIMULATED_YEARS, seed=SIMULATION_SEED
        )
        simulate(simulated_dir, parameters, file_format="parquet")
        loaded = load(engine, simulated_dir, imported_by=imported_by, chunk_rows=chunk_rows, limits=limits)
        results.extend([loaded.organisations, loaded.indicators, loaded.events])
        survey_waves = load_simulated_surveys(
            engine, simulated_dir, imported_by, parameters.survey_month, min_group_size=min_group_size
        )
    else:
        survey_waves = []
    scan = run_scan(engine, stage=stage)
    with engine.connect() as conn:
        summaries = dataset_summaries(conn)
    risk = early_warning(
        engine,
        simulated_dir,
        imported_by=imported_by,
        min_group_size=min_group_size,
        stage=stage,
        simulated=simulated_dir is not None,
    )
    return DemoReport(imports=results, summaries=summaries, scan=scan, survey_waves=survey_waves, risk=risk)


def early_warning(
    engine: Engine,
    simulated_dir: Path | None,
    *,
    imported_by: str | None,
    min_group_size: int,
    stage: Callable[[str, int | None], Callable[[int], None]] | None = None,
    simulated: bool = True,
) -> list[RiskRun]:
    """The risk model on the A&E data and (when loaded) the simulated region: each backtested (the simulated one
    against the simulator's latent truth too), trained and scored as of the end of its data, all stored; the
    simulated region last, so that its backtest and scores are the ones the web app shows first."""
    runs = []
    for dataset, outcome, horizon, step in RISK_RUNS:
        if dataset == "simulated" and (not simulated or simulated_dir is None):
            continue
        advance = stage(f"Risk model ({dataset})", None) if stage is not None else None
        truth = simulated_dir / "truth" if dataset == "simulated" and simulated_dir is not None else None
        runs.append(
            backtest_train_and_score(
                engine,
                dataset,
                outcome,
                horizon_months=horizon,
                step_months=step,
                min_group_size=min_group_size,
                by=imported_by or "demo",
                truth=truth,
            )
        )
        if advance is not None:
            advance(1)
    return runs


def load_simulated_surveys(
    engine: Engine,
    simulated_dir: Path,
    imported_by: str | None,
    survey_month: int = 10,
    *,
    min_group_size: int,
) -> list[str]:
    """One closed survey wave per simulated year, filled from the simulator's staff answers (idempotent),
    dated in the simulated year's fieldwork month so that the risk model knows the results from when they were
    collected, not from when the demo loaded them."""
    answers = pl.read_csv(simulated_dir / "survey_responses.csv", infer_schema_length=0)
    existing = {wave.name for wave in list_waves(engine, floor=min_group_size)}
    waves = [
        (f"Learning capacity {year} (SIMULATED)", answers, year, dt.date(int(year), survey_month, 1))
        for year in sorted(answers["wave"].unique().to_list())
    ]
    pulse_file = simulated_dir / "survey_pulse_responses.csv"
    if pulse_file.exists():  # quarterly pulse waves (the simulator's survey_pulse_months), labelled YYYY-MM
        pulse = pl.read_csv(pulse_file, infer_schema_length=0)
        waves += [
            (
                f"Learning capacity pulse {label} (SIMULATED)",
                pulse,
                label,
                dt.date(int(label[:4]), int(label[5:]), 1),
            )
            for label in sorted(pulse["wave"].unique().to_list())
        ]
    names = []
    for name, source, label, fieldwork in waves:
        names.append(name)
        if name in existing:
            continue
        rows = source.filter(pl.col("wave") == label).drop("wave")
        path = simulated_dir / f"survey_{label}.csv"
        rows.write_csv(path)
        codes = sorted(rows["org_code"].unique().to_list())
        wave = create_wave(engine, name, codes, created_by=imported_by, floor=min_group_size)
        open_wave(engine, wave.id, floor=min_group_size, by=imported_by)
        import_responses(engine, wave.id, path, imported_by=imported_by, fieldwork_month=fieldwork)
        close_wave(engine, wave.id, floor=min_group_size, by=imported_by)
    return names


__all__ = ["DemoReport", "Stage", "bundled_data_dir", "run_demo"]
