"""Run the simulator (``simulate``) and import its observable output into the store (``load``).

``simulate`` loops over months; within a month every step is vectorised over all organisations, and each month's
indicator rows are written as they are drawn, so memory stays flat however many months are asked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from forewarn.simulate.events import EventLog, Regulator, TruthLog, make_regulator, regulator_step
from forewarn.simulate.indicators import (
    COUNT,
    RATIO_OE,
    IndicatorModel,
    MonthIndicators,
    draw_month,
    make_indicator_model,
    observed_composite,
)
from forewarn.simulate.loader import LoadResult, load
from forewarn.simulate.model import ARMS, GRADES, ORGANISATION_TYPES, SimulationParameters
from forewarn.simulate.population import LatentState, MonthDraws, Population, make_population, step_latent
from forewarn.simulate.surveys import Instrument, SurveyWave, draw_wave, load_instrument
from forewarn.simulate.writer import (
    EVENTS_FILE,
    MANIFEST_FILE,
    ORGANISATIONS_FILE,
    PULSE_SURVEY_FILE,
    SURVEY_FILE,
    TRUTH_DIR,
    BackgroundWriter,
    FileFormat,
    TableSink,
    date_column,
    date_days,
    dictionary_column,
    events_mapping,
    indicators_mapping,
    masked,
    month_start,
    organisations_mapping,
    output_readme,
    truth_readme,
    write_table,
    write_yaml,
)

Stage = Callable[[str, int | None], Callable[[int], None]]
COMPONENTS = (
    "population",
    "effects",
    "context",
    "shocks",
    "leadership",
    "capacity",
    "indicators",
    "regulator",
    "surveys",
    "missing",
    "pulse",
)
"""One independent random stream per component (``SeedSequence(seed).spawn``), in this order. ``pulse`` (the
optional quarterly pulse waves) comes last so that the streams before it, and so every output of a run without
pulse waves, are unchanged by it."""
TRUTH_TABLES = (
    "organisations",
    "latent_monthly",
    "indicator_truth",
    "random_effects",
    "inspections",
    "interventions",
    "survey_waves",
)


def _no_stage(_name: str, _total: int | None) -> Callable[[int], None]:
    return lambda _n: None


@dataclass(frozen=True)
class SimulationSummary:
    """What a run wrote."""

    out_dir: str
    seed: int
    organisations: int
    months: int
    first_period: str
    last_period: str
    indicators: int
    indicator_rows: int
    events: dict[str, int]
    survey_waves: int
    survey_responses: int
    survey_groups: int
    small_survey_groups: int
    seconds: float
    file_format: str
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        events = ", ".join(f"{n} {k}" for k, n in sorted(self.events.items())) or "no events"
        return (
            f"SIMULATED {self.organisations} organisations x {self.months} months ({self.first_period} to "
            f"{self.last_period}), seed {self.seed}: {self.indicator_rows:,} indicator rows, {events}; "
            f"{self.survey_responses:,} survey responses in {self.survey_groups:,} groups "
            f"({self.small_survey_groups:,} smaller than 5); {self.seconds:.1f} s -> {self.out_dir}"
        )


class _Outputs:
    """The open streams of one run and the fixed columns every monthly chunk shares."""

    def __init__(
        self,
        out_dir: Path,
        params: SimulationParameters,
        file_format: FileFormat,
        population: Population,
        model: IndicatorModel,
        instrument: Instrument,
    ) -> None:
        self.params = params
        self.ext = "parquet" if file_format == "parquet" else "csv"
        self.population = population
        self.instrument = instrument
        truth = out_dir / TRUTH_DIR
        self.indicators = TableSink(out_dir / f"indicators.{self.ext}", file_format)
        self.indicator_truth = TableSink(
            truth / f"indicator_truth.{self.ext}", file_format, dictionary_numbers=False
        )
        self.latent = TableSink(truth / f"latent_monthly.{self.ext}", file_format, dictionary_numbers=False)
        self.waves = TableSink(truth / f"survey_waves.{self.ext}", file_format, dictionary_numbers=False)
        self.survey = TableSink(out_dir / SURVEY_FILE, "csv")
        # Pulse waves (only when asked for: a run without them writes exactly the files it always did).
        self.pulse_survey = (
            TableSink(out_dir / PULSE_SURVEY_FILE, "csv") if params.survey_pulse_months else None
        )
        self.pulse_waves = (
            TableSink(truth / f"survey_pulse_waves.{self.ext}", file_format, dictionary_numbers=False)
            if params.survey_pulse_months
            else None
        )
        self.writer = BackgroundWriter()
        n, j = model.random_effects.shape
        self.org_dictionary = pa.array(population.codes, type=pa.string())
        self.indicator_dictionary = pa.array(model.codes, type=pa.string())
        self.indicator_codes = list(model.codes)
        org_rows = np.repeat(np.arange(n, dtype=np.int32), j)
        self.org_column = dictionary_column(org_rows, self.org_dictionary)
        self.indicator_column = dictionary_column(
            np.tile(np.arange(j, dtype=np.int32), n), self.indicator_dictionary
        )
        self.org_monthly = dictionary_column(np.arange(n, dtype=np.int32), self.org_dictionary)
        self.no_denominator = np.tile(model.kind == COUNT, n)
        self.no_expected = np.tile(model.kind != RATIO_OE, n)
        self.first_rows = np.arange(n) * j
        self.shape = (n, j)
        self.rows = 0

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            for sink in (self.indicators, self.indicator_truth, self.latent, self.waves, self.survey):
                sink.close()
            for optional in (self.pulse_survey, self.pulse_waves):
                if optional is not None:
                    optional.close()

    def month(self, t: int, data: MonthIndicators, state: LatentState, rng: np.random.Generator) -> None:
        n, j = self.shape
        days = np.full(n * j, date_days(month_start(self.params.start_year, t)), dtype=np.int32)
        period = date_column(days)
        attribute_rows = t == 0 or t % 12 == 0
        context_missing = np.ones(n * j, dtype=np.bool_)
        if attribute_rows:
            context_missing[self.first_rows] = False
        staff = np.zeros(n * j, dtype=np.int64)
        deprivation = np.zeros(n * j)
        staff[self.first_rows] = np.rint(state.staff).astype(np.int64)
        deprivation[self.first_rows] = np.round(state.deprivation, 4)
        table = pa.table(
            {
                "org_code": self.org_column,
                "period": period,
                "indicator": self.indicator_column,
                "numerator": pa.array(data.numerator.ravel()),
                "denominator": masked(data.denominator.ravel(), self.no_denominator),
                "expected": masked(np.nan_to_num(data.expected.ravel()), self.no_expected),
                "staff": masked(staff, context_missing),
                "deprivation": masked(deprivation, context_missing),
            }
        )
        # Wide (one column per indicator): the truth costs a twentieth of the string columns of the long file.
        truth_columns: dict[str, Any] = {"org_code": self.org_monthly, "period": period.slice(0, n)}
        for k, code in enumerate(self.indicator_codes):
            truth_columns[code] = data.true_value[:, k].astype(np.float32)
        truth = pa.table(truth_columns)
        if self.params.missing_rate > 0:
            keep = rng.random(n * j) >= self.params.missing_rate
            if attribute_rows:
                keep[self.first_rows] = True
            table = table.filter(pa.array(keep))
        self.writer.submit(self.indicators, table)
        self.writer.submit(self.indicator_truth, truth)
        self.rows += table.num_rows

    def latent_month(
        self, t: int, state: LatentState, draws: MonthDraws, reg: Regulator, facets: np.ndarray[Any, Any]
    ) -> None:
        n = self.population.size
        arm_names = pa.array(list(ARMS[:2]), type=pa.string())
        active = reg.arm >= 0
        columns: dict[str, Any] = {
            "org_code": self.org_monthly,
            "period": date_column(
                np.full(n, date_days(month_start(self.params.start_year, t)), dtype=np.int32)
            ),
            "capacity": state.capacity,
            "capacity_target": state.capacity_target,
            "performance": state.performance,
            "shock": state.shock,
            "enforcement_boost": state.enforcement_boost,
            "staff": state.staff,
            "deprivation": state.deprivation,
            "leadership_change": draws.leadership_change,
            "shock_arrived": draws.shock_arrived,
            "in_special_measures": reg.in_special_measures.copy(),
            "intervention": pa.DictionaryArray.from_arrays(
                pa.array(np.where(active, reg.arm, 0).astype(np.int32), mask=~active), arm_names
            ),
        }
        for k, dim in enumerate(self.instrument.dimensions):
            columns[f"facet_{dim}"] = facets[:, k]
        self.writer.submit(self.latent, pa.table(columns))

    def wave(
        self,
        year: int,
        wave: SurveyWave,
        state: LatentState,
        facets: np.ndarray[Any, Any],
        *,
        pulse_month: int | None = None,
    ) -> None:
        """One wave's answers and its truth: the annual wave labelled by its year, a pulse wave by its month
        (``YYYY-MM``) in the pulse files."""
        answers = wave.answers
        if pulse_month is None:
            label: Any = pa.array(np.full(wave.org_index.size, year, dtype=np.int32))
            label_truth: Any = pa.array(np.full(self.population.size, year, dtype=np.int32))
            survey_sink, truth_sink = self.survey, self.waves
        else:
            name = f"{year:04d}-{pulse_month:02d}"
            label = pa.array([name] * wave.org_index.size, type=pa.string())
            label_truth = pa.array([name] * self.population.size, type=pa.string())
            assert self.pulse_survey is not None and self.pulse_waves is not None  # opened with pulse months
            survey_sink, truth_sink = self.pulse_survey, self.pulse_waves
        columns: dict[str, Any] = {
            "org_code": dictionary_column(wave.org_index, self.org_dictionary),
            "wave": label,
        }
        for m, item in enumerate(self.instrument.items):
            column = answers[:, m]
            columns[item] = pa.array(column, mask=column == 0)
        self.writer.submit(survey_sink, pa.table(columns))
        truth: dict[str, Any] = {
            "org_code": self.org_monthly,
            "wave": label_truth,
            "invited": wave.invited,
            "respondents": wave.respondents,
            "capacity": state.capacity,
        }
        for k, dim in enumerate(self.instrument.dimensions):
            truth[f"facet_{dim}"] = facets[:, k]
        self.writer.submit(truth_sink, pa.table(truth))


def simulate(
    out_dir: Path,
    parameters: SimulationParameters | None = None,
    *,
    file_format: FileFormat = "parquet",
    instrument_path: Path | None = None,
    stage: Stage | None = None,
) -> SimulationSummary:
    """Simulate a population and write its observable data (with mapping files) and its latent truth.

    Files in ``out_dir``: ``organisations.csv``, ``indicators.parquet`` (or ``.csv``), ``events.csv``,
    ``survey_responses.csv``, a mapping YAML beside each importable file, ``README.md``, ``simulation.json``, and
    ``truth/`` (see its README). The same parameters (seed included) give the same files.
    """
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"file_format must be 'parquet' or 'csv', not {file_format!r}")
    params = parameters or SimulationParameters()
    started = time.perf_counter()
    instrument = load_instrument(instrument_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TRUTH_DIR).mkdir(exist_ok=True)
    _remove_other_format(out_dir, file_format)
    if not params.survey_pulse_months:  # an earlier run's pulse waves must not look like this run's
        (out_dir / PULSE_SURVEY_FILE).unlink(missing_ok=True)
        for ext in ("parquet", "csv"):
            (out_dir / TRUTH_DIR / f"survey_pulse_waves.{ext}").unlink(missing_ok=True)
    streams = np.random.SeedSequence(params.seed).spawn(len(COMPONENTS))
    rngs = {name: np.random.default_rng(seq) for name, seq in zip(COMPONENTS, streams, strict=True)}

    population, state = make_population(params, instrument.core_mask, rngs["population"])
    model = make_indicator_model(params, population, rngs["effects"])
    reg = make_regulator(params, population.size, rngs["regulator"])
    log, truth = EventLog(), TruthLog()
    outputs = _Outputs(out_dir, params, file_format, population, model, instrument)
    start_staff, start_deprivation = state.staff.copy(), state.deprivation.copy()
    waves = responses = groups = small = 0
    burn_in, months = params.burn_in_months, params.n_months
    tick = (stage or _no_stage)("Simulating", None)
    try:
        for a in range(burn_in + months):
            t = a - burn_in
            draws = step_latent(
                state, population, params, reg.development_active, reg.enforcement_active, rngs
            )
            composite = None
            if t >= 0:
                month = draw_month(model, state, population, t, params, rngs["indicators"])
                composite = observed_composite(model, month, population, state.staff)
                outputs.month(t, month, state, rngs["missing"])
            regulator_step(reg, state, params, a, t, draws, composite, rngs["regulator"], log, truth)
            if t >= 0:
                facets = state.facets(population.facet_loadings)
                if t % 12 + 1 == params.survey_month:
                    wave = draw_wave(
                        instrument, facets, state.staff, population.response_rate, params, rngs["surveys"]
                    )
                    outputs.wave(params.start_year + t // 12, wave, state, facets)
                    waves += 1
                    responses += wave.org_index.size
                    groups += int((wave.respondents > 0).sum())
                    small += int(((wave.respondents > 0) & (wave.respondents < 5)).sum())
                elif t % 12 + 1 in params.survey_pulse_months:
                    # The same design as the annual wave, from its own stream (docs/simulator.md, "Staff survey").
                    wave = draw_wave(
                        instrument, facets, state.staff, population.response_rate, params, rngs["pulse"]
                    )
                    outputs.wave(params.start_year + t // 12, wave, state, facets, pulse_month=t % 12 + 1)
                    waves += 1
                    responses += wave.org_index.size
                    groups += int((wave.respondents > 0).sum())
                    small += int(((wave.respondents > 0) & (wave.respondents < 5)).sum())
                outputs.latent_month(t, state, draws, reg, facets)
            tick(1)
    finally:
        outputs.close()

    ext = outputs.ext
    _write_static(out_dir, params, file_format, population, model, instrument, start_staff, start_deprivation)
    event_counts = _write_events(out_dir, params, population, log, truth, ext, file_format)
    files = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    summary = SimulationSummary(
        out_dir=str(out_dir),
        seed=params.seed,
        organisations=population.size,
        months=months,
        first_period=month_start(params.start_year, 0).isoformat(),
        last_period=month_start(params.start_year, months - 1).isoformat(),
        indicators=len(model.codes),
        indicator_rows=outputs.rows,
        events=event_counts,
        survey_waves=waves,
        survey_responses=responses,
        survey_groups=groups,
        small_survey_groups=small,
        seconds=round(time.perf_counter() - started, 3),
        file_format=file_format,
        files=sorted({*files, MANIFEST_FILE}),
    )
    manifest = {k: v for k, v in summary.to_dict().items() if k not in ("seconds", "out_dir")}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary


def _remove_other_format(out_dir: Path, file_format: FileFormat) -> None:
    """A rerun in the other format must not leave the previous run's files looking current."""
    other = "csv" if file_format == "parquet" else "parquet"
    stale = [out_dir / f"indicators.{other}"] + [
        out_dir / TRUTH_DIR / f"{name}.{other}" for name in TRUTH_TABLES
    ]
    for path in stale:
        path.unlink(missing_ok=True)


