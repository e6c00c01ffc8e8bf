""" "Who to learn from now" for the organisation page: the advice (drifts and positive deviants, the costly part:
a context read and one deviants call per drifting indicator) is kept per organisation by the store's data version
(which counts stored risk scores) and the soft measures shown; who sees whom, and the library's notes, are read
on each request (a few indexed queries)."""

from __future__ import annotations

from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.peers.advice import Advice, early_advice
from forewarn.peers.drift import SoftWave
from forewarn.views.learn_from import LearnFromOut, learn_from_view, soft_waves
from forewarn.views.organisation import OrganisationOut
from forewarn.web.pages.cached import PAGES, by_data_version


@by_data_version(PAGES)
def kept_advice(conn: Connection, organisation_id: int, soft: tuple[SoftWave, ...]) -> Advice | None:
    """:func:`forewarn.peers.advice.early_advice` for one organisation, kept until the data, the risk scores or
    the soft measures shown change."""
    return early_advice(conn, [organisation_id], soft=soft).get(organisation_id)


def learn_from_panel(conn: Connection, visibility: Visibility, view: OrganisationOut) -> LearnFromOut:
    """The panel for an organisation this viewer may open (the caller has checked), its soft measures read."""
    soft = tuple(soft_waves(view.id, view.soft_measures))
    return learn_from_view(conn, visibility, view.id, kept_advice(conn, view.id, soft))
