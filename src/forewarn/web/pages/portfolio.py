"""The portfolio: every organisation the account may see, with its current signals, ordered by evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection

from forewarn.accounts.policy import Permission, Visibility, allowed
from forewarn.accounts.principal import Principal
from forewarn.accounts.reads import PortfolioCache, PortfolioFilter, latest_scan, portfolio
from forewarn.web.pages.common import scan_out
from forewarn.web.schemas import DatasetOption, OrganisationSignalsOut, PortfolioFilters, PortfolioOut

ORDER = (
    "Ordered by strength of evidence: the number of indicator signals of concern (SPC special causes, funnel "
    "outliers after false-discovery-rate control, CUSUM alarms), then the smallest funnel q-value. This is "
    "an order of reasons to look more closely, not a ranking of performance."
)

SoftStatus = Callable[[Connection, list[int]], Mapping[int, str]]


def build_portfolio(
    conn: Connection,
    principal: Principal,
    visibility: Visibility,
    cache: PortfolioCache,
    filters: PortfolioFilters,
    *,
    page: int = 1,
    page_size: int = 50,
    soft_status: SoftStatus | None = None,
) -> PortfolioOut:
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
    statuses = soft_status(conn, [r.organisation_id for r in result.rows]) if soft_status else {}
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
            soft_status=statuses.get(r.organisation_id),
            url=None if r.anonymised else f"/organisations/{r.organisation_id}",
        )
        for r in result.rows
    ]
    return PortfolioOut(
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
        scan=scan_out(latest_scan(conn)),
    )
