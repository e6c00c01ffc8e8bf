"""What the app holds for its lifetime: settings, the engine, the password hasher and the audit writer."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import Engine

from forewarn.accounts.audit import PendingEntry, record_many
from forewarn.accounts.passwords import Passwords
from forewarn.settings import Settings
from forewarn.store.database import write_connection
from forewarn.web.config import WebOptions
from forewarn.web.security import CookieNames


@dataclass
class WebState:
    settings: Settings
    options: WebOptions
    engine: Engine
    passwords: Passwords
    cookies: CookieNames
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
