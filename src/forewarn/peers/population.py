"""What finding positive deviants on one indicator needs that is the same for every organisation of a dataset:
the dataset's context, the indicator's levels and the outcome-specific weights learnt from them (the ridge
regressions, the costly part). The organisation page's "who to learn from now" panel keeps these per data version
(``web/pages/learn_from.py``), so an organisation's first view pays only for its own groups; the digest and the
command line compute them once per call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from forewarn.peers.context import Context, load_context
from forewarn.peers.levels import IndicatorLevels, indicator_levels
from forewarn.stats.neighbours import OutcomeWeights, design, outcome_weights

ContextRead = Callable[[Connection, int | None, dt.date], Context]


@dataclass(frozen=True)
class IndicatorPopulation:
    context: Context
    levels: IndicatorLevels
    learnt: OutcomeWeights


def learn_weights(context: Context, levels: IndicatorLevels, seed: int = 0) -> OutcomeWeights:
    """The outcome weights :func:`forewarn.peers.deviants.neighbour_groups` uses: a ridge regression of the levels,
    weighted by their precision, on the context's design."""
    d = design(context.distance_numeric(), context.categorical)
    return outcome_weights(d, levels.level, seed=seed, sample_weight=levels.precision())


def indicator_population(
    conn: Connection,
    dataset_id: int | None,
    code: str,
    as_of: dt.date,
    *,
    context_of: ContextRead = load_context,
) -> IndicatorPopulation:
    """The context of ``dataset_id`` on ``as_of`` (read by ``context_of``), the indicator's levels in it and the
    outcome weights learnt from them."""
    context = context_of(conn, dataset_id, as_of)
    levels = indicator_levels(conn, context, code)
    return IndicatorPopulation(context=context, levels=levels, learnt=learn_weights(context, levels))


__all__ = ["ContextRead", "IndicatorPopulation", "indicator_population", "learn_weights"]
