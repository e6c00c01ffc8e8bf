"""Every page and API answer, byte for byte, as each role sees it: the guard for refactoring (issue 12).

Each GET row of the authorisation matrix is requested by every signed-in role over the same small world, and
the body is compared with the snapshot under ``tests/web/snapshots/``, the same on SQLite and PostgreSQL. Only what changes from run to run
is masked (CSRF tokens, clock times, import durations, a session's or token's secret); everything else must stay
identical, except that a decimal number may differ from the recorded one in its last digits (relative 1e-9): the
fitted values come through BLAS and LAPACK, whose kernels OpenBLAS picks by CPU, so a model's estimate moved by about
1e-15 between two machines running the same code and locked packages. A deliberate change is recorded with
``FOREWARN_UPDATE_SNAPSHOTS=1`` and reviewed in the diff.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from forewarn.accounts.sessions import start_session
from forewarn.accounts.tokens import issue_token
from tests.web.test_authorisation_matrix import CASES, OK, Case
from tests.web.world import World

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROLES = ("member", "member_bearer", "analyst", "admin")
UPDATE = os.environ.get("FOREWARN_UPDATE_SNAPSHOTS") == "1"

# What differs between two runs over the same data, and nothing else.
VOLATILE = [
    (re.compile(r'(name="csrf_token" value=")[^"]+'), r"\1<csrf>"),
    (re.compile(r'(name="csrf-token" content=")[^"]+'), r"\1<csrf>"),
    (re.compile(r'("csrf_token":\s*")[^"]+'), r"\1<csrf>"),
    (re.compile(r'("X-CSRF-Token":\s*")[^"]+'), r"\1<csrf>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{1,2} [A-Z][a-z]+ \d{4},? (at )?\d{1,2}:\d{2}(:\d{2})?( UTC)?"), "<time>"),
    (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})? UTC\b"), "<time>"),
    (re.compile(r"/survey/[A-Za-z0-9_-]{20,}"), "/survey/<token>"),
    (re.compile(r"fwt_[A-Za-z0-9_-]{6}"), "fwt_<prefix>"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s|seconds)\b(?= (to|taken|elapsed))"), "<duration>"),
]


DECIMAL = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")
FLOAT_RTOL = 1e-9


def _same_answer(body: str, recorded: str) -> bool:
    """The text between decimal numbers identical, and each decimal number equal to its recorded one to 1e-9."""
    if DECIMAL.split(body) != DECIMAL.split(recorded):
        return False
    return all(
        math.isclose(float(a), float(b), rel_tol=FLOAT_RTOL, abs_tol=1e-12)
        for a, b in zip(DECIMAL.findall(body), DECIMAL.findall(recorded), strict=True)
    )


def _mask(text: str, world: World) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    for key, value in world.tokens.items():
        text = text.replace(value, f"<token:{key}>")
    today = dt.date.today()
    for day in {today.isoformat(), today.strftime("%-d %B %Y"), today.strftime("%-d %b %Y")}:
        text = text.replace(day, "<today>")
    return text


def _client(app: FastAPI, engine: Engine, world: World, role: str) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=True)
    user = world.users["member" if role.startswith("member") else role]
    headers: dict[str, str] = {}
    with engine.begin() as conn:
        if role == "member_bearer":
            headers["Authorization"] = f"Bearer {issue_token(conn, user, 'snapshots').token}"
        else:
            client.cookies.set(app.state.forewarn.cookies.session, start_session(conn, user).token)
    return client, headers


def _slug(case: Case, path: str, role: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", case.path.strip("/")) or "root"
    label = f"__{case.label}" if case.label else ""
    return f"{role}__{name}{label}"


def _pdf_text(document: bytes) -> str:
    """A PDF's pages as text (its bytes carry the time and a random id it was made with): the reports (issue 14)."""
    import io

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(document)).pages
    return f"<{len(pages)} pages>\n" + "\n<page>\n".join(page.extract_text() for page in pages)


def _answers(app: FastAPI, engine: Engine, world: World) -> dict[str, str]:
    answers: dict[str, str] = {}
    for case in CASES:
        if case.method != "GET" or case.path in ("/healthz",):
            continue
        for role in ROLES:
            if role == "member_bearer" and not case.path.startswith("/api/v1/"):
                continue
            if case.expect.get(role) != OK:
                continue
            path = case.path.format(**case.setup(world, engine))
            client, headers = _client(app, engine, world, role)
            with client:
                response = client.get(path, headers=headers, follow_redirects=False)
            kind = response.headers.get("content-type", "")
            body = (
                _mask(response.text, world)
                if not kind.startswith(("image/png", "application/pdf"))
                else _mask(_pdf_text(response.content), world)
                if kind == "application/pdf"
                else f"<{len(response.content)} bytes>"
            )
            answers[_slug(case, path, role)] = f"{response.status_code} {kind}\n{body}"
    return answers


@pytest.mark.slow
def test_every_page_and_api_answer_is_unchanged(app: FastAPI, engine: Engine, world: World) -> None:
    folder = SNAPSHOTS
    answers = _answers(app, engine, world)
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.txt"):
            old.unlink()
        for name, body in answers.items():
            (folder / f"{name}.txt").write_text(body, encoding="utf-8")
    recorded = {p.stem: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")}
    assert set(answers) == set(recorded), (
        f"new: {sorted(set(answers) - set(recorded))}; gone: {sorted(set(recorded) - set(answers))}"
    )
    changed = [name for name, body in answers.items() if not _same_answer(body, recorded[name])]
    assert not changed, f"answers changed (FOREWARN_UPDATE_SNAPSHOTS=1 records them): {changed}"


def test_same_answer_allows_only_last_digit_differences() -> None:
    """The comparison above: it must still catch a changed word, a changed number and a number gone missing."""
    recorded = '{"estimate":0.0016605123657467136,"n":12,"label":"Within limits"}'
    assert _same_answer('{"estimate":0.0016605123657468523,"n":12,"label":"Within limits"}', recorded)
    assert not _same_answer('{"estimate":0.0016605123657467136,"n":13,"label":"Within limits"}', recorded)
    assert not _same_answer('{"estimate":0.00166052,"n":12,"label":"Within limits"}', recorded)
    assert not _same_answer('{"estimate":0.0016605123657467136,"n":12,"label":"Above limits"}', recorded)
    assert not _same_answer('{"n":12,"label":"Within limits"}', recorded)
