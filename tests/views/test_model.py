"""The base model's one rule for every field: times in UTC, no NUL character anywhere in text."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from forewarn.views.model import Model


class Sample(Model):
    name: str
    count: int
    share: float | None
    day: dt.date
    at: dt.datetime
    tags: list[str]
    extra: dict[str, list[str]]


def _sample(**changes: object) -> Sample:
    values: dict[str, object] = {
        "name": "Trust",
        "count": 3,
        "share": None,
        "day": dt.date(2024, 1, 31),
        "at": dt.datetime(2024, 1, 31, 12, 0),
        "tags": ["a"],
        "extra": {"k": ["v"]},
    }
    return Sample(**{**values, **changes})


def test_a_time_without_a_zone_is_read_as_utc_and_other_values_pass_unchanged() -> None:
    sample = _sample()
    assert sample.at == dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.UTC)
    aware = dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert _sample(at=aware).at == aware
    assert (sample.name, sample.count, sample.share, sample.day) == ("Trust", 3, None, dt.date(2024, 1, 31))


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Tr\x00ust"},
        {"tags": ["ok", "b\x00d"]},
        {"extra": {"k\x00": ["v"]}},
        {"extra": {"k": ["\x00"]}},
    ],
)
def test_a_nul_character_anywhere_in_text_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        _sample(**changes)
