"""Follow-up after withdrawal on the watchlists: an organisation whose improvement decayed after a case's
intervention ended (the relapse alarm of :func:`forewarn.cases.outcomes.follow_up_watch`, which ``forewarn case
follow-up`` prints) is flagged on the risk watchlist and on its portfolio row.

The flags are computed over every case (each case's targeted indicators scored over every organisation), so the
web app keeps them by the store's data version; a member is shown only the flags of rows they already see.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

from forewarn.cases.outcomes import follow_up_watch
from forewarn.views.follow_up_flag import FollowUpFlagOut
from forewarn.views.portfolio import PortfolioOut
from forewarn.views.risk import WatchlistOut

SIGNALS = {"cusum": "CUSUM below the achieved level", "shift": "7 months in a row below the achieved level"}


def follow_up_flags(conn: Connection) -> dict[int, FollowUpFlagOut]:
    """Organisations with a relapse after withdrawal, by organisation id: the latest withdrawal's alarm when an
    organisation relapsed after more than one."""
    flags: dict[int, FollowUpFlagOut] = {}
    for item in follow_up_watch(conn, relapses_only=True):
        if item.alarm_month is None or item.signal is None:
            continue
        known = flags.get(item.organisation_id)
        if known is not None and known.withdrawal >= item.withdrawal:
            continue
        flags[item.organisation_id] = FollowUpFlagOut(
            case_id=item.case_id,
            case_url=f"/cases/{item.case_id}",
            withdrawal=item.withdrawal,
            alarm_month=item.alarm_month,
            signal=item.signal,
            text=(
                f"Improvement decaying after withdrawal on {item.withdrawal.isoformat()}: "
                f"{SIGNALS.get(item.signal, item.signal)} from {item.alarm_month.strftime('%B %Y')}"
            ),
        )
    return flags


def watchlist_with_follow_up(view: WatchlistOut, flags: Mapping[int, FollowUpFlagOut]) -> WatchlistOut:
    """The watchlist with each row's follow-up flag (rows are already those the viewer may see)."""
    rows = [
        row.model_copy(update={"follow_up": flags.get(row.organisation_id)}) for row in view.organisations
    ]
    return view.model_copy(update={"organisations": rows})


def portfolio_with_follow_up(
    view: PortfolioOut, ids: list[int], flags: Mapping[int, FollowUpFlagOut]
) -> PortfolioOut:
    """The portfolio page with each row's follow-up flag; ``ids`` are the rows' organisation ids in order (an
    anonymised peer's row is never flagged: its case is not the viewer's)."""
    rows = [
        row.model_copy(update={"follow_up": None if row.anonymised else flags.get(ids[i])})
        for i, row in enumerate(view.organisations)
    ]
    return view.model_copy(update={"organisations": rows})
