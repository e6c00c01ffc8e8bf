"""What the app holds for its lifetime: settings, the engine, the password hasher and the caches."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine

from forewarn.accounts.passwords import Passwords
from forewarn.accounts.reads import DataVersionClock, PortfolioCache
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

    @property
    def pseudonym_key(self) -> bytes:
        return hashlib.sha256(b"pseudonyms:" + self.settings.secret_key.encode("utf-8")).digest()
