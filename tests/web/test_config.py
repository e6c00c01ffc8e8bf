"""Web options come from the settings: cookie security, session lifetimes, sign-in throttling, upload size."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from forewarn.accounts.sessions import SessionPolicy
from forewarn.accounts.signin import ThrottlePolicy
from forewarn.settings import Settings
from forewarn.web.config import WebOptions


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, secret_key="a-real-secret", **values)  # type: ignore[call-arg, arg-type]


def test_cookies_are_secure_in_production_unless_set_otherwise() -> None:
    assert WebOptions.from_settings(settings(environment="production")).secure_cookies is True
    assert WebOptions.from_settings(settings(environment="development")).secure_cookies is False
    assert WebOptions.from_settings(settings(environment="development", secure_cookies=True)).secure_cookies
    with pytest.raises(ValueError, match="SECURE_COOKIES"):  # production refuses them off (issue 16)
        settings(environment="production", secure_cookies=False)


def test_environment_variables_set_sessions_throttling_and_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_SESSION_IDLE_MINUTES", "30")
    monkeypatch.setenv("FOREWARN_SESSION_ABSOLUTE_HOURS", "12")
    monkeypatch.setenv("FOREWARN_SIGNIN_MAX_FAILURES_PER_ACCOUNT", "3")
    monkeypatch.setenv("FOREWARN_SIGNIN_MAX_FAILURES_PER_ADDRESS", "20")
    monkeypatch.setenv("FOREWARN_SIGNIN_THROTTLE_MINUTES", "60")
    monkeypatch.setenv("FOREWARN_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("FOREWARN_AUDIT_VIEWS", "false")
    options = WebOptions.from_settings(settings())
    assert (options.session.idle, options.session.absolute) == (
        dt.timedelta(minutes=30),
        dt.timedelta(hours=12),
    )
    assert (
        options.throttle.max_failures_per_account,
        options.throttle.max_failures_per_address,
        options.throttle.window,
    ) == (3, 20, dt.timedelta(hours=1))
    assert options.max_upload_bytes == 2 * 1024 * 1024
    assert options.audit_views is False


def test_a_session_cannot_outlive_its_absolute_lifetime_by_idling() -> None:
    with pytest.raises(ValidationError, match="SESSION_ABSOLUTE_HOURS"):
        settings(session_idle_minutes=600, session_absolute_hours=8)


def test_each_default_is_the_settings_default(tmp_path: Path) -> None:
    """The policies' own defaults are read from Settings, so an app built from default settings and a policy
    made without arguments agree (they once disagreed)."""
    options = WebOptions.from_settings(settings(data_dir=tmp_path))
    assert options.session == SessionPolicy()
    assert options.throttle == ThrottlePolicy()
    assert options.upload_dir == tmp_path / "uploads" == settings(data_dir=tmp_path).upload_dir
