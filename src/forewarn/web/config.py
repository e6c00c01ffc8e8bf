"""Options of the web app: cookie security, session lifetimes, throttling, costs.

``WebOptions.from_settings`` derives them from :class:`forewarn.settings.Settings` (the ``FOREWARN_*`` variables
in docs/settings.md), where every default is written once; tests replace some (``dataclasses.replace``) with
cheaper ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from forewarn.accounts.passwords import Argon2Parameters
from forewarn.accounts.sessions import SessionPolicy
from forewarn.accounts.signin import ThrottlePolicy
from forewarn.jobs.maintenance import UPLOAD_TTL
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
    upload_ttl
        How long an upload waits for confirmation (maintenance removes older ones).
    max_upload_bytes
        Largest request body accepted (uploads included).
    audit_views
        Record page and API views in the audit log (changes are always recorded).
    reauth
        How recently the password must have been entered for role, organisation and peer-access changes.
    """

    secure_cookies: bool
    session: SessionPolicy
    throttle: ThrottlePolicy
    upload_dir: Path
    max_upload_bytes: int
    audit_views: bool
    reauth: dt.timedelta
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    upload_ttl: dt.timedelta = UPLOAD_TTL

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
            upload_dir=settings.upload_dir,
            max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
            audit_views=settings.audit_views,
            reauth=dt.timedelta(minutes=settings.reauth_minutes),
        )
