"""What the app holds for its lifetime: settings, the engine, the password hasher and two caches."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine

from forewarn.accounts.audit import PendingEntry, record_many
from forewarn.accounts.passwords import Passwords
from forewarn.accounts.reads import DataVersionClock, PortfolioCache
from forewarn.settings import Settings
from forewarn.store.database import write_connection
from forewarn.web.config import WebOptions
from forewarn.web.pages.surveys import ResultsCache
from forewarn.web.security import CookieNames

T = TypeVar("T")


class SvgCache:
    """Server-drawn charts by spec: drawing one costs far more than serving a page, and specs repeat."""

    def __init__(self, max_entries: int = 2000) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries

    def get_or_draw(self, key: str, draw: Callable[[], str]) -> str:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        with self._lock:
            if digest in self._entries:
                self._entries.move_to_end(digest)
                return self._entries[digest]
        drawn = draw()
        with self._lock:
            self._entries[digest] = drawn
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return drawn


class VersionedCache:
    """Derived pages by key and data version (read through ``versions``), least recently used first out. Only content that
    does not depend on who asks goes here: the caller checks access before every lookup."""

    def __init__(self, versions: DataVersionClock, max_entries: int = 300) -> None:
        self._lock = threading.Lock()
        self._versions = versions
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._max = max_entries

    def get_or_build(self, conn: Connection, key: Hashable, build: Callable[[], T]) -> T:
        """The entry for ``key`` at the store's current data version, built (and kept) when missing."""
        key = (key, self._versions.version(conn))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
        built = build()
        with self._lock:
            self._entries[key] = built
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return built


@dataclass
class WebState:
    settings: Settings
    options: WebOptions
    engine: Engine
    passwords: Passwords
    versions: DataVersionClock
    portfolio_cache: PortfolioCache
    svg_cache: SvgCache
    cookies: CookieNames
    results_cache: ResultsCache
    page_cache: VersionedCache
    audit_writer: AuditWriter

    @property
    def pseudonym_key(self) -> bytes:
        return hashlib.sha256(b"pseudonyms:" + self.settings.secret_key.encode("utf-8")).digest()


class AuditWriter:
    """Writes audit entries of page and API *views* in batches from a background thread, so a page view costs
    no extra transaction. Changes are never queued: they are recorded in their own transaction at once.

    Entries are stamped when they happen and appended to a list; the writer wakes every ``interval`` seconds (or
    when ``max_batch`` entries wait) and writes what has gathered. A queue that woke the writer on every entry
    made each page view hand the interpreter lock to the writer and wait to get it back, a fifth of a page's
    time under load. A crash can lose at most the views of the last interval; shutdown writes them.
    """

    def __init__(self, engine: Engine, interval: float = 0.5, max_batch: int = 500) -> None:
        self._engine = engine
        self._interval = interval
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[PendingEntry] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, entry: PendingEntry) -> None:
        with self._lock:
            self._pending.append(entry)
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="forewarn-audit", daemon=True)
                self._thread.start()
            full = len(self._pending) >= self._max_batch
        if full:
            self._wake.set()

    def _take(self) -> tuple[list[PendingEntry], bool]:
        with self._lock:
            batch, self._pending = self._pending, []
            return batch, self._stopping

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            batch, stop = self._take()
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[PendingEntry]) -> None:
        for start in range(0, len(batch), self._max_batch):
            chunk = batch[start : start + self._max_batch]
            try:
                with write_connection(self._engine) as conn:
                    record_many(conn, chunk)
            except Exception:  # never let auditing take the app down; say so in the server log
                logging.getLogger("forewarn.audit").exception("could not write %d audit entries", len(chunk))

    def flush(self) -> None:
        """Write everything gathered so far, now (tests, shutdown)."""
        with self._lock:
            thread = self._thread
            self._thread = None
            self._stopping = True
        if thread is not None and thread.is_alive():
            self._wake.set()
            thread.join(timeout=30)
        batch, _ = self._take()
        self._write(batch)
