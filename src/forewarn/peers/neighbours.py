"""An organisation's statistical neighbours: CIPFA-style (fixed, documented weights) and, for an indicator,
outcome-specific (weights learnt from how well each context attribute predicts it), each neighbour with how often
it stays a neighbour under bootstrap resampling. ``forewarn neighbours ORG [--indicator CODE]``.

The statistics are :mod:`forewarn.stats.neighbours`; this module reads the context (:mod:`.context`) and the
indicator's levels (:mod:`.levels`) and names the results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection

from forewarn.peers.context import Context, load_context, organisation_by_code
from forewarn.peers.levels import IndicatorLevels, indicator_levels
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
Method = Literal["fixed", "outcome"]


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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["overlap"] = self.overlap
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
) -> NeighboursReport:
    """The organisation's k nearest neighbours in context, by fixed weights and, for an indicator, by weights
    learnt from it; each with its bootstrap stability over ``replicates`` resamples."""
    if k < 1:
        raise ValueError("k must be at least 1")
    organisation_id, dataset_id, _ = organisation_by_code(conn, code)
    context = load_context(conn, dataset_id, as_of)
    levels = indicator_levels(conn, context, indicator) if indicator else None
    return neighbours_in(context, organisation_id, levels=levels, k=k, replicates=replicates, seed=seed)


def neighbours_in(
    context: Context,
    organisation_id: int,
    *,
    levels: IndicatorLevels | None = None,
    k: int = DEFAULT_K,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> NeighboursReport:
    """:func:`find_neighbours` on a context already read (the web page and tests reuse one)."""
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
