"""The portfolio: every organisation the account may see, with its current signals, ordered by evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection

from forewarn.access.policy import Permission, Visibility, allowed
from forewarn.access.principal import Principal
from forewarn.accounts.reads import PortfolioCache, PortfolioFilter, portfolio
from forewarn.web.pages.common import scan_out
from forewarn.web.schemas import DatasetOption, OrganisationSignalsOut, PortfolioFilters, PortfolioOut

ORDER = (
    "Ordered by strength of evidence: the number of indicator signals of concern (SPC special causes, funnel "
    "outliers after false-discovery-rate control, CUSUM alarms), then the smallest funnel q-value. This is "
    "an order of reasons to look more closely, not a ranking of performance."
)

SoftStatus = Callable[[list[int]], Mapping[int, str]]


def build_portfolio(
    conn: Connection,
    principal: Principal,
    visibility: Visibility,
    cache: PortfolioCache,
    filters: PortfolioFilters,
    *,
    page: int = 1,
    page_size: int = 50,
) -> tuple[PortfolioOut, list[int]]:
    """The page, and the internal ids of its rows in order (to add soft-measure statuses with
    :func:`with_soft_status` once this connection is closed)."""
    may_filter = allowed(principal, Permission.FILTER_PORTFOLIO)
    chosen = filters if may_filter else PortfolioFilters(concern_only=filters.concern_only)
    result = portfolio(
        conn,
        visibility,
        cache,
        PortfolioFilter(
            type=chosen.type, region=chosen.region, dataset=chosen.dataset, concern_only=chosen.concern_only
        ),
        page=page,
        page_size=page_size,
    )
    rows = [
        OrganisationSignalsOut(
            organisation_id=None if r.anonymised else r.organisation_id,
            label=r.label,
            code=r.code,
            type=r.type,
            region=r.region,
            dataset=r.dataset_code,
            dataset_name=r.dataset_name,
            simulated=r.simulated,
            anonymised=r.anonymised,
            own=r.own,
            indicators_scanned=r.indicators,
            spc_concern=r.spc_concern,
            spc_improvement=r.spc_improvement,
            funnel_concern=r.funnel_concern,
            funnel_other=r.funnel_other,
            cusum_alarms=r.cusum_alarms,
            evidence=r.evidence,
            min_funnel_q=r.min_funnel_q,
            last_period=r.last_period,
            url=None if r.anonymised else f"/organisations/{r.organisation_id}",
        )
        for r in result.rows
    ]
    page_out = PortfolioOut(
        organisations=rows,
        total=result.total,
        page=result.page,
        pages=result.pages,
        page_size=result.page_size,
        filters=chosen,
        filters_available=may_filter,
        types=result.types if may_filter else [],
        regions=result.regions if may_filter else [],
        datasets=[DatasetOption(code=c, name=n, simulated=s) for c, n, s in result.datasets]
        if may_filter
        else [],
        order=ORDER,
        scan=scan_out(cache.scan(conn)),
    )
    return page_out, [r.organisation_id for r in result.rows]


def with_soft_status(page: PortfolioOut, ids: list[int], soft_status: SoftStatus) -> PortfolioOut:
    statuses = soft_status(ids)
    rows = [
        row.model_copy(update={"soft_status": statuses.get(i)})
        for row, i in zip(page.organisations, ids, strict=True)
    ]
    return page.model_copy(update={"organisations": rows})
