"""An organisation's statistical neighbours: CIPFA-style (fixed, documented weights) and, for an indicator,
outcome-specific (weights learnt from how well each context attribute predicts it), each neighbour with how often
it stays a neighbour under bootstrap resampling. ``forewarn neighbours ORG [--indicator CODE]``.

The statistics are :mod:`forewarn.stats.neighbours`; this module reads the context (:mod:`.context`) and the
indicator's levels (:mod:`.levels`) and names the results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection

from forewarn.peers.context import Context, load_context, organisation_by_code
from forewarn.peers.levels import IndicatorLevels, indicator_levels
from forewarn.peers.profile import PROFILE_PERIODS, Profile, load_profile
from forewarn.stats.neighbour_agreement import attribute_bootstrap, set_overlap
from forewarn.stats.neighbours import (
    DEFAULT_K,
    NeighbourSet,
    design,
    nearest,
    neighbour_stability,
    normalised_weights,
    outcome_weights,
)

FIXED_WEIGHTS: Mapping[str, float] = {
    "type": 3.0,
    "deprivation": 3.0,
    "staff": 2.0,
    "population": 2.0,
    "region": 1.0,
}
"""CIPFA-style fixed weights by attribute name, before scaling to sum to 1 over the attributes present. What an
organisation does (its type), the need it serves (deprivation) and its size (staff, or population) weigh most, as
in CIPFA's model, where population, deprivation and the authority's tier carry the largest weights; region a
little (geography matters less than need). Any other imported attribute weighs :data:`OTHER_WEIGHT`."""
OTHER_WEIGHT = 1.0
DEFAULT_REPLICATES = 200
Method = Literal["fixed", "outcome", "profile"]


@dataclass(frozen=True)
class Neighbour:
    organisation_id: int
    code: str
    name: str
    distance: float
    stability: float
    context: dict[str, float | str | None]
    level: float | None = None


@dataclass(frozen=True)
class NeighbourList:
    """One way of choosing neighbours, nearest first."""

    method: Method
    weights: dict[str, float]
    neighbours: list[Neighbour]
    candidates: int
    r2_cv: float | None = None
    r2_fold_sd: float | None = None
    alpha: float | None = None
    note: str | None = None
    set_stability: float | None = None  # profile: mean Jaccard index with the set under resampled indicators
    period_jaccard: float | None = None  # profile: Jaccard index with the set from the next, disjoint periods

    @property
    def ids(self) -> list[int]:
        return [n.organisation_id for n in self.neighbours]


@dataclass(frozen=True)
class NeighboursReport:
    organisation_id: int
    code: str
    name: str
    as_of: dt.date
    k: int
    replicates: int
    attributes: tuple[str, ...]
    logged: tuple[str, ...]
    left_out: tuple[str, ...]
    context: dict[str, float | str | None]
    lists: list[NeighbourList]
    indicator: str | None = None
    level: float | None = None
    population: int = 0
    notes: list[str] = field(default_factory=list)

    def list_of(self, method: Method) -> NeighbourList | None:
        return next((n for n in self.lists if n.method == method), None)

    @property
    def overlap(self) -> int | None:
        fixed, outcome = self.list_of("fixed"), self.list_of("outcome")
        if fixed is None or outcome is None:
            return None
        return len(set(fixed.ids) & set(outcome.ids))

    @property
    def profile_overlap(self) -> int | None:
        """Neighbours both in the CIPFA-style list and in the indicator profile's."""
        fixed, profile = self.list_of("fixed"), self.list_of("profile")
        if fixed is None or profile is None or not profile.neighbours:
            return None
        return len(set(fixed.ids) & set(profile.ids))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["overlap"] = self.overlap
        out["profile_overlap"] = self.profile_overlap
        plain: dict[str, Any] = _finite(out)
        return plain


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def fixed_weights(context: Context) -> np.ndarray:
    """:data:`FIXED_WEIGHTS` for the context's attributes (numeric first, then categorical), scaled to sum to 1."""
    raw = [FIXED_WEIGHTS.get(name, OTHER_WEIGHT) for name in context.attributes]
    return normalised_weights(raw, len(raw))