def _write_static(
    out_dir: Path,
    params: SimulationParameters,
    file_format: FileFormat,
    population: Population,
    model: IndicatorModel,
    instrument: Instrument,
    start_staff: np.ndarray[Any, Any],
    start_deprivation: np.ndarray[Any, Any],
) -> None:
    ext = "parquet" if file_format == "parquet" else "csv"
    truth = out_dir / TRUTH_DIR
    regions = [population.region_names[r] for r in population.region_index]
    types = population.type_names
    write_table(
        out_dir / ORGANISATIONS_FILE,
        pa.table({"org_code": population.codes, "name": population.names, "type": types, "region": regions}),
        "csv",
    )
    write_yaml(out_dir / "organisations_mapping.yml", organisations_mapping(params))
    write_yaml(out_dir / "indicators_mapping.yml", indicators_mapping(params, file_format))
    write_yaml(out_dir / "events_mapping.yml", events_mapping(params))
    (out_dir / "README.md").write_text(
        output_readme(params, f"indicators.{ext}", instrument.items), encoding="utf-8"
    )
    (truth / "README.md").write_text(truth_readme(params, ext, instrument.dimensions), encoding="utf-8")
    (truth / "parameters.json").write_text(json.dumps(params.to_dict(), indent=2) + "\n", encoding="utf-8")
    write_table(
        truth / f"organisations.{ext}",
        pa.table(
            {
                "org_code": population.codes,
                "type": types,
                "region": regions,
                "capacity_base": population.capacity_base,
                "response_rate": population.response_rate,
                "staff_start": start_staff,
                "deprivation_start": start_deprivation,
            }
        ),
        file_format,
    )
    n, j = model.random_effects.shape
    write_table(
        truth / f"random_effects.{ext}",
        pa.table(
            {
                "org_code": dictionary_column(np.repeat(np.arange(n), j), pa.array(population.codes)),
                "indicator": dictionary_column(np.tile(np.arange(j), n), pa.array(model.codes)),
                "random_effect": model.random_effects.ravel(),
                "type_offset": model.type_offsets[population.type_index].ravel(),
            }
        ),
        file_format,
    )


