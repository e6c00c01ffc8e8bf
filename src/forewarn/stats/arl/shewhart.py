"""Average run lengths of a Shewhart chart with runs rules (the Western Electric rules or any others).

Champ & Woodall (1987) Markov chains built from the rules (``xshewhartrunsrules.arl`` of R ``spc``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from forewarn.stats.arl.numerics import check_finite, check_positive, normal_cdf
from forewarn.stats.arrays import FloatArray, IntArray


@dataclass(frozen=True)
class RunsRule:
    """A supplementary runs rule: signal when ``count`` of the last ``window`` points lie beyond ``beyond``.

    "Beyond" is on one side: all counted points above ``+beyond`` limit-units or all below ``-beyond``.

    Parameters
    ----------
    count : int
        Points needed, ``1 <= count <= window``.
    window : int
        Points looked at (the current one and the ``window - 1`` before it).
    beyond : float
        Zone boundary in standard deviations (multiplied by the chart's ``limit_scale``), >= 0.

    Raises
    ------
    ValueError
        If the numbers are inconsistent.
    """

    count: int
    window: int
    beyond: float

    def __post_init__(self) -> None:
        if not (
            isinstance(self.window, int) and isinstance(self.count, int) and 1 <= self.count <= self.window
        ):
            raise ValueError(
                f"RunsRule needs integers 1 <= count <= window; got {self.count!r} of {self.window!r}"
            )
        if not (isinstance(self.beyond, int | float) and math.isfinite(self.beyond) and self.beyond >= 0):
            raise ValueError(f"RunsRule.beyond must be a finite number >= 0; got {self.beyond!r}")


#: The Western Electric rules as numbered by Champ & Woodall (1987) and spc's ``type`` codes.
WESTERN_ELECTRIC_RULES: Mapping[int, RunsRule] = {
    1: RunsRule(count=1, window=1, beyond=3.0),  # one point beyond 3 sigma
    2: RunsRule(count=2, window=3, beyond=2.0),  # two of three beyond 2 sigma, same side
    3: RunsRule(count=4, window=5, beyond=1.0),  # four of five beyond 1 sigma, same side
    4: RunsRule(count=8, window=8, beyond=0.0),  # eight in a row on one side of the centre line
}


@lru_cache(maxsize=64)
def _runs_rules_chain(rules: tuple[RunsRule, ...]) -> tuple[FloatArray, IntArray, int]:
    """States and transitions of the Champ-Woodall chain, built breadth-first from the empty history.

    Returns the zone cut points (in sigma units), an array of (from, to, zone) transitions that do not signal,
    and the number of states. A state holds, for each rule, what of the recent past still matters: the last
    ``window - 1`` sides (-1, 0, +1) for an m-of-n rule, or the signed length of the current run for an
    n-in-a-row rule (count == window), which needs far fewer states.
    """
    cuts = sorted({rule.beyond for rule in rules} | {-rule.beyond for rule in rules})
    edges = [-math.inf, *cuts, math.inf]
    zone_sides: list[tuple[int, ...]] = []
    for low, high in itertools.pairwise(edges):
        inside = (
            (low + high) / 2
            if math.isfinite(low) and math.isfinite(high)
            else (high - 1 if math.isfinite(high) else low + 1)
        )
        zone_sides.append(tuple(1 if inside > r.beyond else (-1 if inside < -r.beyond else 0) for r in rules))

    def initial(rule: RunsRule) -> tuple[int, ...]:
        return (0,) if rule.count == rule.window else (0,) * (rule.window - 1)

    def advance(rule: RunsRule, memory: tuple[int, ...], side: int) -> tuple[int, ...] | None:
        if rule.count == rule.window:
            run = memory[0]
            run = (run + side if run * side > 0 else side) if side != 0 else 0
            return None if abs(run) >= rule.count else (run,)
        history = (*memory, side)
        if history.count(1) >= rule.count or history.count(-1) >= rule.count:
            return None
        return history[1:]

    start = tuple(initial(rule) for rule in rules)
    index = {start: 0}
    queue = [start]
    transitions: list[tuple[int, int, int]] = []
    position = 0
    while position < len(queue):
        state = queue[position]
        for zone, sides in enumerate(zone_sides):
            following: list[tuple[int, ...]] = []
            for rule, memory, side in zip(rules, state, sides, strict=True):
                moved = advance(rule, memory, side)
                if moved is None:
                    break
                following.append(moved)
            else:
                successor = tuple(following)
                if successor not in index:
                    index[successor] = len(queue)
                    queue.append(successor)
                transitions.append((position, index[successor], zone))
        position += 1
    return np.array(edges, dtype=np.float64), np.array(transitions, dtype=np.int64).reshape(-1, 3), len(queue)


def shewhart_runs_arl(
    shift: float = 0.0,
    *,
    rules: Sequence[int | RunsRule] = (1, 2),
    limit_scale: float = 1.0,
) -> float:
    """Zero-state ARL of a Shewhart chart for normal data with supplementary runs rules.

    Parameters
    ----------
    shift : float
        True mean of the standardised observations (0 is in control).
    rules : sequence of int or RunsRule
        Western Electric rule numbers (1: one beyond 3 sigma; 2: two of three beyond 2 sigma; 3: four of five
        beyond 1 sigma; 4: eight in a row on one side) and/or custom :class:`RunsRule`. spc's ``type = "12"``
        is ``rules=(1, 2)``. Any combination works, e.g. ``(1, 2, 3, 4)``.
    limit_scale : float
        Multiplies every zone boundary (spc's ``c``; 1 gives the usual 1, 2, 3 sigma), > 0.

    Returns
    -------
    float
        The average run length.

    Raises
    ------
    ValueError
        If a rule number is unknown, no rule is given, or ``limit_scale <= 0``.

    Notes
    -----
    Champ & Woodall (1987): each new point falls in one zone between the cut points
    ``+-beyond * limit_scale``, with probability ``Phi(upper - mu) - Phi(lower - mu)``; the chain's state is
    the part of the recent history the rules still need (built here by breadth-first search from the empty
    history rather than typed in). With Q the transition matrix among non-signalling states, the ARL vector
    is ``(I - Q)^{-1} 1`` and the zero-state ARL is its entry for the empty history.

    References
    ----------
    Champ, C. W. & Woodall, W. H. (1987). Exact results for Shewhart control charts with supplementary runs
    rules. Technometrics 29, 393-399.
    Knoth, S. (2024). spc: Statistical Process Control, R package version 0.6.7
    (``xshewhartrunsrules.arl``).

    Examples
    --------
    Same as R ``spc::xshewhartrunsrules.arl(mu = 0, c = 1, type = "12")``:

    >>> shewhart_runs_arl(0.0, rules=(1, 2))
    225.438407
    >>> shewhart_runs_arl(0.0, rules=(1, 2, 3, 4))  # all four Western Electric rules
    91.750773
    """
    shift = check_finite("shift", shift)
    limit_scale = check_positive("limit_scale", limit_scale)
    if len(rules) == 0:
        raise ValueError("rules must name at least one rule")
    resolved: list[RunsRule] = []
    for rule in rules:
        if isinstance(rule, RunsRule):
            resolved.append(rule)
        elif isinstance(rule, int) and rule in WESTERN_ELECTRIC_RULES:
            resolved.append(WESTERN_ELECTRIC_RULES[rule])
        else:
            raise ValueError(f"rules must be Western Electric numbers 1-4 or RunsRule objects; got {rule!r}")
    edges, transitions, n_states = _runs_rules_chain(tuple(resolved))
    scaled = edges * limit_scale
    zone_probability = normal_cdf(scaled[1:] - shift) - normal_cdf(scaled[:-1] - shift)
    transition = sparse.csc_matrix(
        (zone_probability[transitions[:, 2]], (transitions[:, 0], transitions[:, 1])),
        shape=(n_states, n_states),
    )
    system = sparse.identity(n_states, format="csc") - transition
    arl_by_state = np.atleast_1d(sparse_linalg.spsolve(system, np.ones(n_states)))
    return float(arl_by_state[0])


__all__ = ["WESTERN_ELECTRIC_RULES", "RunsRule", "shewhart_runs_arl"]
