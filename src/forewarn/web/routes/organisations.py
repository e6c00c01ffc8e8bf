"""An organisation's page, its charts as SVG, and its JSON."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from forewarn.charts.funnel_history import funnel_history_spec
from forewarn.charts.render import svg
from forewarn.views.funnel_history import funnel_history_table
from forewarn.views.learn_from import LearnFromOut
from forewarn.views.organisation import IndicatorStateOut, OrganisationOut, with_soft_measures
from forewarn.views.risk import why_on_watchlist
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, Viewer, record_view
from forewarn.web.pages import organisation as pages
from forewarn.web.pages.cached import kept_content, kept_soft_measures, kept_why
from forewarn.web.pages.learn_from import learn_from_panel
from forewarn.web.rendering import EncodedSpec, render, render_block, templates_of

router = APIRouter()

CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")


def _viewed_organisation(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
) -> tuple[OrganisationOut, dict[str, EncodedSpec]]:
    """One organisation as this viewer may see it, with its soft measures: what the page and the API both show
    (each then records the view)."""
    view, specs = pages.organisation_page(conn, viewer, organisation_id)
    soft = kept_soft_measures(conn, view.code, state.settings.min_group_size)
    why = why_on_watchlist(conn, viewer, organisation_id, latest=kept_why)  # issue 11: its latest risk score
    return with_soft_measures(view, soft).model_copy(update={"watchlist": why}), specs


def _record_organisation_view(
    request: Request, state: AppState, principal: CurrentUser, organisation_id: int, conn: ReadConnection
) -> None:
    # Last, after every kept read: its commit ends the request's reading of the data version.
    record_view(
        state, conn, request, principal, "organisation", organisation_id, organisation_id=organisation_id
    )


@router.get("/organisations/{organisation_id}", include_in_schema=False)
def organisation_page(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
) -> Response:
    view, specs = _viewed_organisation(request, state, principal, viewer, conn, organisation_id)
    learn_from = learn_from_panel(conn, viewer, view)
    # The content is the same for everyone who may open the page: rendered once per data version and set of
    # closed survey waves shown (their results never change), then only the frame around it per request.
    # Risk scores and closed waves move the data version; whether the backtest is linked depends on the viewer.
    why = view.watchlist.key() if view.watchlist else None
    content = kept_content(
        conn,
        ("organisation", organisation_id, state.settings.min_group_size, why, learn_from),
        lambda: render_block(
            templates_of(request),
            "organisation.html",
            "content",
            {"view": view, "specs": specs, "learn_from": learn_from},
        ),
    )
    _record_organisation_view(request, state, principal, organisation_id, conn)
    return render(request, "kept_page.html", {"title": view.name, "content": content, "charts": True})


@router.get("/organisations/{organisation_id}/charts/{indicator_code}.svg", include_in_schema=False)
def organisation_chart(
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str = CODE,
) -> Response:
    spec = pages.spc_chart_spec_for(conn, viewer, organisation_id, indicator_code)
    return Response(svg(spec), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


@router.get("/api/v1/organisations/{organisation_id}", response_model=OrganisationOut, tags=["pages"])
def organisation_api(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
) -> OrganisationOut:
    """One organisation: every indicator's SPC points and flags, funnel position, CUSUM state and rank,
    soft measures and events. 404 when it does not exist or you may not see it."""
    view, _ = _viewed_organisation(request, state, principal, viewer, conn, organisation_id)
    _record_organisation_view(request, state, principal, organisation_id, conn)
    return view


def _viewed_indicator(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str,
) -> tuple[OrganisationOut, IndicatorStateOut, EncodedSpec | None]:
    """One organisation's indicator as this viewer may see it, with the view written to the audit log."""
    built = pages.organisation_indicator_page(conn, viewer, organisation_id, indicator_code)
    record_view(
        state,
        conn,
        request,
        principal,
        "organisation_indicator",
        f"{organisation_id}:{indicator_code}",
        organisation_id=organisation_id,
    )
    return built


@router.get("/organisations/{organisation_id}/indicators/{indicator_code}", include_in_schema=False)
def organisation_indicator_page(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str = CODE,
) -> Response:
    org, indicator, spec = _viewed_indicator(
        request, state, principal, viewer, conn, organisation_id, indicator_code
    )
    history = pages.funnel_history_for(conn, viewer, organisation_id, indicator_code)
    return render(
        request,
        "organisation_indicator.html",
        {
            "title": f"{indicator.name}: {org.name}",
            "org": org,
            "i": indicator,
            "spec": spec,
            "history": None if history is None else funnel_history_table(history).rows(named=True),
            "history_spec": None if history is None else EncodedSpec.of(funnel_history_spec(history)),
            "charts": True,
        },
    )


@router.get("/organisations/{organisation_id}/funnel-history/{indicator_code}.svg", include_in_schema=False)
def organisation_funnel_history_chart(
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str = CODE,
) -> Response:
    spec = pages.funnel_history_spec_for(conn, viewer, organisation_id, indicator_code)
    return Response(svg(spec), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


@router.get(
    "/api/v1/organisations/{organisation_id}/indicators/{indicator_code}",
    response_model=IndicatorStateOut,
    tags=["pages"],
)
def organisation_indicator_api(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator_code: str = CODE,
) -> IndicatorStateOut:
    """One indicator of one organisation: every SPC point with its flags, the rules that fired, the baselines."""
    _, indicator, _ = _viewed_indicator(
        request, state, principal, viewer, conn, organisation_id, indicator_code
    )
    return indicator


@router.get("/api/v1/organisations/{organisation_id}/learn-from", response_model=LearnFromOut, tags=["pages"])
def organisation_learn_from_api(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
) -> LearnFromOut:
    """Who to learn from now: when one of the organisation's leading signals drifts (an SPC shift or trend, a
    CUSUM rising towards its threshold, a falling soft measure, a rising risk score), the positive deviants among
    its neighbours on the indicators concerned and their practice notes. Neighbours you may not see by name are
    pseudonyms. 404 when the organisation does not exist or you may not see it."""
    view, _ = _viewed_organisation(request, state, principal, viewer, conn, organisation_id)
    panel = learn_from_panel(conn, viewer, view)
    _record_organisation_view(request, state, principal, organisation_id, conn)
    return panel
