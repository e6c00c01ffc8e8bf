"""An organisation's page for the web: its view, with each SPC chart's spec encoded for the template, or a 404
when the account may not open it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.charts.funnel_history import FunnelHistorySeries, funnel_history_spec
from forewarn.charts.spc import spc_chart_spec
from forewarn.views.funnel_history import organisation_funnel_history
from forewarn.views.organisation import IndicatorStateOut, OrganisationOut, organisation, spc_chart
from forewarn.web.errors import NotFoundError
from forewarn.web.pages.cached import PAGES, by_data_version, kept_funnel_history
from forewarn.web.rendering import EncodedSpec

NOT_VISIBLE = "There is no organisation at this address, or your account cannot see it."
BuiltPage = tuple[OrganisationOut, dict[str, EncodedSpec]]


@by_data_version(PAGES)
def build_page(conn: Connection, organisation_id: int) -> BuiltPage:
    """The page's content (soft measures still empty) and a Vega-Lite spec per charted indicator, as anyone who
    may open it sees it (the caller checks that first), kept until the data change."""
    view = organisation(conn, ALL_ORGANISATIONS, organisation_id)
    if view is None:
        raise NotFoundError(NOT_VISIBLE)
    return view.page, {code: EncodedSpec.of(spc_chart_spec(chart)) for code, chart in view.charts.items()}


def organisation_page(conn: Connection, visibility: Visibility, organisation_id: int) -> BuiltPage:
    """:func:`build_page`, once this account may open the organisation."""
    if not visibility.may_open(organisation_id):
        raise NotFoundError(NOT_VISIBLE)
    return build_page(conn, organisation_id)


def organisation_indicator_page(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> tuple[OrganisationOut, IndicatorStateOut, EncodedSpec | None]:
    """One indicator of one organisation in full (every point as a table)."""
    page, specs = organisation_page(conn, visibility, organisation_id)
    for indicator in page.indicators:
        if indicator.code == indicator_code:
            return page, indicator, specs.get(indicator_code)
    raise NotFoundError("This organisation has no data for this indicator, or your account cannot see it.")


def spc_chart_spec_for(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> dict[str, Any]:
    """The spec of one indicator's SPC chart (for the server-drawn SVG)."""
    chart = spc_chart(conn, visibility, organisation_id, indicator_code)
    if chart is None:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    return spc_chart_spec(chart)


def funnel_history_for(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> FunnelHistorySeries | None:
    """The organisation's funnel history on one indicator (None when it was never in a funnel), from the
    indicator's funnels kept per data version; access as the organisation page's."""
    return organisation_funnel_history(
        conn, visibility, organisation_id, indicator_code, history_of=kept_funnel_history
    )


def funnel_history_spec_for(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> dict[str, Any]:
    """The spec of the funnel history chart (for the server-drawn SVG)."""
    series = funnel_history_for(conn, visibility, organisation_id, indicator_code)
    if series is None:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    return funnel_history_spec(series)
