"""Helpers for the survey tests: organisations in the store, a wave ready for answers, settings overrides."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from forewarn.settings import get_settings
from forewarn.store.models import Organisation
from forewarn.surveys.responses import submit_with_token
from forewarn.surveys.tokens import issue_tokens
from forewarn.surveys.uploads import import_responses
from forewarn.surveys.waves import WaveInfo, create_wave, open_wave

ORGS = ("AAA", "BBB", "CCC", "DDD")


def add_organisations(engine: Engine, codes: Sequence[str] = ORGS) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Organisation), [{"code": c, "name": f"Organisation {c}"} for c in codes])


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads settings afresh, with the default minimum group size unless it sets its own."""
    monkeypatch.delenv("FOREWARN_MIN_GROUP_SIZE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def open_wave_aaa_bbb(engine: Engine) -> WaveInfo:
    """An open wave of the built-in instrument for AAA and BBB (CCC and DDD exist but are not in it)."""
    add_organisations(engine)
    create_wave(engine, "spring 2026", ["AAA", "BBB"], created_by="tester", floor=5)
    return open_wave(engine, "spring 2026", by="tester", floor=5)


ACQUIRE = ("acq_1", "acq_2", "acq_3", "acq_4")  # acq_4 is reverse-keyed


def acquire_answers(score: int) -> dict[str, int]:
    """Answers whose 'acquire' score is ``score``: the three plain items say it, the reversed one says 6 - it."""
    return {"acq_1": score, "acq_2": score, "acq_3": score, "acq_4": 6 - score}


def upload_scores(
    engine: Engine, wave: str, folder: Path, name: str, scores: dict[str, Sequence[int]]
) -> None:
    """Upload one response per score, per organisation, through the CSV import."""
    lines = ["org_code," + ",".join(ACQUIRE)]
    for org, values in scores.items():
        for score in values:
            answers = acquire_answers(score)
            lines.append(org + "," + ",".join(str(answers[c]) for c in ACQUIRE))
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_responses(engine, wave, path, imported_by="tester")


def submit_scores(engine: Engine, wave: str, scores: dict[str, Sequence[int]]) -> None:
    """Answer once per score, per organisation, with freshly issued tokens."""
    for org, values in scores.items():
        for token, score in zip(issue_tokens(engine, wave, len(values), [org])[org], values, strict=True):
            submit_with_token(engine, token, acquire_answers(score))
