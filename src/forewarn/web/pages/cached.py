"""Reads kept per worker until the store's data change, for the two pages that bench/web_bench.py shows miss
their goal (p95 < 200 ms at 10,000 organisations) when built on every request: the portfolio's ranking of every
organisation (aggregating all of ``series_status``: ~350 ms) and an organisation's page (its view and twenty chart
specs drawn through Altair: ~190 ms; then its HTML, ~3 ms of CPU a view, which bench/load_bench.py shows keeps the
page at 6.6 times the framework's floor against a goal of 3). A portfolio page's rows and HTML cost about 6 ms of
CPU a view against 1.4 ms for the framework's floor (web_bench's CPU columns), so its content is kept too.

Entries are keyed by the database (its engine) and the store's data version
(:func:`forewarn.views.scan.data_version`), read on every request, so a scan, an import or a baseline change
shows at once in every worker. Only what does not depend on who asks is kept: callers check access first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import LRUCache, cached
from cachetools.keys import hashkey
from markupsafe import Markup
from sqlalchemy import Connection, Engine

from forewarn.surveillance.funnel_history import FunnelHistory
from forewarn.surveys.result_types import WaveResults
from forewarn.views.follow_up import follow_up_flags
from forewarn.views.follow_up_flag import FollowUpFlagOut
from forewarn.views.funnel_history import indicator_funnel_history
from forewarn.views.portfolio import Ranking, ranked_organisations
from forewarn.views.risk import WatchlistWhyOut, latest_why
from forewarn.views.scan import ScanOut, data_version, latest_scan
from forewarn.views.soft import SoftMeasuresOut, computed_results, soft_measures

Read = TypeVar("Read", bound=Callable[..., Any])

RANKINGS = 2  # the current ranking, and the one before while a new data version takes over
PAGES = 300  # organisation pages (twenty charts each, about 100 kB)
PORTFOLIO_PAGES = 300  # portfolio pages (50 rows, about 40 kB)
FUNNEL_HISTORIES = (
    8  # an indicator's funnel at every period (every organisation's: about 100 kB a year of months)
)
CLOSED_WAVES = 32  # results of closed waves (a bootstrap of 1,000 resamples each: seconds for a large wave)


def by_data_version(maxsize: int) -> Callable[[Read], Read]:
    """Keep ``read(conn, *args)`` by database, data version and ``args``, least recently used out first.

    One read a key at a time (single flight): requests that miss a key another thread is reading wait for its
    result instead of reading it too. The portfolio's ranking costs 250-350 ms of CPU; when a worker's first
    portfolio requests arrive together (after a start or a change of data version) each used to build it
    (bench/web_bench.py, docs/web.md "The watchlist, continued")."""

    def key(conn: Connection, *args: object) -> tuple[object, ...]:
        return hashkey(conn.engine, data_version(conn), *args)

    def keep(read: Read) -> Read:
        kept = cached(LRUCache(maxsize), key=key, condition=threading.Condition(threading.Lock()))
        return kept(read)  # type: ignore[return-value]

    return keep


@by_data_version(RANKINGS)
def kept_ranking(conn: Connection) -> Ranking:
    """:func:`forewarn.views.portfolio.ranked_organisations`, kept until the data change."""
    return ranked_organisations(conn)


@by_data_version(RANKINGS)
def kept_latest_scan(conn: Connection) -> ScanOut | None:
    """:func:`forewarn.views.scan.latest_scan`, kept until the data change (a scan is committed finished, and
    moves the data version)."""
    return latest_scan(conn)


@by_data_version(RANKINGS)
def kept_follow_up_flags(conn: Connection) -> dict[int, FollowUpFlagOut]:
    """:func:`forewarn.views.follow_up.follow_up_flags` (every case's follow-up), kept until the data change: a
    withdrawal is an event, which moves the data version."""
    return follow_up_flags(conn)


@cached(LRUCache(CLOSED_WAVES), key=hashkey, lock=threading.Lock())
def kept_closed_results(engine: Engine, wave_id: int, min_group_size: int) -> WaveResults:
    """A closed wave's results (:func:`forewarn.views.soft.computed_results`), kept: a closed wave never reopens
    and its answers are frozen, so only the wave and the minimum group size key them. For soft measures, which
    read closed waves only."""
    return computed_results(engine, wave_id, min_group_size)


@by_data_version(PAGES)
def kept_why(conn: Connection, organisation_id: int) -> WatchlistWhyOut | None:
    """:func:`forewarn.views.risk.latest_why`, kept until the data change (stored risk scores move the data
    version)."""
    return latest_why(conn, organisation_id)


@by_data_version(PAGES)
def kept_soft_measures(conn: Connection, code: str, min_group_size: int) -> list[SoftMeasuresOut]:
    """:func:`forewarn.views.soft.soft_measures` of one organisation, kept until the data change (a wave closing
    moves the data version; closed waves' results never change)."""
    return soft_measures(conn, code, min_group_size=min_group_size, results_of=kept_closed_results)


class KeptContent:
    """Pages' main content as HTML, kept by database, data version and a key (which must name everything else
    the content depends on), least recently used out first."""

    def __init__(self, maxsize: int) -> None:
        self._kept: LRUCache[tuple[Hashable, ...], Markup] = LRUCache(maxsize)
        self._lock = threading.Lock()

    def __call__(self, conn: Connection, key: tuple[Hashable, ...], make: Callable[[], Markup]) -> Markup:
        """The content ``key`` names, or ``make()`` kept: ``make`` renders it (with
        :func:`forewarn.web.rendering.render_block`, so it cannot depend on who is looking)."""
        full = (conn.engine, data_version(conn), *key)
        with self._lock:
            found = self._kept.get(full)
        if found is None:
            found = make()
            with self._lock:
                self._kept[full] = found
        return found


kept_content = KeptContent(PAGES)
"""An organisation page's content."""

kept_portfolio = KeptContent(PORTFOLIO_PAGES)
"""A portfolio page's content, per set of organisations seen (every analyst sees the same), filters and page."""


@by_data_version(FUNNEL_HISTORIES)
def kept_funnel_history(conn: Connection, indicator_id: int) -> FunnelHistory:
    """:func:`forewarn.views.funnel_history.indicator_funnel_history`, kept until the data change: every
    organisation's indicator page on the same indicator draws from the same funnels."""
    return indicator_funnel_history(conn, indicator_id)