def find_neighbours(
    conn: Connection,
    code: str,
    *,
    indicator: str | None = None,
    k: int = DEFAULT_K,
    replicates: int = DEFAULT_REPLICATES,
    as_of: dt.date | None = None,
    seed: int = 0,
    profile: bool | None = None,
) -> NeighboursReport:
    """The organisation's k nearest neighbours in context, by fixed weights and, for an indicator, by weights
    learnt from it; each with its bootstrap stability over ``replicates`` resamples.

    ``profile``: also the neighbours by indicator profile (:mod:`forewarn.peers.profile`); by default only when
    the context has no number (only categories, as the bundled council data's area type), where the fixed
    weights cannot rank organisations within a category."""
    if k < 1:
        raise ValueError("k must be at least 1")
    organisation_id, dataset_id, _ = organisation_by_code(conn, code)
    context = load_context(conn, dataset_id, as_of)
    levels = indicator_levels(conn, context, indicator) if indicator else None
    wanted = profile if profile is not None else not context.numeric_names
    profiles = (
        (load_profile(conn, context), load_profile(conn, context, skip=PROFILE_PERIODS)) if wanted else None
    )
    return neighbours_in(
        context, organisation_id, levels=levels, k=k, replicates=replicates, seed=seed, profiles=profiles
    )


def neighbours_in(
    context: Context,
    organisation_id: int,
    *,
    levels: IndicatorLevels | None = None,
    k: int = DEFAULT_K,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    profiles: tuple[Profile, Profile] | None = None,
) -> NeighboursReport:
    """:func:`find_neighbours` on a context already read (the web page and tests reuse one); ``profiles`` the
    indicator profile from the earliest periods and the one from the next, disjoint periods."""
    row = context.row_of(organisation_id)
    notes: list[str] = []
    lists: list[NeighbourList] = []
    numeric = context.distance_numeric()
    level_values = levels.level if levels is not None else None
    if not context.attributes:
        notes.append("No context attributes are known for this population: no neighbours can be found.")
    else:
        d = design(numeric, context.categorical)
        weights = fixed_weights(context)
        found = nearest(d, weights, k, query=[row])
        stability = (
            neighbour_stability(
                numeric, context.categorical, found, weights=weights, replicates=replicates, seed=seed
            )
            if replicates
            else np.full(found.index.shape, np.nan)
        )
        lists.append(
            NeighbourList(
                method="fixed",
                weights=_named(context, weights),
                neighbours=_neighbours(context, found, stability, level_values),
                candidates=context.n - 1,
            )
        )
        if levels is not None:
            lists.append(_outcome_list(context, numeric, row, levels, k, replicates, seed, notes))
    if profiles is not None:
        lists.append(_profile_list(context, profiles, row, level_values, k, replicates, seed, notes))
    level = None if levels is None else _number(levels.level[row])
    return NeighboursReport(
        organisation_id=organisation_id,
        code=context.code[row],
        name=context.name[row],
        as_of=context.as_of,
        k=k,
        replicates=replicates,
        attributes=context.attributes,
        logged=tuple(n for n, lg in zip(context.numeric_names, context.logged, strict=True) if lg),
        left_out=context.left_out,
        context=context.values_of(row),
        lists=lists,
        indicator=None if levels is None else levels.indicator.code,
        level=level,
        population=context.n,
        notes=notes,
    )


