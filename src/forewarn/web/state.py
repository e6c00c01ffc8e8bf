"""What the app holds for its lifetime: settings, options, the engine, the password hasher and the cookie names."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from forewarn.access.policy import pseudonym_key_of
from forewarn.accounts.passwords import Passwords
from forewarn.settings import Settings
from forewarn.web.config import WebOptions
from forewarn.web.security import CookieNames


@dataclass
class WebState:
    settings: Settings
    options: WebOptions
    engine: Engine
    passwords: Passwords
    cookies: CookieNames

    @property
    def pseudonym_key(self) -> bytes:
        return pseudonym_key_of(self.settings.secret_key)
