"""Options of the web app: cookie security, session lifetimes, throttling, costs.

``WebOptions.from_settings`` derives them from :class:`forewarn.settings.Settings` (the ``FOREWARN_*`` variables
in docs/settings.md); tests pass cheaper ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from forewarn.accounts.passwords import Argon2Parameters
from forewarn.accounts.sessions import SessionPolicy
from forewarn.accounts.signin import ThrottlePolicy
from forewarn.settings import Settings


@dataclass(frozen=True)
class WebOptions:
    """How the web app protects sessions and what it allows.

    Attributes
    ----------
    secure_cookies
        Send cookies only over HTTPS (``Secure``). On by default in production.
    session
        Idle and absolute lifetimes of a signed-in session.
    throttle
        Failed sign-ins allowed per account and per address before each further attempt must wait (a delay
        doubling per failure, capped).
    argon2
        Password hashing cost.
    upload_dir
        Where uploaded files wait between validation and confirmation.
    max_upload_bytes
        Largest request body accepted (uploads included).
    audit_views
        Record page and API views in the audit log (changes are always recorded).
    reauth
        How recently the password must have been entered for role, organisation and peer-access changes.
    data_version_max_age
        Seconds a reading of the store's data version (the key of the page caches) is trusted before it is
        read again; pages may show data this old after a scan or import by another process. Tests use 0.
    """

    secure_cookies: bool = False
    session: SessionPolicy = field(default_factory=SessionPolicy)
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    upload_dir: Path = Path("var/uploads")
    max_upload_bytes: int = 200 * 1024 * 1024
    audit_views: bool = True
    upload_ttl: dt.timedelta = dt.timedelta(hours=24)
    data_version_max_age: float = 0.0
    reauth: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebOptions:
        secure = settings.secure_cookies
        return cls(
            secure_cookies=settings.environment == "production" if secure is None else secure,
            session=SessionPolicy(
                idle=dt.timedelta(minutes=settings.session_idle_minutes),
                absolute=dt.timedelta(hours=settings.session_absolute_hours),
            ),
            throttle=ThrottlePolicy(
                max_failures_per_account=settings.signin_max_failures_per_account,
                max_failures_per_address=settings.signin_max_failures_per_address,
                window=dt.timedelta(minutes=settings.signin_throttle_minutes),
                max_delay=dt.timedelta(seconds=settings.signin_max_delay_seconds),
            ),
            upload_dir=settings.data_dir / "uploads",
            max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
            audit_views=settings.audit_views,
            data_version_max_age=settings.data_version_seconds,
            reauth=dt.timedelta(minutes=settings.reauth_minutes),
        )
