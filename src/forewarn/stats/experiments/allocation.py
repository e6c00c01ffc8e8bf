"""Seeded, reproducible, optionally stratified allocation of units to arms, with what an auditor needs to redo it.

The method is written so that anyone can repeat it with a few lines in any language, on any version of NumPy:

1. Units are grouped by stratum (one stratum, ``""``, when none is asked for); strata are taken in sorted order.
2. Within a stratum, units are ordered by ``sha256("{seed}|{stratum}|{unit}")`` (hex digest, ascending).
3. The arms are dealt in blocks: each block holds every arm ``ratio[arm]`` times, in arm order; a stratum of ``n``
   units gets ``n // block`` whole blocks, and the remaining ``n % block`` places go to arms drawn from one more
   block ordered by ``sha256("{seed}|{stratum}|remainder|{position}|{arm}")``, so no arm is favoured.
4. The blocks' sequence is then matched to the ordered units.

The result keeps the seed, the inputs, the method's name and version and a SHA-256 of the whole allocation, so a
later reader can check that nothing was changed.

>>> a = allocate(["A", "B", "C", "D"], seed=7)
>>> sorted(a.counts().items())
[('control', 2), ('intervention', 2)]
>>> a == allocate(["D", "C", "B", "A"], seed=7)  # the order given does not matter
True
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

METHOD = "forewarn-sha256-blocks"
METHOD_VERSION = 1

__all__ = ["METHOD", "METHOD_VERSION", "Allocation", "allocate"]


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Allocation:
    """Which arm each unit is in, with the seed, strata and method that decided it."""

    seed: int
    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    assignments: tuple[tuple[str, str, str], ...]  # (unit, stratum, arm), sorted by unit
    method: str = METHOD
    method_version: int = METHOD_VERSION

    def arm_of(self) -> dict[str, str]:
        return {unit: arm for unit, _, arm in self.assignments}

    def counts(self) -> dict[str, int]:
        return dict(Counter(arm for _, _, arm in self.assignments))

    def counts_by_stratum(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for _, stratum, arm in self.assignments:
            out.setdefault(stratum, Counter())[arm] += 1
        return {s: dict(c) for s, c in sorted(out.items())}

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "method": self.method,
            "method_version": self.method_version,
            "seed": self.seed,
            "arms": list(self.arms),
            "ratio": list(self.ratio),
            "assignments": [{"unit": u, "stratum": s, "arm": a} for u, s, a in self.assignments],
        }
        body["checksum"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
        return body


def allocate(
    units: Sequence[str],
    *,
    seed: int,
    arms: Sequence[str] = ("control", "intervention"),
    ratio: Sequence[int] | None = None,
    strata: Mapping[str, str] | None = None,
) -> Allocation:
    """Allocate ``units`` to ``arms`` by the method in this module's docstring.

    ``strata`` maps each unit to its stratum (every unit must have one when given); ``ratio`` gives each arm's
    share of a block (default one each).
    """
    unique = sorted(dict.fromkeys(units))
    if len(unique) != len(units):
        raise ValueError("a unit is listed twice")
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ValueError("need at least two distinct arms")
    weights = tuple(int(r) for r in (ratio if ratio is not None else [1] * len(arms)))
    if len(weights) != len(arms) or min(weights) < 1:
        raise ValueError("ratio needs one positive whole number for each arm")
    if strata is not None:
        missing = [u for u in unique if u not in strata]
        if missing:
            raise ValueError(f"no stratum given for: {', '.join(missing[:10])}")
    by_stratum: dict[str, list[str]] = {}
    for unit in unique:
        by_stratum.setdefault(strata[unit] if strata is not None else "", []).append(unit)
    block = [arm for arm, w in zip(arms, weights, strict=True) for _ in range(w)]
    assignments: list[tuple[str, str, str]] = []
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum], key=lambda u: _key(seed, stratum, u))
        whole, rest = divmod(len(members), len(block))
        sequence = block * whole
        if rest:
            spare = sorted(enumerate(block), key=lambda pa: _key(seed, stratum, "remainder", pa[0], pa[1]))
            sequence += [arm for _, arm in spare[:rest]]
        assignments.extend((unit, stratum, arm) for unit, arm in zip(members, sequence, strict=True))
    return Allocation(seed, tuple(arms), weights, tuple(sorted(assignments)))
