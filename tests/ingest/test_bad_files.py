"""The malformed-file corpus (tests/fixtures/bad/cases.yml): every kind of bad file gives exactly its error, and
nothing is written to the store for any of them (issue 16)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import MappingError
from forewarn.ingest.problems import ImportRejected
from forewarn.store.queries import counts
from tests.conftest import FIXTURES
from tests.ingest.bad_files import GENERATORS

BAD = FIXTURES / "bad"
CASES: list[dict[str, Any]] = yaml.safe_load((BAD / "cases.yml").read_text(encoding="utf-8"))
TODAY = dt.date(2025, 6, 1)
SUFFIXES = {"xlsx": ".xlsx", "parquet": ".parquet", "csv": ".csv"}


def test_the_corpus_has_at_least_forty_kinds_and_every_file_is_used() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)) >= 40
    used = {case.get("file") for case in CASES} | {case.get("mapping", "mapping.yml") for case in CASES}
    on_disk = {p.name for p in BAD.iterdir()} - {"cases.yml", "SOURCE.md"}
    assert on_disk - used == set(), "files in tests/fixtures/bad/ that no case reads"


def _input(case: dict[str, Any], tmp_path: Path) -> Path:
    if "file" in case:
        return BAD / case["file"]
    name = case["generate"]
    return GENERATORS[name](tmp_path / f"{name}{SUFFIXES[name.split('_')[0]]}")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_bad_file_gives_its_error_and_writes_nothing(
    case: dict[str, Any], engine: Engine, tmp_path: Path
) -> None:
    path = _input(case, tmp_path)
    limits = Limits(today=TODAY, **case.get("limits", {}))
    with engine.connect() as conn:
        before = counts(conn)
    with pytest.raises((ImportRejected, MappingError)) as info:
        import_file(
            engine, path, BAD / case.get("mapping", "mapping.yml"), imported_by="corpus", limits=limits
        )
    error = info.value
    problems = error.report.problems if isinstance(error, ImportRejected) else error.problems
    found = [str(p).replace(f"{BAD}/", "") for p in problems]
    assert found == case["problems"]
    with engine.connect() as conn:
        assert counts(conn) == before, "nothing may be written for a bad file"
