"""The simulator's output: reproducible from a seed, in the importer's formats, loadable into a store, and the
truth kept out of it. References: the importer itself (forewarn.ingest) and the instrument YAML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from sqlalchemy import Engine, func, inspect, select, text

from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import load_mapping
from forewarn.ingest.problems import ImportRejected
from forewarn.simulate import SimulationParameters, SimulationSummary, load, simulate
from forewarn.simulate.surveys import default_instrument_path, load_instrument
from forewarn.store.models import EVENT_KINDS, Dataset, Indicator, Organisation, OrganisationAttribute
from forewarn.store.models_peers import SQLITE_SEARCH_TABLES

FOUNDATION_TABLES = {
    "alembic_version",
    "datasets",
    "organisations",
    "organisation_attributes",
    "indicators",
    "import_batches",
    "observations",
    "observation_revisions",
    "events",
    "indicator_data_versions",
}
OBSERVABLE = (
    "organisations.csv",
    "organisations_mapping.yml",
    "indicators.parquet",
    "indicators_mapping.yml",
    "events.csv",
    "events_mapping.yml",
    "survey_responses.csv",
    "README.md",
    "simulation.json",
)
TRUTH = (
    "README.md",
    "parameters.json",
    "organisations.parquet",
    "latent_monthly.parquet",
    "indicator_truth.parquet",
    "random_effects.parquet",
    "inspections.parquet",
    "interventions.parquet",
    "survey_waves.parquet",
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    params = SimulationParameters(n_organisations=40, n_years=2, seed=7)
    simulate(tmp_path / "a", params)
    simulate(tmp_path / "b", params)
    simulate(tmp_path / "c", SimulationParameters(n_organisations=40, n_years=2, seed=8))
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a.keys() == b.keys() == c.keys()
    assert a == b, "the same seed must give byte-identical files"
    data_files = [k for k in a if not k.endswith((".md", ".yml", ".json"))]
    differ = [k for k in data_files if a[k] != c[k]]
    assert set(data_files) - set(differ) <= {"organisations.csv"}, "a new seed must change every data file"
    indicators = [pl.read_parquet(tmp_path / x / "indicators.parquet") for x in ("a", "c")]
    assert not indicators[0].equals(indicators[1])


def test_csv_output_matches_parquet_output_and_loads(engine: Engine, tmp_path: Path) -> None:
    params = SimulationParameters(n_organisations=15, n_years=1, seed=3)
    simulate(tmp_path / "p", params)
    summary = simulate(tmp_path / "c", params, file_format="csv")
    loaded = load(engine, tmp_path / "c")
    assert loaded.indicators.observations_inserted == summary.indicator_rows == 15 * 12 * 20
    assert summary.file_format == "csv"
    parquet = pl.read_parquet(tmp_path / "p" / "indicators.parquet").with_columns(pl.all().cast(pl.String))
    csv = pl.read_csv(tmp_path / "c" / "indicators.csv", infer_schema=False)
    assert parquet.columns == csv.columns
    assert parquet.select("org_code", "period", "indicator", "numerator").equals(
        csv.select("org_code", "period", "indicator", "numerator")
    )
    assert (tmp_path / "c" / "truth" / "latent_monthly.csv").exists()
    with pytest.raises(ValueError, match="file_format must be 'parquet' or 'csv'"):
        simulate(tmp_path / "x", params, file_format="xlsx")  # type: ignore[arg-type]


def test_output_folder_holds_every_documented_file(small_run: tuple[Path, SimulationSummary]) -> None:
    out, summary = small_run
    for name in OBSERVABLE:
        assert (out / name).is_file(), name
    for name in TRUTH:
        assert (out / "truth" / name).is_file(), name
    assert summary.indicator_rows == 120 * 24 * 20
    manifest = json.loads((out / "simulation.json").read_text())
    assert manifest["indicator_rows"] == summary.indicator_rows
    parameters = json.loads((out / "truth" / "parameters.json").read_text())
    assert parameters["seed"] == 42 and len(parameters["indicators"]) == 20


def test_mappings_parse_and_label_the_data_simulated(small_run: tuple[Path, SimulationSummary]) -> None:
    out, _ = small_run
    records = {}
    for name in ("organisations_mapping.yml", "indicators_mapping.yml", "events_mapping.yml"):
        mapping = load_mapping(out / name)
        assert mapping.dataset.code == "simulated"
        assert mapping.dataset.simulated is True
        assert "SIMULATED" in mapping.dataset.name
        records[name] = mapping.records
    assert records == {
        "organisations_mapping.yml": "organisations",
        "indicators_mapping.yml": "observations",
        "events_mapping.yml": "events",
    }
    indicators = load_mapping(out / "indicators_mapping.yml").indicators
    assert {spec.kind.value for spec in indicators} == {"proportion", "rate", "ratio_oe", "count"}
    assert all(spec.name.startswith("SIMULATED") for spec in indicators)
    organisations = pl.read_csv(out / "organisations.csv")
    assert set(organisations["type"]) == {"hospital", "school", "council"}
    assert organisations["name"].str.starts_with("SIMULATED").all()
    assert organisations["region"].str.starts_with("SIMULATED").all()


def test_indicator_file_is_internally_consistent(small_run: tuple[Path, SimulationSummary]) -> None:
    out, _ = small_run
    frame = pl.read_parquet(out / "indicators.parquet").with_columns(pl.col("indicator").cast(pl.String))
    kinds = {
        s["code"]: s["kind"]
        for s in yaml.safe_load((out / "indicators_mapping.yml").read_text())["indicators"]
    }
    frame = frame.with_columns(pl.col("indicator").replace_strict(kinds).alias("kind"))
    proportions = frame.filter(pl.col("kind") == "proportion")
    assert (proportions["numerator"] <= proportions["denominator"]).all()
    assert (frame.filter(pl.col("kind") != "count")["denominator"] >= 1).all()
    assert (
        frame.filter(pl.col("kind") == "count")["denominator"].null_count()
        == frame.filter(pl.col("kind") == "count").height
    )
    ratios = frame.filter(pl.col("kind") == "ratio_oe")
    assert (ratios["expected"] > 0).all()
    assert frame.filter(pl.col("kind") != "ratio_oe")["expected"].null_count() == frame.height - ratios.height
    # Context attributes: one row per organisation in the first month and each January.
    assert frame.filter(pl.col("staff").is_not_null()).height == 120 * 2


def test_events_use_store_kinds_and_dates_inside_the_period(
    small_run: tuple[Path, SimulationSummary],
) -> None:
    out, summary = small_run
    events = pl.read_csv(out / "events.csv", infer_schema=False)
    assert set(events["kind"]) <= set(EVENT_KINDS)
    assert {"inspection", "leadership_change", "intervention_start"} <= set(events["kind"])
    dates = sorted(events["date"].to_list())
    assert summary.first_period <= dates[0] and dates[-1] <= summary.last_period[:8] + "28"
    assert (
        events.filter(pl.col("kind") == "inspection")["grade"]
        .is_in(["outstanding", "good", "requires_improvement", "inadequate"])
        .all()
    )
    assert events.select("org_code", "date", "kind").is_duplicated().sum() == 0


def test_survey_file_has_the_instrument_items_and_small_groups(
    small_run: tuple[Path, SimulationSummary],
) -> None:
    out, summary = small_run
    instrument = yaml.safe_load(default_instrument_path().read_text(encoding="utf-8"))
    items = [item["code"] for dim in instrument["dimensions"] for item in dim["items"]]
    survey = pl.read_csv(out / "survey_responses.csv")
    assert survey.columns == ["org_code", "wave", *items]
    assert len(items) == 32
    assert set(survey["wave"]) == {2019, 2020}
    answers = survey.select(items).unpivot()["value"].drop_nulls()
    assert set(answers) == {1, 2, 3, 4, 5}
    groups = survey.group_by("org_code", "wave").len()
    assert groups.height == summary.survey_groups
    assert summary.small_survey_groups == groups.filter(pl.col("len") < 5).height > 0
    assert groups["len"].max() >= 10  # type: ignore[operator]
    assert load_instrument().items == tuple(items)


def test_load_imports_cleanly_and_keeps_the_truth_out(
    engine: Engine, small_run: tuple[Path, SimulationSummary]
) -> None:
    out, summary = small_run
    result = load(engine, out, imported_by="test")
    assert result.organisations.organisations_created == 120
    assert result.indicators.observations_inserted == summary.indicator_rows
    assert result.indicators.rows_skipped == 0
    assert result.events.events_inserted == sum(summary.events.values())
    with engine.connect() as conn:
        datasets = conn.execute(select(Dataset.code, Dataset.simulated)).all()
        assert datasets == [("simulated", True)]
        types = dict(conn.execute(select(Organisation.type, func.count()).group_by(Organisation.type)).all())
        assert sum(types.values()) == 120 and set(types) == {"hospital", "school", "council"}
        codes = set(conn.execute(select(Indicator.code)).scalars())
        mapped = {
            s["code"] for s in yaml.safe_load((out / "indicators_mapping.yml").read_text())["indicators"]
        }
        assert codes == mapped
        attributes = set(conn.execute(select(OrganisationAttribute.name).distinct()).scalars())
        assert attributes == {"staff", "deprivation"}
        sources = set(conn.execute(text("SELECT source_name FROM import_batches")).scalars())
        assert sources == {"organisations.csv", "indicators.parquet", "events.csv"}
        # The load moved each indicator's data version (a rescan sees it without reading the observations).
        versions = conn.execute(text("SELECT version FROM indicator_data_versions")).scalars().all()
        assert sorted(versions) == [1] * len(mapped)
        # Nothing else in the store was written: no latent capacity, no survey rows, no truth anywhere.
        for table in inspect(conn).get_table_names():
            if table not in FOUNDATION_TABLES | SQLITE_SEARCH_TABLES:  # FTS5 keeps its own configuration rows
                assert conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar() == 0, table
    again = load(engine, out)
    assert again.indicators.already_imported and again.events.already_imported


def test_load_refuses_a_folder_without_a_simulation(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"simulation\.json is missing"):
        load(engine, tmp_path)


def _declaring(out: Path, copy: Path, rows: int) -> Path:
    """A copy of the simulation in ``out`` whose manifest declares ``rows`` indicator rows."""
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "simulation.json").read_text(encoding="utf-8"))
    manifest["indicator_rows"] = rows
    (copy / "simulation.json").write_text(json.dumps(manifest), encoding="utf-8")
    return copy


def test_load_admits_the_rows_the_simulation_declared_and_no_more(engine: Engine, tmp_path: Path) -> None:
    """The row limit (FOREWARN_IMPORT_MAX_ROWS) gives way to the size the user asked for, for the simulator's own
    indicators file only; a file holding more rows than its manifest declares is refused as over the limit."""
    out = tmp_path / "sim"
    summary = simulate(out, SimulationParameters(n_organisations=10, n_years=1, seed=3))
    assert summary.indicator_rows == 10 * 20 * 12
    limits = Limits(max_rows=1000)  # under the indicators' 2,400 rows, over the other files' rows
    grown = _declaring(out, tmp_path / "grown", 2000)
    with pytest.raises(ImportRejected) as info:
        load(engine, grown, limits=limits)
    assert [str(p) for p in info.value.report.problems] == [
        "indicators.parquet: 2,400 rows, more than the 2,000 an import accepts (FOREWARN_IMPORT_MAX_ROWS)"
    ]
    result = load(engine, out, limits=limits)
    assert result.indicators.observations_inserted == 2400


def test_load_admits_the_bytes_the_declared_rows_allow_and_no_more(engine: Engine, tmp_path: Path) -> None:
    """The byte limit (FOREWARN_IMPORT_MAX_FILE_MB) gives way in proportion to the declared rows, for the
    simulator's own indicators file only: bytes per declared row as the limits allow per row. Derivation: with
    ``max_rows`` 1,000 and ``max_file_bytes`` B, a manifest declaring 2,400 rows admits 2.4 B bytes, so a file of
    size S with B = S // 2 + 1 is admitted (2.4 B > S); declaring 1,000 rows admits only B < S, and it is refused
    as any file over the limit is."""
    out = tmp_path / "sim"
    simulate(out, SimulationParameters(n_organisations=10, n_years=1, seed=3))
    size = (out / "indicators.parquet").stat().st_size
    assert max((out / name).stat().st_size for name in ("organisations.csv", "events.csv")) < size // 2
    limits = Limits(max_rows=1000, max_file_bytes=size // 2 + 1)
    shrunk = _declaring(out, tmp_path / "shrunk", 1000)
    with pytest.raises(ImportRejected) as info:
        load(engine, shrunk, limits=limits)
    [problem] = [str(p) for p in info.value.report.problems]
    assert problem.startswith("indicators.parquet: file of ") and "(FOREWARN_IMPORT_MAX_FILE_MB)" in problem
    result = load(engine, out, limits=limits)
    assert result.indicators.observations_inserted == 2400
