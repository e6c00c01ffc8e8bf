"""Soft measures on the portfolio and organisation pages, from the survey service's closed waves."""

from __future__ import annotations

from collections.abc import Mapping

from forewarn.accounts.reads import organisation_codes
from forewarn.store.database import read_connection
from forewarn.web.pages.organisation import SoftMeasures
from forewarn.web.pages.portfolio import SoftStatus
from forewarn.web.pages.surveys import soft_measures_for, soft_status_for
from forewarn.web.schemas import SoftMeasuresOut
from forewarn.web.state import WebState


def soft_status_provider(state: WebState) -> SoftStatus:
    """One line per organisation shown on a portfolio page (suppression applied by the survey service)."""

    def provide(ids: list[int]) -> Mapping[int, str]:
        closed = state.results_cache.closed_waves(state.engine)
        if not closed or not ids:
            return {}
        with read_connection(state.engine) as conn:
            codes = organisation_codes(conn, ids)
        return soft_status_for(state.engine, state.results_cache, closed)(codes)

    return provide


def soft_measures_provider(state: WebState) -> SoftMeasures:
    def provide(code: str) -> list[SoftMeasuresOut]:
        return soft_measures_for(state.engine, state.results_cache, code)

    return provide
