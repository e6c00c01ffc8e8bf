"""Streaming output: Parquet (pyarrow ParquetWriter, one row group per month) or CSV, plus the mapping files that
let the importer read what the simulator wrote, and the READMEs of the output and truth folders."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from numpy.typing import NDArray

from forewarn.simulate.model import SimulationParameters

FileFormat = Literal["parquet", "csv"]
ORGANISATIONS_FILE = "organisations.csv"
EVENTS_FILE = "events.csv"
SURVEY_FILE = "survey_responses.csv"
PULSE_SURVEY_FILE = "survey_pulse_responses.csv"  # only with quarterly pulse waves
MANIFEST_FILE = "simulation.json"
TRUTH_DIR = "truth"
_EPOCH = dt.date(1970, 1, 1)


def month_start(start_year: int, month_index: int) -> dt.date:
    """First day of output month ``month_index`` (0 = January of ``start_year``)."""
    return dt.date(start_year + month_index // 12, month_index % 12 + 1, 1)


def date_days(day: dt.date) -> int:
    return (day - _EPOCH).days


def dictionary_column(indices: NDArray[np.integer[Any]], dictionary: pa.Array) -> pa.DictionaryArray:
    """Codes repeated millions of times are stored once (Parquet and Arrow dictionary encoding)."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32, copy=False)), dictionary)


def date_column(days: NDArray[np.integer[Any]]) -> pa.Array:
    return pa.array(days.astype(np.int32, copy=False), type=pa.int32()).view(pa.date32())


def masked(values: NDArray[Any], missing: NDArray[np.bool_] | None) -> pa.Array:
    return pa.array(values, mask=missing) if missing is not None else pa.array(values)


