"""An organisation's page for the web: its view, with each SPC chart's spec encoded for the template, or a 404
when the account may not open it."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.charts.spc import SpcSeries, spc_chart_spec
from forewarn.views.organisation import IndicatorStateOut, OrganisationOut, organisation, spc_chart
from forewarn.web.errors import NotFoundError
from forewarn.web.rendering import EncodedSpec

NOT_VISIBLE = "There is no organisation at this address, or your account cannot see it."
DRAWN_CHARTS = 6_000  # specs kept per worker: 300 organisation pages of 20 charts, a few kB each


@functools.lru_cache(maxsize=DRAWN_CHARTS)
def encoded_spec(chart: SpcSeries) -> EncodedSpec:
    """A chart's Vega-Lite spec, kept by the chart's own content (nothing to invalidate: changed data is another
    key). Building a spec through Altair costs about 9 ms, twenty of them nine-tenths of an organisation page;
    bench/web_bench.py's organisation page misses its goal (p95 < 200 ms) without this."""
    return EncodedSpec.of(spc_chart_spec(chart))


def organisation_page(
    conn: Connection, visibility: Visibility, organisation_id: int
) -> tuple[OrganisationOut, dict[str, EncodedSpec]]:
    """The page's content (soft measures still empty) and a Vega-Lite spec per charted indicator."""
    view = organisation(conn, visibility, organisation_id)
    if view is None:
        raise NotFoundError(NOT_VISIBLE)
    return view.page, {code: encoded_spec(chart) for code, chart in view.charts.items()}


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