def _dates(
    params: SimulationParameters, months: np.ndarray[Any, Any], days: np.ndarray[Any, Any]
) -> list[str]:
    t = months - params.burn_in_months
    return [
        f"{params.start_year + m // 12:04d}-{m % 12 + 1:02d}-{d:02d}"
        for m, d in zip(t.tolist(), days.tolist(), strict=True)
    ]


def _write_events(
    out_dir: Path,
    params: SimulationParameters,
    population: Population,
    log: EventLog,
    truth: TruthLog,
    ext: str,
    file_format: FileFormat,
) -> dict[str, int]:
    codes = np.asarray(population.codes)
    if log.org:
        org = np.concatenate(log.org)
        dates = np.asarray(_dates(params, np.concatenate(log.month), np.concatenate(log.day)))
        kinds = np.asarray([k for chunk in log.kind for k in chunk])
        grades = [g for chunk in log.grade for g in chunk]
        details = [d for chunk in log.detail for d in chunk]
        order = np.lexsort((kinds, codes[org], dates))
        table = pa.table(
            {
                "org_code": codes[org][order].tolist(),
                "date": dates[order].tolist(),
                "kind": kinds[order].tolist(),
                "grade": pa.array([grades[i] for i in order], type=pa.string()),
                "detail": pa.array([details[i] for i in order], type=pa.string()),
            }
        )
        counts = {str(k): int(v) for k, v in zip(*np.unique(kinds, return_counts=True), strict=True)}
    else:
        table = pa.table(
            {c: pa.array([], type=pa.string()) for c in ("org_code", "date", "kind", "grade", "detail")}
        )
        counts = {}
    write_table(out_dir / EVENTS_FILE, table, "csv")

    truth_dir = out_dir / TRUTH_DIR
    write_table(truth_dir / f"inspections.{ext}", _inspection_table(params, codes, truth), file_format)
    write_table(truth_dir / f"interventions.{ext}", _assignment_table(params, codes, truth), file_format)
    return counts


