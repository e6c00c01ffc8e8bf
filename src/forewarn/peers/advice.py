"""Advice that arrives early: for each organisation whose leading signals drift (:mod:`.drift`), the positive
deviants among its neighbours on the indicators concerned (:mod:`.deviants`), before any failure.

Set-based: the drifts of every organisation asked about are read in a few queries; then, for each dataset and
indicator, the context and the indicator's levels are read once and one :func:`~.deviants.deviants_in` call finds
the groups of every drifting organisation on it. The organisation page asks for one organisation, the digest for
all of them, through the same function.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, select

from forewarn.peers.context import Context, load_context
from forewarn.peers.deviants import Deviant, deviants_in
from forewarn.peers.drift import (
    REASONS,
    SoftWave,
    indicator_drifts,
    risk_drifts,
    soft_drifts,
    worst_indicators,
)
from forewarn.peers.population import IndicatorPopulation, indicator_population
from forewarn.stats.neighbours import DEFAULT_K
from forewarn.store.models import Organisation

PopulationRead = Callable[[Connection, int | None, str, dt.date], IndicatorPopulation]
"""Reads a dataset's population on an indicator on a date (:func:`forewarn.peers.population.indicator_population`,
or a kept copy of it)."""


@dataclass(frozen=True)
class IndicatorAdvice:
    """Who to learn from on one indicator: why (the drifts on it, empty when an organisation-level drift sent
    the organisation here) and the positive deviants among its neighbours."""

    code: str
    name: str
    reasons: tuple[str, ...]
    neighbours_by: str
    deviants: tuple[Deviant, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Advice:
    organisation_id: int
    reasons: tuple[str, ...]  # organisation-level drifts (soft measures, risk), as sentences
    indicators: tuple[IndicatorAdvice, ...]

    @property
    def drifting(self) -> bool:
        return bool(self.reasons) or any(i.reasons for i in self.indicators)


def early_advice(
    conn: Connection,
    organisation_ids: Sequence[int] | None = None,
    *,
    soft: Sequence[SoftWave] = (),
    k: int = DEFAULT_K,
    as_of: dt.date | None = None,
    population_of: PopulationRead | None = None,
) -> dict[int, Advice]:
    """Advice for every organisation (of ``organisation_ids``, or all) with a drifting leading signal; the
    others are absent. ``soft``: published soft-measure results the caller may read (see :class:`.SoftWave`);
    ``as_of``: the date of the neighbours' context (default today; a replay gives its own); ``population_of``:
    how each dataset's population on an indicator is read (default: read here, the context once per dataset)."""
    drifts = indicator_drifts(conn, organisation_ids)
    org_reasons: dict[int, list[str]] = defaultdict(list)
    for oid, dimension, previous, mean in soft_drifts(soft).iter_rows():
        if organisation_ids is None or oid in organisation_ids:
            org_reasons[int(oid)].append(f"{REASONS['soft']}: {dimension} from {previous:.2f} to {mean:.2f}")
    for oid, scored, previous, probability in risk_drifts(conn, organisation_ids).iter_rows():
        org_reasons[int(oid)].append(
            f"{REASONS['risk']} to {probability:.1%} on {scored.isoformat()} (from {previous:.1%})"
        )
    pairs = drifts.select("organisation_id", "indicator_id", "code", "name")
    if org_reasons:
        worst = worst_indicators(conn, sorted(org_reasons))
        pairs = pl.concat([pairs, worst], how="vertical_relaxed")
    pairs = pairs.unique(["organisation_id", "indicator_id"]).sort("organisation_id", "code")
    reasons: dict[tuple[int, str], list[str]] = defaultdict(list)
    for oid, code, reason, detail in drifts.select("organisation_id", "code", "reason", "detail").iter_rows():
        reasons[(int(oid), str(code))].append(f"{REASONS[str(reason)]} ({detail})")
    found = _deviants_by_pair(conn, pairs, k, as_of or dt.date.today(), population_of)
    out: dict[int, Advice] = {}
    names = dict(zip(pairs["code"].to_list(), pairs["name"].to_list(), strict=True))
    by_org: dict[int, list[IndicatorAdvice]] = defaultdict(list)
    for (oid, code), (by, deviants, notes) in found.items():
        by_org[oid].append(
            IndicatorAdvice(
                code=code,
                name=names[code],
                reasons=tuple(reasons.get((oid, code), ())),
                neighbours_by=by,
                deviants=deviants,
                notes=notes,
            )
        )
    for oid in sorted(set(by_org) | set(org_reasons)):
        out[oid] = Advice(
            organisation_id=oid,
            reasons=tuple(org_reasons.get(oid, ())),
            indicators=tuple(sorted(by_org.get(oid, []), key=lambda a: a.name.casefold())),
        )
    return out


def _deviants_by_pair(
    conn: Connection, pairs: pl.DataFrame, k: int, as_of: dt.date, population_of: PopulationRead | None
) -> dict[tuple[int, str], tuple[str, tuple[Deviant, ...], tuple[str, ...]]]:
    """For each (organisation, indicator code) pair: the neighbour weighting, the deviants, notes. One population
    read (context, levels, weights) and one deviants call per dataset and indicator."""
    if pairs.is_empty():
        return {}
    ids = sorted(set(pairs["organisation_id"].to_list()))
    dataset_of = {
        int(i): (None if d is None else int(d))
        for i, d in conn.execute(
            select(Organisation.id, Organisation.dataset_id).where(Organisation.id.in_(ids))
        )
    }
    groups: dict[tuple[int | None, str], list[int]] = defaultdict(list)
    for oid, code in pairs.select("organisation_id", "code").iter_rows():
        groups[(dataset_of.get(int(oid)), str(code))].append(int(oid))
    read = population_of or _fresh_populations()
    out: dict[tuple[int, str], tuple[str, tuple[Deviant, ...], tuple[str, ...]]] = {}
    for (dataset, code), members in sorted(groups.items(), key=lambda g: (g[0][0] or 0, g[0][1])):
        population = read(conn, dataset, code, as_of)
        context = population.context
        position = {int(o): r for r, o in enumerate(context.organisation_id.tolist())}
        rows = [position[o] for o in members if o in position]
        if not rows:
            continue
        report = deviants_in(context, population.levels, query=rows, k=k, learnt=population.learnt)
        by_row = {g.organisation_id: g for g in report.groups}
        for oid in members:
            group = by_row.get(oid)
            deviants = tuple(group.deviants) if group is not None else ()
            out[(oid, code)] = (report.neighbours_by, deviants, tuple(report.notes))
    return out


def _fresh_populations() -> PopulationRead:
    """Populations read for one call: each dataset's context once, each indicator's levels and weights once."""
    contexts: dict[tuple[int | None, dt.date], Context] = {}

    def context_of(conn: Connection, dataset: int | None, as_of: dt.date) -> Context:
        if (dataset, as_of) not in contexts:
            contexts[(dataset, as_of)] = load_context(conn, dataset, as_of)
        return contexts[(dataset, as_of)]

    def read(conn: Connection, dataset: int | None, code: str, as_of: dt.date) -> IndicatorPopulation:
        return indicator_population(conn, dataset, code, as_of, context_of=context_of)

    return read


__all__ = ["Advice", "IndicatorAdvice", "PopulationRead", "early_advice"]
