"""PostgreSQL: a large append's foreign keys checked once a distinct parent (``forewarn.store.pg_keys``) keep
what the row triggers guaranteed: a missing parent still fails the write, the parents stay locked against a
delete until the writer's transaction ends, the triggers are back on after the append, and small appends, other
roles and tables with triggers of their own keep the triggers."""

from __future__ import annotations

import polars as pl
import pytest
from psycopg.errors import ForeignKeyViolation
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from forewarn.store.columnar import write_frame
from forewarn.store.pg_keys import CHECKED_ROWS, keys_checked_once


@pytest.fixture
def pg_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("the foreign-key triggers are PostgreSQL's")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe_parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO probe_parent SELECT generate_series(1, 100)")
        conn.exec_driver_sql(
            "CREATE TABLE probe_child (k INTEGER NOT NULL, "
            "parent_id INTEGER NOT NULL REFERENCES probe_parent (id) ON DELETE CASCADE)"
        )
    return engine


def _rows(n: int, parents: int = 100) -> pl.DataFrame:
    return pl.DataFrame(
        {"k": range(n), "parent_id": [1 + i % parents for i in range(n)]},
        schema={"k": pl.Int64, "parent_id": pl.Int64},
    )


def _role(conn: object) -> str:
    return str(conn.exec_driver_sql("SHOW session_replication_role").scalar_one())  # type: ignore[attr-defined]


def test_a_large_append_with_its_parents_is_written_and_the_triggers_come_back(pg_engine: Engine) -> None:
    frame = _rows(CHECKED_ROWS * 2)
    with pg_engine.begin() as conn:
        with keys_checked_once(conn, "probe_child", frame):
            assert _role(conn) == "replica"  # the triggers are off for the append
        assert _role(conn) == "origin"
        assert write_frame(conn, "probe_child", frame) == frame.height
        assert _role(conn) == "origin"
    with pg_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*), sum(parent_id) FROM probe_child").one() == (
            frame.height,
            frame["parent_id"].sum(),
        )


def test_a_missing_parent_still_fails_the_write(pg_engine: Engine) -> None:
    frame = _rows(CHECKED_ROWS * 2, parents=101)  # parent 101 does not exist
    with pg_engine.begin() as conn:
        with keys_checked_once(conn, "probe_child", frame):
            assert _role(conn) == "origin"  # not held: the triggers stay on
        conn.rollback()
    with pg_engine.connect() as conn:
        with pytest.raises(ForeignKeyViolation, match="probe_child"):
            write_frame(conn, "probe_child", frame)
        conn.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM probe_child").scalar_one() == 0


def test_the_parents_stay_locked_until_the_writer_commits(pg_engine: Engine) -> None:
    frame = _rows(CHECKED_ROWS)
    with pg_engine.connect() as writer:
        write_frame(writer, "probe_child", frame)
        with pg_engine.connect() as other:
            other.exec_driver_sql("SET lock_timeout = '300ms'")
            with pytest.raises(OperationalError, match="lock timeout"):
                other.exec_driver_sql("DELETE FROM probe_parent WHERE id = 7")
            other.rollback()
        writer.commit()
    with pg_engine.begin() as conn:  # once committed, the delete cascades to the rows written, as before
        conn.exec_driver_sql("DELETE FROM probe_parent WHERE id = 7")
        assert conn.exec_driver_sql("SELECT count(*) FROM probe_child WHERE parent_id = 7").scalar_one() == 0


def test_small_appends_other_roles_and_tables_with_triggers_keep_the_triggers(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        with keys_checked_once(conn, "probe_child", _rows(CHECKED_ROWS - 1)):
            assert _role(conn) == "origin"
        conn.exec_driver_sql(
            "CREATE FUNCTION probe_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER probe_touch BEFORE INSERT ON probe_child FOR EACH ROW EXECUTE FUNCTION probe_touch()"
        )
        with keys_checked_once(conn, "probe_child", _rows(CHECKED_ROWS)):
            assert _role(conn) == "origin"
        conn.exec_driver_sql("DROP TRIGGER probe_touch ON probe_child")
        role = f"forewarn_probe_{conn.exec_driver_sql('SELECT pg_backend_pid()').scalar_one()}"
        conn.exec_driver_sql(f"CREATE ROLE {role}")
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        try:
            with keys_checked_once(conn, "probe_child", _rows(CHECKED_ROWS)):
                assert _role(conn) == "origin"  # not a superuser
        finally:
            conn.exec_driver_sql("RESET ROLE")
            conn.exec_driver_sql(f"DROP ROLE {role}")
