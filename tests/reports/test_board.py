"""The board report renders as a PDF: the test opens it (pypdf) and checks its pages, page numbers, contents, text
from every section, and that the SVG charts are embedded (drawn as vectors with their axis text)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from forewarn.cases import interventions, outcomes, service
from forewarn.cli import app
from forewarn.reports.board import board_report, pdf
from forewarn.settings import get_settings
from forewarn.views.soft import soft_measures
from tests.web.world import World, build_world

pypdf = pytest.importorskip("pypdf")


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def test_the_board_report_pdf(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        case_id = service.open_case(
            conn,
            "OWN1",
            support="development",
            owner="Dana",
            concern="Four-hour waits falling",
            actor="tests",
        )
        interventions.start_intervention(
            conn, case_id, start=dt.date(2021, 2, 1), indicators=["perf"], actor="tests"
        )
        interventions.end_intervention(conn, case_id, end=dt.date(2021, 9, 1), actor="tests")
    with engine.connect() as conn:
        report = board_report(conn, world.ids["OWN"])
        outcome = outcomes.case_outcome(conn, case_id)
        members_copy = board_report(conn, world.ids["OWN"], regulator=False)
        soft = soft_measures(conn, "OWN1", min_group_size=5)
    assert report.charts >= 1
    reader = pypdf.PdfReader(io.BytesIO(pdf(report)))
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 2
    text = "\n".join(pages)
    assert "Board report: Alpha Own Trust" in text
    for heading in (
        "Contents",
        "1. Signals",
        "2. Charts",
        "3. Soft measures",
        "4. Statistical neighbours",
        "5. Case and interventions",
        "6. Data sources and licences",
    ):
        assert heading in text
    # The regulator's copy carries the effect against the comparison group and the follow-up, with the numbers
    # the case's outcome gives; the member's copy leaves the comparison out, as their case page does.
    (effect,) = outcome.effects
    (follow,) = outcome.follow_ups
    assert "Did it work?" in text and "Does it last?" in text
    if effect.reason is None:
        assert f"{effect.did:+.3f} ({effect.ci_low:+.3f} to {effect.ci_high:+.3f})" in text
    assert f"Follow-up after withdrawal on 2021-09-01: {follow.status}" in text
    assert "Did it work?" not in members_copy.html and "Difference in differences" not in members_copy.html
    # Soft measures as the page shows them, small groups suppressed.
    assert soft and soft[0].wave in text
    shown = [d for d in soft[0].dimensions if not d.suppressed]
    assert shown and all(d.name in report.html for d in shown)
    assert any(d.suppressed for d in soft[0].dimensions) == ("Suppressed (small group)" in report.html)
    assert f"Page 1 of {len(pages)}" in pages[0] and f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert "Four-hour waits falling" in text and "development from 2021-02-01 to 2021-09-01" in text
    assert "Seen within four hours" in text
    # The charts are the pages' SVG, drawn into the PDF as vectors: their axis titles are text on the page, and the
    # chart pages carry drawing operators far beyond the text's.
    chart_page = next(i for i, t in enumerate(pages) if "2. Charts" in t)
    content = reader.pages[chart_page].get_contents().get_data()
    assert content.count(b" re") + content.count(b" l\n") + content.count(b" c\n") > 50
    assert "SPC chart, Making Data Count rules" in text
    # Beside each SPC chart its funnel history, with the intervention drawn on it (its label is chart text).
    assert "funnel history, the z-score in the funnel" in text
    assert "Funnel z-score" in text
    assert text.count("development (case") >= 4  # on both charts of both indicators, beyond the case section


def test_report_org_command(
    engine: Engine, world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        out = tmp_path / "board.pdf"
        result = CliRunner().invoke(
            app, ["report", "org", "OWN1", "--pdf", str(out), "--html", str(tmp_path / "b.html")]
        )
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"%PDF") and len(pypdf.PdfReader(out).pages) >= 2
        missing = CliRunner().invoke(app, ["report", "org", "NOPE", "--pdf", str(out)])
        assert missing.exit_code == 1 and "no organisation" in missing.stderr
    finally:
        get_settings.cache_clear()


def test_the_portfolio_report_pdf(
    engine: Engine, world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        service.open_case(
            conn, "OWN1", support="enforcement", owner="Dana", concern="Falls rising", actor="tests"
        )
        service.open_case(conn, "HIDE1", support="watch", owner="Lee", concern="Waits", actor="tests")
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        out = tmp_path / "portfolio.pdf"
        result = CliRunner().invoke(app, ["report", "portfolio", "--pdf", str(out)])
        assert result.exit_code == 0, result.output
        reader = pypdf.PdfReader(out)
        text = "\n".join(p.extract_text() for p in reader.pages)
        assert "Portfolio report" in text and "2 cases" in text
        assert "Alpha Own Trust" in text and "Charlie Hidden Trust" in text and "Falls rising" in text
        assert f"Page 1 of {len(reader.pages)}" in text and "Data sources and licences" in text
    finally:
        get_settings.cache_clear()
