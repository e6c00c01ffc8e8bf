"""Engines and sessions for the embedded SQLite store and the PostgreSQL server store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the web app) work while an import writes; foreign keys are off by default in SQLite.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Import staging tables live in memory; a larger page cache keeps index updates off the disk.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-131072")
        cursor.close()


SQLITE_BEGIN_OPTION = "forewarn_sqlite_begin"


def _sqlite_begin(conn: Connection) -> None:
    # A writing transaction asks for the write lock at BEGIN IMMEDIATE (see write_connection); a plain BEGIN
    # takes it only at the first write, too late when the transaction has read since another writer committed.
    mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite, creates the parent directory and turns on WAL and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; let SQLAlchemy emit it so a whole import is one transaction.
        event.listen(engine, "connect", lambda conn, _rec: setattr(conn, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed together, or rolled back together on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write, committed at the end (rolled back on any error).

    On SQLite it begins IMMEDIATE: it takes the database's write lock before its first read, waiting (up to
    ``busy_timeout``) while another writer holds it. A deferred transaction that reads, then writes after someone
    else committed, fails at once with SQLITE_BUSY_SNAPSHOT ("database is locked"), which ``busy_timeout`` does
    not retry: sign-ins failed so while others browsed (issue 16). Keep these transactions short (check a
    password before, not inside): every other writer waits for them. On PostgreSQL it is ``engine.begin()``.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn
