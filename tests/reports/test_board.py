"""The board report renders as a PDF: the test opens it (pypdf) and checks its pages, page numbers, contents, text
from every section, and that the SVG charts are embedded (drawn as vectors with their axis text)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from forewarn.cases import service
from forewarn.cli import app
from forewarn.reports.board import board_report, pdf
from forewarn.settings import get_settings
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
        service.start_intervention(
            conn, case_id, start=__import__("datetime").date(2021, 2, 1), indicators=["perf"], actor="tests"
        )
    with engine.connect() as conn:
        report = board_report(conn, world.ids["OWN"])
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
        "3. Case and interventions",
        "4. Data sources and licences",
    ):
        assert heading in text
    assert f"Page 1 of {len(pages)}" in pages[0] and f"Page {len(pages)} of {len(pages)}" in pages[-1]
    assert "Four-hour waits falling" in text and "development from 2021-02-01" in text
    assert "Seen within four hours" in text
    # The charts are the pages' SVG, drawn into the PDF as vectors: their axis titles are text on the page, and the
    # chart pages carry drawing operators far beyond the text's.
    chart_page = next(i for i, t in enumerate(pages) if "2. Charts" in t)
    content = reader.pages[chart_page].get_contents().get_data()
    assert content.count(b" re") + content.count(b" l\n") + content.count(b" c\n") > 50
    assert "SPC chart, Making Data Count rules" in text


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
