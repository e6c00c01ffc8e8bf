"""Every table of a page as CSV (issue 14): ``<page>/tables/<name>.csv``, built from the read model the page
renders (:mod:`forewarn.views.tables`), with the page's own authorisation (the same dependencies, the same 404 for
what the viewer may not open) and the view written to the audit log as the page's is.

Tables served: the portfolio's organisations (every page of it, with the page's filters); an organisation's
indicators, baselines, soft measures and events; one indicator of an organisation's points, signals and funnel
history; one indicator across organisations (its outliers and every organisation the viewer sees); the risk
watchlist; the case list; a case's evidence, exit criteria, milestones, interventions and notes, and for the
regulator its effects against the comparison group and its follow-up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from forewarn.access.policy import Permission, allowed
from forewarn.access.principal import Principal
from forewarn.cases import outcomes, reading
from forewarn.reports.board import board_report, pdf
from forewarn.reports.portfolio import portfolio_report
from forewarn.views.follow_up import portfolio_with_follow_up, watchlist_with_follow_up
from forewarn.views.indicator import indicator
from forewarn.views.organisation import with_soft_measures
from forewarn.views.portfolio import portfolio
from forewarn.views.risk import watchlist
from forewarn.views.soft import soft_measures, with_soft_status
from forewarn.views.tables import (
    Table,
    case_list_table,
    case_tables,
    indicator_page_tables,
    indicator_tables,
    organisation_tables,
    outcome_tables,
    portfolio_table,
    watchlist_table,
)
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, Viewer, record_view, require
from forewarn.web.errors import NotFoundError
from forewarn.web.pages import organisation as pages
from forewarn.web.pages.cached import kept_closed_results, kept_follow_up_flags, kept_ranking
from forewarn.web.routes.cases import visible_case
from forewarn.web.routes.portfolio import Filters

router = APIRouter(include_in_schema=False)
PortfolioViewer = Annotated[Principal, Depends(require(Permission.VIEW_PORTFOLIO))]
TABLE = Path(pattern=r"^[a-z_]{1,40}$")
CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
OUTCOME_TABLES = ("effects", "follow_up")
# FastAPI names a parameter object after the first parameter given it: another for another name.
INDICATOR_CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
INDICATOR_TABLE = Path(pattern=r"^[a-z_]{1,40}$")
EVERY_ROW = 1_000_000  # the download is every page of the portfolio at once


def csv_download(table: Table, filename: str) -> Response:
    return Response(
        table.csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-{table.name}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _named(tables: dict[str, Table], name: str) -> Table:
    if name not in tables:
        raise NotFoundError("This page has no table of that name.")
    return tables[name]


@router.get("/portfolio/tables/organisations.csv")
def portfolio_csv(
    request: Request,
    state: AppState,
    principal: PortfolioViewer,
    viewer: Viewer,
    filters: Filters,
    conn: ReadConnection,
) -> Response:
    may_filter = allowed(principal, Permission.FILTER_PORTFOLIO)
    found = portfolio(conn, viewer, filters, may_filter=may_filter, page_size=EVERY_ROW, ranked=kept_ranking)
    shown = with_soft_status(
        found, conn, min_group_size=state.settings.min_group_size, results_of=kept_closed_results
    )
    page = portfolio_with_follow_up(shown, found.ids, kept_follow_up_flags(conn))
    record_view(state, conn, request, principal, "portfolio", detail={"download": "organisations.csv"})
    return csv_download(portfolio_table(page), "portfolio")


@router.get("/organisations/{organisation_id}/tables/{table}.csv")
def organisation_csv(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    table: str = TABLE,
) -> Response:
    view, _ = pages.organisation_page(conn, viewer, organisation_id)
    soft = soft_measures(
        conn, view.code, min_group_size=state.settings.min_group_size, results_of=kept_closed_results
    )
    chosen = _named(organisation_tables(with_soft_measures(view, soft)), table)
    record_view(
        state,
        conn,
        request,
        principal,
        "organisation",
        organisation_id,
        organisation_id=organisation_id,
        detail={"download": f"{table}.csv"},
    )
    return csv_download(chosen, view.code)


@router.get("/organisations/{organisation_id}/indicators/{indicator_code}/tables/{table}.csv")
def organisation_indicator_csv(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str = CODE,
    table: str = TABLE,
) -> Response:
    org, indicator, _ = pages.organisation_indicator_page(conn, viewer, organisation_id, indicator_code)
    history = pages.funnel_history_for(conn, viewer, organisation_id, indicator_code)
    chosen = _named(indicator_tables(indicator, history), table)
    record_view(
        state,
        conn,
        request,
        principal,
        "organisation_indicator",
        f"{organisation_id}:{indicator_code}",
        organisation_id=organisation_id,
        detail={"download": f"{table}.csv"},
    )
    return csv_download(chosen, f"{org.code}-{indicator_code}")


@router.get("/indicators/{code}/tables/{table}.csv")
def indicator_csv(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    code: str = INDICATOR_CODE,
    table: str = INDICATOR_TABLE,
) -> Response:
    """The page's tables as CSV (every organisation the viewer may see, not only the first rows listed)."""
    found = indicator(conn, viewer, code)
    if found is None:
        raise NotFoundError("There is no indicator at this address.")
    chosen = _named(indicator_page_tables(found.page), table)
    record_view(state, conn, request, principal, "indicator", code, detail={"download": f"{table}.csv"})
    return csv_download(chosen, code)