def _outcome_list(
    context: Context,
    numeric: np.ndarray,
    row: int,
    levels: IndicatorLevels,
    k: int,
    replicates: int,
    seed: int,
    notes: list[str],
) -> NeighbourList:
    y = levels.level
    candidates = np.isfinite(y)
    candidates[row] = True  # its own level may be missing; it is never its own neighbour anyway
    d = design(numeric, context.categorical)
    precision = levels.precision()
    learnt = outcome_weights(d, y, seed=seed, sample_weight=precision)
    code = levels.indicator.code
    if not learnt.informative:
        r2 = "not estimable" if not np.isfinite(learnt.r2_cv) else f"{learnt.r2_cv:.2f}"
        notes.append(
            f"Context does not predict {code} (cross-validated R^2 {r2} over {learnt.n} organisations): "
            "no outcome-specific neighbours; the fixed weights apply."
        )
        return NeighbourList(
            method="outcome",
            weights={},
            neighbours=[],
            candidates=int(candidates.sum()) - 1,
            r2_cv=_number(learnt.r2_cv),
            r2_fold_sd=_number(learnt.r2_fold_sd),
            note="context does not predict this indicator",
        )
    found = nearest(d, learnt.weights, k, query=[row], candidates=candidates)
    stability = (
        neighbour_stability(
            numeric,
            context.categorical,
            found,
            outcome=y,
            alpha=learnt.alpha,
            sample_weight=precision,
            candidates=candidates,
            replicates=replicates,
            seed=seed,
        )
        if replicates
        else np.full(found.index.shape, np.nan)
    )
    return NeighbourList(
        method="outcome",
        weights=_named(context, learnt.weights),
        neighbours=_neighbours(context, found, stability, y),
        candidates=int(candidates.sum()) - 1,
        r2_cv=_number(learnt.r2_cv),
        r2_fold_sd=_number(learnt.r2_fold_sd),
        alpha=learnt.alpha,
    )


def _profile_list(
    context: Context,
    profiles: tuple[Profile, Profile],
    row: int,
    level: np.ndarray | None,
    k: int,
    replicates: int,
    seed: int,
    notes: list[str],
) -> NeighbourList:
    """The k nearest by indicator profile (equal weights), each neighbour's share of indicator-resampling
    replicates in which it is found again, and the set's agreement with the one from later periods."""
    profile, later = profiles
    complete = profile.complete
    m = len(profile.indicators)
    empty = NeighbourList(
        method="profile", weights={}, neighbours=[], candidates=max(int(complete.sum()) - 1, 0)
    )
    if m == 0:
        notes.append("No indicator has values for at least half of the population: no profile neighbours.")
        return replace(empty, note="no indicator profile")
    if not complete[row]:
        known = m - int(profile.missing[row])
        notes.append(
            f"{context.code[row]} has {known} of the profile's {m} indicators in their earliest periods "
            "(fewer than half): no profile neighbours."
        )
        return replace(empty, note="too few indicators for a profile")
    if profile.missing[row]:
        notes.append(
            f"{int(profile.missing[row])} of the profile's {m} indicators are missing for {context.code[row]}; "
            "they count as the population's mean."
        )
    weights = np.ones(m)
    d = profile.design()
    found = nearest(d, weights, k, query=[row], candidates=complete)
    stability = np.full(found.index.shape, np.nan)
    set_stability = None
    if replicates:
        boot = attribute_bootstrap(d, found, candidates=complete, replicates=replicates, seed=seed)
        stability, set_stability = boot.stability, _number(float(boot.jaccard[0]))
    period_jaccard = None
    if later.indicators and later.complete[row]:
        again = nearest(
            later.design(), np.ones(len(later.indicators)), k, query=[row], candidates=later.complete
        )
        period_jaccard = _number(float(set_overlap(found.index, again.index).jaccard[0]))
    return NeighbourList(
        method="profile",
        weights={code: round(1.0 / m, 6) for code in profile.indicators},
        neighbours=_neighbours(context, found, stability, level),
        candidates=int(complete.sum()) - 1,
        set_stability=set_stability,
        period_jaccard=period_jaccard,
    )


def _named(context: Context, weights: np.ndarray) -> dict[str, float]:
    return {name: round(float(w), 6) for name, w in zip(context.attributes, weights, strict=True)}


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _neighbours(
    context: Context, found: NeighbourSet, stability: np.ndarray, level: np.ndarray | None
) -> list[Neighbour]:
    out = []
    for j, r in enumerate(found.index[0].tolist()):
        out.append(
            Neighbour(
                organisation_id=int(context.organisation_id[r]),
                code=context.code[r],
                name=context.name[r],
                distance=float(found.distance[0, j]),
                stability=float(stability[0, j]),
                context=context.values_of(r),
                level=None if level is None else _number(level[r]),
            )
        )
    return out


__all__ = [
    "FIXED_WEIGHTS",
    "Neighbour",
    "NeighbourList",
    "NeighboursReport",
    "find_neighbours",
    "fixed_weights",
    "neighbours_in",
]
