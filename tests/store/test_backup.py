"""`forewarn db backup FILE` and `forewarn db restore FILE` (issue 16): a round trip gives back every table, row for
row, on the store under test (SQLite by default, PostgreSQL with FOREWARN_TEST_DATABASE=postgresql)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select, text
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.ingest.importer import import_file
from forewarn.store import backup as backup_module
from forewarn.store.database import make_engine
from tests.conftest import FIXTURES, test_database_kind

HEADER = "period,org_code,org_name,attendances,breaches\n"
MAPPING = FIXTURES / "ingest" / "mapping.yml"


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every table of the store with every row, in a fixed order."""
    metadata = MetaData()
    metadata.reflect(engine)
    tables: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(metadata.tables.items()):
            rows = conn.execute(select(table)).all()
            tables[name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


def load(engine: Engine, tmp_path: Path, name: str, rows: list[str]) -> None:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    import_file(engine, path, MAPPING, imported_by="tester")


def test_backup_then_restore_gives_back_every_table(
    runner: CliRunner, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, "a.csv", ["2020-01-01,AAA,Alpha,1000,100", "2020-02-01,BBB,Beta,500,20"])
    before = snapshot(engine)
    assert before["observations"] and before["alembic_version"]
    file = tmp_path / "backups" / "store.backup"
    made = runner.invoke(app, ["db", "backup", str(file)])
    assert made.exit_code == 0, made.output
    assert f"to {file}" in made.stderr and not list(file.parent.glob(".*partial"))

    load(engine, tmp_path, "b.csv", ["2020-01-01,AAA,Alpha,1000,300", "2020-03-01,CCC,Gamma,10,1"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM organisation_attributes"))
    assert snapshot(engine) != before
    engine.dispose()

    refused = runner.invoke(app, ["db", "restore", str(file)], input="n\n")
    assert refused.exit_code == 1 and snapshot(engine) != before
    restored = runner.invoke(app, ["db", "restore", str(file), "--yes"])
    assert restored.exit_code == 0, restored.output
    engine.dispose()
    after = snapshot(engine)
    assert {name: len(rows) for name, rows in after.items()} == {
        name: len(rows) for name, rows in before.items()
    }
    assert after == before


def test_restore_refuses_what_is_not_a_backup_of_this_kind_of_store(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    not_backup = tmp_path / "notes.txt"
    not_backup.write_text("hello", encoding="utf-8")
    result = runner.invoke(app, ["db", "restore", str(not_backup), "--yes"])
    assert result.exit_code == 1
    assert "is not a Forewarn backup (neither a SQLite file nor a pg_dump archive)" in result.stderr
    missing = runner.invoke(app, ["db", "restore", str(tmp_path / "nope"), "--yes"])
    assert "no such backup file" in missing.stderr
    other = tmp_path / "other.backup"
    if test_database_kind() == "postgresql":
        sqlite_store = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        with sqlite_store.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        sqlite_store.dispose()
        other.write_bytes((tmp_path / "x.db").read_bytes())
        expected = "is a sqlite backup and the store is postgresql"
    else:
        other.write_bytes(backup_module.PG_DUMP_MAGIC + b"\x00" * 100)
        expected = "is a postgresql backup and the store is sqlite"
    wrong_kind = runner.invoke(app, ["db", "restore", str(other), "--yes"])
    assert wrong_kind.exit_code == 1 and expected in wrong_kind.stderr


def test_a_sqlite_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    plain = make_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    with plain.begin() as conn:
        conn.execute(text("CREATE TABLE t (x int)"))
    plain.dispose()
    with pytest.raises(backup_module.BackupError, match="not a Forewarn store"):
        backup_module.restore(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "plain.db")


def test_postgresql_without_pg_dump_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backup_module.shutil, "which", lambda _name: None)
    with pytest.raises(backup_module.BackupError, match="pg_dump is not installed"):
        backup_module.backup("postgresql+psycopg://postgres@127.0.0.1:5432/nowhere", tmp_path / "x.backup")
