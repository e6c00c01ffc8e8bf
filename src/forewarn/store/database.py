"""Engines and connections for the embedded SQLite store and the PostgreSQL server store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text


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
# The SQLite connection's change counter when its transaction began: a reader on a connection of its own (the
# columnar read, ``store.columnar``) is used only while the caller's transaction has written nothing since.
SQLITE_CHANGES_AT_BEGIN = "forewarn_sqlite_changes_at_begin"


def _sqlite_begin(conn: Connection) -> None:
    # A writing transaction asks for the write lock at BEGIN IMMEDIATE (see write_connection); a plain BEGIN
    # takes it only at the first write, too late when the transaction has read since another writer committed.
    mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")
    raw = conn.connection.driver_connection
    if isinstance(raw, sqlite3.Connection):
        conn.info[SQLITE_CHANGES_AT_BEGIN] = raw.total_changes


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


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads, or for a lookup that may write a little (a token's last use), committed at the end.

    On PostgreSQL it runs in autocommit: one round trip per statement, no BEGIN and ROLLBACK. Reads see no less
    consistency than in a transaction: PostgreSQL's default isolation (read committed) takes a snapshot per
    statement either way. SQLite keeps a plain transaction (the SQLite engine issues its own BEGIN, which
    autocommit would leave open), and with it one snapshot for the reads until ``conn.commit()``.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.connect() as conn:  # begins at its first statement; a commit ends the snapshot
            yield conn
            conn.commit()


def begin_writes_immediately(conn: Connection) -> Connection:
    """``conn``, whose next transaction on SQLite begins IMMEDIATE (see :func:`write_connection`)."""
    if conn.dialect.name == "sqlite":
        conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return conn


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
    with engine.connect() as conn, begin_writes_immediately(conn).begin():
        yield conn


@contextmanager
def writes_on(conn: Connection, *, durable: bool = True) -> Iterator[Connection]:
    """Turn a :func:`read_connection` into a writing transaction, committed at the end (rolled back on any error),
    then back into a read connection: a request needs no second connection to write.

    Its read snapshot (SQLite) ends first. The transaction begins at its first statement: on SQLite BEGIN
    IMMEDIATE (see :func:`write_connection`), on PostgreSQL at the engine's isolation level instead of autocommit.

    ``durable=False`` is for records whose loss in a server crash is acceptable (page views in the audit log): on
    PostgreSQL the commit then returns before its WAL is flushed to disk (``synchronous_commit = off`` for this
    transaction only: a crash may lose the last fraction of a second of them, never corrupts anything; PostgreSQL
    manual, "Asynchronous Commit"), so a page view does not wait for a disk flush. SQLite already commits
    without one (WAL with ``synchronous=NORMAL``).
    """
    conn.commit()
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        conn.execution_options(isolation_level=conn.default_isolation_level)
    else:
        begin_writes_immediately(conn)
    try:
        if postgresql and not durable:
            conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        yield conn
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        if postgresql:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn.execution_options(**{SQLITE_BEGIN_OPTION: None})


@contextmanager
def transaction(db: Engine | Connection) -> Iterator[Connection]:
    """The transaction a service writes in: the caller's own when given a connection (committed or rolled back
    by the caller, with whatever else it holds, such as the audit entry of the change), else a new
    :func:`write_connection` of the engine."""
    if isinstance(db, Connection):
        yield db
        return
    with write_connection(db) as conn:
        yield conn
