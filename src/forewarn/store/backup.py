"""Back up the store to one file, and restore it from one, for SQLite and PostgreSQL alike.

SQLite: the online backup API (:meth:`sqlite3.Connection.backup`) copies a consistent snapshot while the app keeps
running, into a SQLite file; restoring copies such a file back over the live database, page by page, under
SQLite's own locks. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists
--single-transaction`` (a restore that fails leaves the store as it was); both need the PostgreSQL client
programs, of a version at least the server's.

A backup is written to a temporary file beside the target and renamed into place, so a failed or interrupted
backup never leaves a half-written file under the target's name.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str  # "sqlite" | "postgresql"
    bytes: int


def _kind(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"backups cover SQLite and PostgreSQL stores, not {backend}")
    return backend


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite store has nothing to back up")
    return Path(url.database)


def _file_kind(path: Path) -> str:
    if not path.is_file():
        raise BackupError(f"no such backup file: {path}")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a Forewarn backup (neither a SQLite file nor a pg_dump archive)")


def _temporary(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.partial")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for the PostgreSQL client programs, with the password in the environment only."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: PostgreSQL backups need the PostgreSQL client programs "
            "(on Debian: apt-get install postgresql-client, of the server's version or newer)"
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")


def backup(database_url: str, target: Path) -> BackupResult:
    """Write a backup of the store at ``database_url`` to ``target`` (replaced if it exists)."""
    url = make_url(database_url)
    kind = _kind(url)
    partial = _temporary(target)
    partial.unlink(missing_ok=True)
    try:
        if kind == "sqlite":
            source_path = _sqlite_path(url)
            if not source_path.is_file():
                raise BackupError(f"the SQLite store {source_path} does not exist")
            source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            uri, env = _libpq(url)
            _run(
                [
                    _program("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(partial),
                    uri,
                ],
                env,
                "pg_dump",
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, kind=kind, bytes=target.stat().st_size)


def _check_sqlite_backup(path: Path) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        status = connection.execute("PRAGMA quick_check").fetchone()[0]
        has_version = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite backup: {exc}") from exc
    finally:
        connection.close()
    if status != "ok":
        raise BackupError(f"{path} is damaged (SQLite quick_check: {status})")
    if not has_version:
        raise BackupError(f"{path} is a SQLite file but not a Forewarn store (no alembic_version table)")


def restore(database_url: str, source: Path) -> str:
    """Replace the store at ``database_url`` with the backup ``source``; returns the store's kind.

    The backup must be of the same kind of store (a SQLite file for SQLite, a pg_dump archive for PostgreSQL).
    Run ``forewarn db upgrade`` afterwards if the backup is older than the code.
    """
    url = make_url(database_url)
    kind = _kind(url)
    found = _file_kind(source)
    if found != kind:
        raise BackupError(
            f"{source} is a {found} backup and the store is {kind}: restore it into a {found} store "
            "(FOREWARN_DATABASE_URL), then move the data with an export and import"
        )
    if kind == "sqlite":
        _check_sqlite_backup(source)
        live_path = _sqlite_path(url)
        live_path.parent.mkdir(parents=True, exist_ok=True)
        backup_copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(live_path, timeout=30)
        try:
            backup_copy.backup(live)
        finally:
            live.close()
            backup_copy.close()
    else:
        uri, env = _libpq(url)
        _run(
            [
                _program("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                uri,
                str(source),
            ],
            env,
            "pg_restore",
        )
    return kind
