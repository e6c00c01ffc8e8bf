"""What the app holds for its lifetime: settings, the engine, the password hasher and two caches."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine

from forewarn.accounts.audit import PendingEntry, record_many
from forewarn.accounts.passwords import Passwords
from forewarn.accounts.reads import PortfolioCache
from forewarn.settings import Settings
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
    """Derived pages by key and data version (read through ``versions``, see
    :meth:`forewarn.accounts.reads.PortfolioCache.version`), least recently used first out. Only content that
    does not depend on who asks goes here: the caller checks access before every lookup."""

    def __init__(self, versions: PortfolioCache, max_entries: int = 300) -> None:
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

    Entries are stamped when they happen; a batch is written at least every ``interval`` seconds, and on
    shutdown. A crash can lose at most the views of that last interval.
    """

    def __init__(self, engine: Engine, interval: float = 0.5, max_batch: int = 500) -> None:
        self._engine = engine
        self._interval = interval
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[PendingEntry | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, entry: PendingEntry) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="forewarn-audit", daemon=True)
                self._thread.start()
        self._queue.put(entry)

    def _drain(self, first: PendingEntry | None, wait: float) -> tuple[list[PendingEntry], bool]:
        batch = [first] if first is not None else []
        stop = first is None and wait == 0
        deadline = time.monotonic() + wait
        while len(batch) < self._max_batch:
            try:
                item = (
                    self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    if wait
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                batch, _ = self._drain(None, 0)
                self._write(batch)
                return
            batch, stop = self._drain(first, self._interval)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[PendingEntry]) -> None:
        if not batch:
            return
        try:
            with self._engine.begin() as conn:
                record_many(conn, batch)
        except Exception:  # never let auditing take the app down; say so in the server log
            logging.getLogger("forewarn.audit").exception("could not write %d audit entries", len(batch))

    def flush(self) -> None:
        """Write everything queued so far, now (tests, shutdown)."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=30)
        batch, _ = self._drain(None, 0)
        self._write(batch)
