"""A portfolio report for a regulator, as HTML and PDF: every case, its support, interventions, exit criteria met,
and the organisations' data sources and licences, with a contents list and page numbers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from forewarn.cases import reading
from forewarn.reports.board import BoardReport, _environment
from forewarn.store.models import Dataset


def portfolio_report(conn: Connection, *, generated: dt.datetime | None = None) -> BoardReport:
    """Every case in the store (the regulator's view: analysts and administrators only)."""
    cases = [reading.get_case(conn, c.id) for c in reading.list_cases(conn)]
    datasets = conn.execute(
        select(Dataset.name, Dataset.source, Dataset.licence, Dataset.simulated).order_by(Dataset.name)
    ).all()
    title = "Portfolio report: cases and interventions"
    html = (
        _environment()
        .get_template("portfolio.html")
        .render(
            title=title,
            cases=cases,
            datasets=datasets,
            generated=(generated or dt.datetime.now(dt.UTC)).strftime("%-d %B %Y %H:%M UTC"),
        )
    )
    return BoardReport(title=title, html=html, charts=0)