class TableSink:
    """Append Arrow tables to one Parquet or CSV file without holding earlier chunks in memory."""

    def __init__(self, path: Path, file_format: FileFormat, *, dictionary_numbers: bool = True) -> None:
        self.path = path
        self.format = file_format
        # Dictionary-encoding continuous floats costs CPU for nothing; counts and codes gain from it.
        self.dictionary_numbers = dictionary_numbers
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.format == "parquet":
            if self._parquet is None:
                encoded: bool | list[str] = self.dictionary_numbers or [
                    f.name
                    for f in table.schema
                    if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
                ]
                self._parquet = pq.ParquetWriter(
                    self.path, table.schema, compression="zstd", compression_level=1, use_dictionary=encoded
                )
            self._parquet.write_table(table, row_group_size=max(table.num_rows, 1))
        else:
            first = self._csv is None
            if self._csv is None:
                self._csv = self.path.open("wb")
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)  # from_arrow of a Table is always a DataFrame
            frame.write_csv(self._csv, include_header=first)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None

    def __enter__(self) -> TableSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BackgroundWriter:
    """Writes queued tables on one worker thread, so drawing the next month overlaps writing this one (Arrow,
    Parquet and Polars release the GIL while they encode). The queue is short, so memory stays bounded."""

    def __init__(self, depth: int = 3) -> None:
        self._queue: queue.Queue[tuple[TableSink, pa.Table] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="forewarn-simulate-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    item[0].write(item[1])
                except BaseException as exc:  # re-raised in the caller's thread by submit() or close()
                    self._error = exc

    def submit(self, sink: TableSink, table: pa.Table) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((sink, table))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


def write_table(path: Path, table: pa.Table, file_format: FileFormat) -> None:
    with TableSink(path, file_format) as sink:
        sink.write(table)
    if table.num_rows == 0:
        # An empty result still gets a file with its header, so readers find every documented file.
        if file_format == "parquet":
            pq.write_table(table, path)
        else:
            pl.from_arrow(table).write_csv(path)  # type: ignore[union-attr]


def _dataset(params: SimulationParameters) -> dict[str, Any]:
    last_year = params.start_year + params.n_years - 1
    return {
        "code": params.dataset_code,
        "name": (
            f"SIMULATED population: {params.n_organisations} organisations, {params.start_year}-{last_year} "
            f"(Forewarn simulator, seed {params.seed})"
        ),
        "source": (
            "Forewarn population simulator (forewarn.simulate); generative model in docs/simulator.md, parameters "
            "and latent truth in the truth/ folder beside this file. No real organisation is described."
        ),
        "licence": "Simulated data; free to use",
        "simulated": True,
    }


HEADER = (
    "# Written by the Forewarn population simulator: SIMULATED data, not real organisations.\n"
    "# Import with `forewarn import FILE --mapping THIS_FILE` or `forewarn simulate ... --load`.\n"
)


def write_yaml(path: Path, data: dict[str, Any], comment: str = HEADER) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    path.write_text(comment + text, encoding="utf-8")


def organisations_mapping(params: SimulationParameters) -> dict[str, Any]:
    return {
        "version": 1,
        "dataset": _dataset(params),
        "file": {"format": "csv"},
        "records": "organisations",
        "columns": {"org_code": "text", "name": "text", "type": "text", "region": "text"},
        "organisation": {"code": "org_code", "name": "name", "type": "type", "region": "region"},
    }


def indicators_mapping(params: SimulationParameters, file_format: FileFormat) -> dict[str, Any]:
    specs: list[dict[str, Any]] = []
    for d in params.indicators:
        spec: dict[str, Any] = {
            "code": d.code,
            "name": f"SIMULATED: {d.name}",
            "kind": d.kind,
            "polarity": d.polarity.value,
            "unit": d.unit,
        }
        if d.multiplier != 1.0:
            spec["multiplier"] = d.multiplier
        spec["where"] = {"indicator": d.code}
        spec["numerator"] = "numerator"
        if d.kind in ("proportion", "rate"):
            spec["denominator"] = "denominator"
        elif d.kind == "ratio_oe":
            spec["denominator"] = "denominator"
            spec["expected"] = "expected"
        specs.append(spec)
    return {
        "version": 1,
        "dataset": _dataset(params),
        "file": {"format": file_format},
        "records": "observations",
        "columns": {
            "org_code": "text",
            "period": "date",
            "indicator": "text",
            "numerator": "integer",
            "denominator": "integer",
            "expected": "number",
            "staff": "integer",
            "deprivation": "number",
        },
        "organisation": {"code": "org_code", "attributes": {"staff": "staff", "deprivation": "deprivation"}},
        "period": {"column": "period", "format": "iso", "frequency": "month"},
        "indicators": specs,
    }


def events_mapping(params: SimulationParameters) -> dict[str, Any]:
    return {
        "version": 1,
        "dataset": _dataset(params),
        "file": {"format": "csv"},
        "records": "events",
        "columns": {"org_code": "text", "date": "text", "kind": "text", "grade": "text", "detail": "text"},
        "organisation": {"code": "org_code"},
        "events": {"date": "date", "kind": "kind", "grade": "grade", "detail": "detail"},
    }


def output_readme(params: SimulationParameters, indicators_file: str, items: tuple[str, ...]) -> str:
    months = ", ".join(str(m) for m in params.survey_pulse_months)
    pulse = (
        f"\n`{PULSE_SURVEY_FILE}`: quarterly pulse waves (months {months}) with the annual wave's design and the same"
        " columns, `wave` being the fieldwork month (`YYYY-MM`).\n"
        if params.survey_pulse_months
        else ""
    )
    return f"""# SIMULATED data (Forewarn population simulator, seed {params.seed})

Nothing here describes a real organisation. The generative model is documented in `docs/simulator.md`.

Observable data, each file with the mapping the importer takes (`forewarn import FILE --mapping MAPPING`):

| file | mapping | what |
| --- | --- | --- |
| `{ORGANISATIONS_FILE}` | `organisations_mapping.yml` | one row per organisation: code, name, type, region |
| `{indicators_file}` | `indicators_mapping.yml` | one row per organisation, month and indicator (long form); `staff` and `deprivation` are filled on the first row of each organisation in the first month and every January, and become dated organisation attributes |
| `{EVENTS_FILE}` | `events_mapping.yml` | inspections (with grade), special measures, interventions, leadership changes |
| `{SURVEY_FILE}` | (surveys service) | staff survey answers, one row per respondent and wave, no respondent identity |

`{SURVEY_FILE}` columns: `org_code`, `wave` (the calendar year; fielded in month {params.survey_month}), then one
column per item of the learning-capacity instrument in the instrument's order ({items[0]} .. {items[-1]}), answers
1..5 as given (reverse-keyed items are NOT reversed), empty where the respondent skipped the item. Groups smaller than
the minimum group size (FOREWARN_MIN_GROUP_SIZE, 5) occur and must be suppressed by whoever reports them.
{pulse}
`{TRUTH_DIR}/` holds the latent truth (see `{TRUTH_DIR}/README.md`). It is never imported into the store.
"""


def truth_readme(params: SimulationParameters, ext: str, dimensions: tuple[str, ...]) -> str:
    facet_columns = ", ".join(f"`facet_{d}`" for d in dimensions)
    return f"""# Latent truth of a SIMULATED population (seed {params.seed})

What the simulator knows and a regulator never sees. Never import these files into the store: they exist so that
methods can be checked against the truth. Equations and parameters: `docs/simulator.md`; the exact parameters of
this run: `parameters.json`.

| file | one row per | columns |
| --- | --- | --- |
| `organisations.{ext}` | organisation | `org_code`, `type`, `region`, `capacity_base` (the capacity level it reverts to, before deprivation and development), `response_rate` (survey), `staff_start`, `deprivation_start` |
| `latent_monthly.{ext}` | organisation and month | `capacity` (latent learning capacity C), `capacity_target` (mu), `performance` (Q = distributed lag of C - shock impact + enforcement boost), `shock` (pressure S), `enforcement_boost`, `staff`, `deprivation`, `leadership_change`, `shock_arrived`, `in_special_measures`, `intervention` (active arm at month end), {facet_columns} |
| `indicator_truth.{ext}` | organisation and month | one column per indicator code: the expected value of the published value (probability for proportions, rate x multiplier for rates, true O/E ratio for ratio_oe, expected count for counts) |
| `random_effects.{ext}` | organisation and indicator | `random_effect` (b: the between-organisation random effect, logit or log scale), `type_offset` |
| `inspections.{ext}` | inspection | `date`, `grade`, `score` (the latent inspection score), `capacity`, `performance` |
| `interventions.{ext}` | selection or special-measures assignment | `date`, `trigger` (surveillance, special_measures), `arm` (development, enforcement, none = watch only), `composite` (the observed screening score that selected it), `end_date` |
| `survey_waves.{ext}` | organisation and wave | `invited`, `respondents`, `capacity` and {facet_columns} at fielding |

Effects of interventions are switched by `intervention_effect_scale` (0 = no effect at all, so any before/after
change is regression to the mean and latent dynamics).
"""
