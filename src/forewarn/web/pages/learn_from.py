""" "Who to learn from now" for the organisation page: the advice (drifts and positive deviants, the costly part:
a context read and one deviants call per drifting indicator) is kept per organisation by the store's data version
(which counts stored risk scores) and the soft measures shown; who sees whom, and the library's notes, are read
on each request (a few indexed queries).

What does not depend on the organisation is kept once for all of them, by data version: each dataset's context
and, per indicator, its levels and the outcome weights' ridge regressions (:mod:`forewarn.peers.population`),
so a drifting organisation's first view pays only for its own drifts and groups (bench/learn_from_bench.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.peers.advice import Advice, early_advice
from forewarn.peers.context import Context, load_context
from forewarn.peers.drift import SoftWave
from forewarn.peers.population import IndicatorPopulation, indicator_population
from forewarn.views.learn_from import LearnFromOut, learn_from_view, soft_waves
from forewarn.views.organisation import OrganisationOut
from forewarn.web.pages.cached import PAGES, by_data_version

CONTEXTS = 8
"""Datasets' contexts kept (one per dataset and date: a few hundred kB for 2,000 organisations)."""
POPULATIONS = 64
"""Indicators' populations kept (levels with every organisation's series, and weights: about 1 MB each for 2,000
organisations over 4 years of months)."""


@by_data_version(CONTEXTS)
def kept_context(conn: Connection, dataset_id: int | None, as_of: dt.date) -> Context:
    """:func:`forewarn.peers.context.load_context`, kept until the data change."""
    return load_context(conn, dataset_id, as_of)


@by_data_version(POPULATIONS)
def kept_population(
    conn: Connection, dataset_id: int | None, code: str, as_of: dt.date
) -> IndicatorPopulation:
    """:func:`forewarn.peers.population.indicator_population`, kept until the data change."""
    return indicator_population(conn, dataset_id, code, as_of, context_of=kept_context)


@by_data_version(PAGES)
def kept_advice(conn: Connection, organisation_id: int, soft: tuple[SoftWave, ...]) -> Advice | None:
    """:func:`forewarn.peers.advice.early_advice` for one organisation, kept until the data, the risk scores or
    the soft measures shown change."""
    return early_advice(conn, [organisation_id], soft=soft, population_of=kept_population).get(
        organisation_id
    )


def learn_from_panel(conn: Connection, visibility: Visibility, view: OrganisationOut) -> LearnFromOut:
    """The panel for an organisation this viewer may open (the caller has checked), its soft measures read."""
    soft = tuple(soft_waves(view.id, view.soft_measures))
    return learn_from_view(conn, visibility, view.id, kept_advice(conn, view.id, soft))
