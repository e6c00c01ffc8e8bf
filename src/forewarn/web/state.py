"""What the app holds for its lifetime: settings, the engine, the password hasher and two caches."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from forewarn.accounts.passwords import Passwords
from forewarn.accounts.reads import PortfolioCache
from forewarn.settings import Settings
from forewarn.web.config import WebOptions
from forewarn.web.security import CookieNames


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


@dataclass
class WebState:
    settings: Settings
    options: WebOptions
    engine: Engine
    passwords: Passwords
    portfolio_cache: PortfolioCache
    svg_cache: SvgCache
    cookies: CookieNames

    @property
    def pseudonym_key(self) -> bytes:
        return hashlib.sha256(b"pseudonyms:" + self.settings.secret_key.encode("utf-8")).digest()