def _inspection_table(params: SimulationParameters, codes: np.ndarray[Any, Any], truth: TruthLog) -> pa.Table:
    rows = truth.inspections
    if not rows:
        return pa.table(
            {
                "org_code": pa.array([], pa.string()),
                "date": pa.array([], pa.string()),
                "grade": pa.array([], pa.string()),
                "score": pa.array([], pa.float64()),
                "capacity": pa.array([], pa.float64()),
                "performance": pa.array([], pa.float64()),
            }
        )
    org = np.concatenate([r["org"] for r in rows])
    grade = np.concatenate([r["grade"] for r in rows])
    return pa.table(
        {
            "org_code": codes[org].tolist(),
            "date": _dates(
                params, np.concatenate([r["month"] for r in rows]), np.concatenate([r["day"] for r in rows])
            ),
            "grade": [GRADES[g] for g in grade],
            "score": np.concatenate([r["score"] for r in rows]),
            "capacity": np.concatenate([r["capacity"] for r in rows]),
            "performance": np.concatenate([r["performance"] for r in rows]),
        }
    )


def _assignment_table(params: SimulationParameters, codes: np.ndarray[Any, Any], truth: TruthLog) -> pa.Table:
    rows = [r for r in truth.assignments if r["org"].size]
    if not rows:
        return pa.table(
            {
                "org_code": pa.array([], pa.string()),
                "date": pa.array([], pa.string()),
                "trigger": pa.array([], pa.string()),
                "arm": pa.array([], pa.string()),
                "composite": pa.array([], pa.float64()),
                "end_date": pa.array([], pa.string()),
            }
        )
    org = np.concatenate([r["org"] for r in rows])
    month = np.concatenate([r["month"] for r in rows])
    day = np.concatenate([r["day"] for r in rows])
    end = np.concatenate([r["end_month"] for r in rows])
    end_dates = _dates(params, np.where(end >= 0, end, month), day)
    order = np.lexsort((codes[org], month))
    table = pa.table(
        {
            "org_code": codes[org].tolist(),
            "date": _dates(params, month, day),
            "trigger": np.concatenate([r["trigger"] for r in rows]).tolist(),
            "arm": [ARMS[k] for k in np.concatenate([r["arm"] for r in rows])],
            "composite": np.concatenate([r["composite"] for r in rows]),
            "end_date": pa.array(
                [d if e >= 0 else None for d, e in zip(end_dates, end.tolist(), strict=True)],
                type=pa.string(),
            ),
        }
    )
    return table.take(pa.array(order))


__all__ = [
    "ORGANISATION_TYPES",
    "LoadResult",
    "SimulationParameters",
    "SimulationSummary",
    "load",
    "simulate",
]
