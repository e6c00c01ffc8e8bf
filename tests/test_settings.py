"""Settings: every one is documented, and production refuses the development secret."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from pydantic import ValidationError

from forewarn.settings import DEVELOPMENT_SECRET, Settings
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    docs = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(FOREWARN_[A-Z_]+)`", docs))
    defined = {f"FOREWARN_{name.upper()}" for name in Settings.model_fields}
    assert defined - documented == set(), "settings missing from docs/settings.md"
    assert documented - defined == set(), "docs/settings.md names settings that do not exist"


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_ENVIRONMENT", "production")
    monkeypatch.delenv("FOREWARN_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="FOREWARN_SECRET_KEY must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("FOREWARN_SECRET_KEY", "a-real-secret")
    assert Settings(_env_file=None).secret_key != DEVELOPMENT_SECRET  # type: ignore[call-arg]


def test_default_database_is_a_sqlite_file_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FOREWARN_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'forewarn.db'}"


# The process entries read the environment; everything below them is given settings or values (issue 12): an app
# built with its own settings must govern what it serves, whatever the process's global settings say.
SETTINGS_READERS = {
    "settings.py",  # defines get_settings
    "web/server.py",  # the web process's entry: builds the app from the process's settings
    "api.py",  # the analyst's Python API, an entry like the command line: its floor is the process's setting
}


def test_only_the_entry_points_read_the_process_settings() -> None:
    package = ROOT / "src" / "forewarn"
    readers = set()
    for path in package.rglob("*.py"):
        where = path.relative_to(package).as_posix()
        text = path.read_text(encoding="utf-8")
        if where.startswith("cli/"):
            continue
        # get_settings() is the global; Settings() built afresh would read the same environment.
        if "get_settings(" in text or re.search(r"(?<![\w.])Settings\(\)", text):
            readers.add(where)
    assert readers == SETTINGS_READERS, (
        "pass the value (or the app's state.settings) down instead of reading the process's settings"
    )


def test_import_limits_default_to_the_settings_defaults() -> None:
    """An importer given no limits uses ``Limits()``: the same figures as the settings' defaults."""
    import datetime as dt

    from forewarn.ingest.limits import Limits

    day = dt.date(2026, 1, 1)
    assert Limits(today=day) == replace(Limits.from_settings(Settings.model_construct()), today=day)
