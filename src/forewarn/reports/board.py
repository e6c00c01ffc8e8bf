"""A board report for one organisation, as HTML and PDF (WeasyPrint): its signals, its charts (the same SVG SPC
charts and funnel histories as its indicator pages, drawn by ``forewarn.charts``, interventions shaded), its soft measures (small groups
suppressed, as on the page), its statistical neighbours (named only where the reader may see them), its case and
interventions with, for the regulator, each intervention's effect against its comparison group and the follow-up
after withdrawal, and the data's sources and licences, with a contents list and page numbers."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, select

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.cases import outcomes, reading
from forewarn.charts.display import number_text
from forewarn.charts.funnel_history import funnel_history_spec
from forewarn.charts.render import svg
from forewarn.charts.spc import spc_chart_spec
from forewarn.store.models import Indicator
from forewarn.views.funnel_history import indicator_funnel_histories, organisation_funnel_history
from forewarn.views.organisation import organisation, with_soft_measures
from forewarn.views.peers import NeighboursOut, neighbours_view
from forewarn.views.soft import soft_measures

TEMPLATES = Path(__file__).parent / "templates"
MAX_CHARTS = 12
NEIGHBOUR_REPLICATES = 50  # the bootstrap behind each neighbour's stability (the page computes 100)


@dataclass(frozen=True)
class BoardReport:
    title: str
    html: str
    charts: int


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number_text
    return env


def board_report(
    conn: Connection,
    organisation_id: int,
    *,
    visibility: Visibility = ALL_ORGANISATIONS,
    generated: dt.datetime | None = None,
    min_group_size: int = 5,
    regulator: bool = True,
) -> BoardReport:
    """The report's HTML; LookupError when there is no such organisation or ``visibility`` may not open it.

    ``min_group_size`` suppresses the soft measures of smaller groups (the app's setting); ``regulator`` False
    leaves out the interventions' comparison-group effects (a member's copy, as on their case page)."""
    view = organisation(conn, visibility, organisation_id) if visibility.may_open(organisation_id) else None
    if view is None:
        raise LookupError(f"no organisation {organisation_id}, or it may not be seen")
    page = with_soft_measures(view.page, soft_measures(conn, view.page.code, min_group_size=min_group_size))
    charted = [i for i in page.indicators if view.charts.get(i.code) is not None][:MAX_CHARTS]
    # Every charted indicator's funnel history read and computed at once (one query, one pass), not one each.
    ids = conn.execute(select(Indicator.id).where(Indicator.code.in_([i.code for i in charted]))).scalars()
    histories = indicator_funnel_histories(conn, list(ids))
    charts: list[dict[str, str | None]] = []
    for indicator in charted:
        history = organisation_funnel_history(
            conn, visibility, organisation_id, indicator.code, history_of=lambda _conn, i: histories[i]
        )
        charts.append(
            {
                "code": indicator.code,
                "name": indicator.name,
                "src": _data_url(svg(spc_chart_spec(view.charts[indicator.code], width=520, height=180))),
                "history": None
                if history is None
                else _data_url(svg(funnel_history_spec(history, width=520, height=120))),
            }
        )
    cases = [
        reading.get_case(conn, c.id) for c in reading.list_cases(conn, organisation_ids=[organisation_id])
    ]
    case_outcomes = {
        case.id: outcomes.case_outcome(conn, case.id) for case in cases if regulator and case.interventions
    }
    title = f"Board report: {page.name}"
    html = (
        _environment()
        .get_template("board.html")
        .render(
            title=title,
            page=page,
            charts=charts,
            cases=cases,
            outcomes=case_outcomes,
            neighbours=_neighbours(conn, visibility, organisation_id),
            generated=(generated or dt.datetime.now(dt.UTC)).strftime("%-d %B %Y %H:%M UTC"),
        )
    )
    return BoardReport(title=title, html=html, charts=len(charts))


def _data_url(drawn: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(drawn.encode("utf-8")).decode("ascii")


def pdf(report: BoardReport) -> bytes:
    """The report as PDF (WeasyPrint: CSS paged media, page numbers, the SVG charts as vectors)."""
    from weasyprint import HTML

    out: bytes = HTML(string=report.html, base_url=str(TEMPLATES)).write_pdf()
    return out


def _neighbours(conn: Connection, visibility: Visibility, organisation_id: int) -> NeighboursOut | None:
    """The organisation's statistical neighbours as its neighbours page shows this reader (None when there are
    none to find: no context attributes, or too few organisations of its type)."""
    try:
        return neighbours_view(conn, visibility, organisation_id, replicates=NEIGHBOUR_REPLICATES)
    except (LookupError, ValueError):
        return None
