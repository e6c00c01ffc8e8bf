"""Soft measures on the portfolio and organisation pages, from the survey service.

Filled in once ``forewarn.surveys`` publishes per-organisation results; until then the pages show none.
"""

from __future__ import annotations

from forewarn.accounts.policy import Visibility
from forewarn.web.pages.organisation import SoftMeasures
from forewarn.web.pages.portfolio import SoftStatus
from forewarn.web.state import WebState


def soft_status_provider(state: WebState) -> SoftStatus | None:
    return None


def soft_measures_provider(state: WebState, visibility: Visibility) -> SoftMeasures | None:
    return None