@router.get("/risk/tables/watchlist.csv")
def watchlist_csv(
    request: Request, state: AppState, principal: PortfolioViewer, viewer: Viewer, conn: ReadConnection
) -> Response:
    view = watchlist_with_follow_up(watchlist(conn, viewer), kept_follow_up_flags(conn))
    record_view(state, conn, request, principal, "risk_watchlist", detail={"download": "watchlist.csv"})
    return csv_download(watchlist_table(view), "risk")


@router.get("/cases/tables/cases.csv")
def cases_csv(principal: CurrentUser, viewer: Viewer, conn: ReadConnection) -> Response:
    mine = None if viewer.all_organisations else [viewer.own] if viewer.own is not None else []
    return csv_download(case_list_table(reading.list_cases(conn, organisation_ids=mine)), "forewarn")


@router.get("/cases/{case_id}/tables/{table}.csv")
def case_csv(
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    case_id: int,
    table: str = TABLE,
) -> Response:
    case = visible_case(conn, viewer, case_id)
    tables = case_tables(case)
    # The effect compares with other organisations: the regulator's tables, as on the page.
    if (
        table in OUTCOME_TABLES
        and allowed(principal, Permission.VIEW_ALL_ORGANISATIONS)
        and case.interventions
    ):
        tables = outcome_tables(outcomes.case_outcome(conn, case_id))
    return csv_download(_named(tables, table), f"case-{case.id}")


def _pdf(document: bytes, filename: str) -> Response:
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/organisations/{organisation_id}/report.pdf")
def organisation_report(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
) -> Response:
    """The board report (``forewarn report org``) for whoever may open the organisation; a member's copy leaves
    out the interventions' comparison-group effects, as their case page does."""
    if not viewer.may_open(organisation_id):
        raise NotFoundError(pages.NOT_VISIBLE)
    try:
        report = board_report(
            conn,
            organisation_id,
            visibility=viewer,
            min_group_size=state.settings.min_group_size,
            regulator=allowed(principal, Permission.VIEW_ALL_ORGANISATIONS),
        )
    except LookupError:
        raise NotFoundError(pages.NOT_VISIBLE) from None
    record_view(
        state,
        conn,
        request,
        principal,
        "organisation",
        organisation_id,
        organisation_id=organisation_id,
        detail={"download": "report.pdf"},
    )
    return _pdf(pdf(report), f"board-report-{organisation_id}")


Staff = Annotated[Principal, Depends(require(Permission.VIEW_ALL_ORGANISATIONS))]


@router.get("/portfolio/report.pdf")
def portfolio_report_pdf(
    request: Request, state: AppState, principal: Staff, conn: ReadConnection
) -> Response:
    """The regulator's portfolio report of every case (``forewarn report portfolio``): analysts and
    administrators."""
    report = portfolio_report(conn)
    record_view(state, conn, request, principal, "portfolio", detail={"download": "report.pdf"})
    return _pdf(pdf(report), "portfolio-report")
