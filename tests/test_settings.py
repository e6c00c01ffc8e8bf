"""Settings: every one is documented, and production refuses the development secret."""

from __future__ import annotations

import re

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
