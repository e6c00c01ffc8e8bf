"""The regulator: inspections and grades, special measures, surveillance that selects on noisy low performance,
and interventions (supportive development or enforcement with leadership replacement).

Each month's decisions are vectorised over the organisations concerned. See docs/simulator.md, "Inspections",
"Special measures", "Surveillance and interventions".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from forewarn.simulate.model import ARMS, GRADES, SimulationParameters
from forewarn.simulate.population import LatentState, MonthDraws, apply_capacity_drop
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

NONE, DEVELOPMENT, ENFORCEMENT = -1, 0, 1
WATCH_ONLY = 2


@dataclass
class EventLog:
    """Observable events (what a regulator publishes), kept as column chunks until written."""

    org: list[IntArray] = field(default_factory=list)
    month: list[IntArray] = field(default_factory=list)
    day: list[IntArray] = field(default_factory=list)
    kind: list[list[str]] = field(default_factory=list)
    grade: list[list[str | None]] = field(default_factory=list)
    detail: list[list[str | None]] = field(default_factory=list)

    def add(
        self,
        kind: str,
        org: IntArray,
        month: int,
        day: IntArray,
        grade: list[str | None] | None = None,
        detail: list[str | None] | str | None = None,
    ) -> None:
        if org.size == 0:
            return
        self.org.append(org.astype(np.int64))
        self.month.append(np.full(org.size, month, dtype=np.int64))
        self.day.append(day.astype(np.int64))
        self.kind.append([kind] * org.size)
        self.grade.append(grade if grade is not None else [None] * org.size)
        self.detail.append(detail if isinstance(detail, list) else [detail] * org.size)

    def count(self) -> int:
        return sum(o.size for o in self.org)


@dataclass
class TruthLog:
    """Latent facts behind the events: inspection scores and every selection, treated or not."""

    inspections: list[dict[str, NDArray[np.generic]]] = field(default_factory=list)
    assignments: list[dict[str, NDArray[np.generic]]] = field(default_factory=list)


@dataclass
class Regulator:
    """The regulator's view and commitments, one entry per organisation."""

    last_grade: IntArray
    next_inspection: IntArray
    in_special_measures: BoolArray
    arm: IntArray
    intervention_end: IntArray
    intervention_day: IntArray
    eligible_from: IntArray
    composite: FloatArray
    months_screened: int = 0

    @property
    def development_active(self) -> BoolArray:
        out: BoolArray = self.arm == DEVELOPMENT
        return out

    @property
    def enforcement_active(self) -> BoolArray:
        out: BoolArray = self.arm == ENFORCEMENT
        return out


def make_regulator(params: SimulationParameters, n: int, rng: np.random.Generator) -> Regulator:
    """First inspections are spread over the burn-in and a full good-grade interval, as in a mature regime."""
    horizon = params.burn_in_months + params.inspection_interval_months[2]
    return Regulator(
        last_grade=np.full(n, NONE, dtype=np.int64),
        next_inspection=rng.integers(0, horizon, size=n).astype(np.int64),
        in_special_measures=np.zeros(n, dtype=np.bool_),
        arm=np.full(n, NONE, dtype=np.int64),
        intervention_end=np.full(n, -1, dtype=np.int64),
        intervention_day=np.ones(n, dtype=np.int64),
        eligible_from=np.zeros(n, dtype=np.int64),
        composite=np.full((n, params.surveillance_window_months), np.nan),
    )


def _days(rng: np.random.Generator, size: int) -> IntArray:
    return rng.integers(1, 29, size=size).astype(np.int64)


def inspection_grades(score: FloatArray, cuts: tuple[float, float, float]) -> IntArray:
    """Grade index 0..3 (inadequate .. outstanding) of each inspection score.

    >>> inspection_grades(np.array([-2.0, -1.0, 0.0, 2.0]), (-1.4, -0.7, 0.9)).tolist()
    [0, 1, 2, 3]
    """
    return np.searchsorted(np.asarray(cuts), score, side="right").astype(np.int64)


def regulator_step(
    reg: Regulator,
    state: LatentState,
    params: SimulationParameters,
    absolute_month: int,
    output_month: int,
    draws: MonthDraws,
    composite: FloatArray | None,
    rng: np.random.Generator,
    log: EventLog,
    truth: TruthLog,
) -> None:
    """One month of regulation. Before the output starts (burn-in) only inspections run, to set earlier grades."""
    a, active = absolute_month, output_month >= 0
    n = reg.arm.size

    changed = np.flatnonzero(draws.leadership_change)
    if active:
        log.add("leadership_change", changed, a, _days(rng, changed.size), detail="leader left (turnover)")

    ending = np.flatnonzero((reg.arm != NONE) & (reg.intervention_end == a))
    if ending.size:
        log.add(
            "intervention_end",
            ending,
            a,
            reg.intervention_day[ending],
            detail=[ARMS[k] for k in reg.arm[ending]],
        )
        reg.arm[ending] = NONE
        reg.eligible_from[ending] = a + params.intervention_cooloff_months

    due = np.flatnonzero(reg.next_inspection == a)
    if due.size:
        _inspect(reg, state, params, a, active, due, draws, rng, log, truth)

    if composite is not None:
        reg.composite[:, reg.months_screened % reg.composite.shape[1]] = composite
        reg.months_screened += 1
        window = params.surveillance_window_months
        if reg.months_screened >= window and (output_month + 1) % params.surveillance_interval_months == 0:
            _screen(reg, state, params, a, n, draws, rng, log, truth)


def _inspect(
    reg: Regulator,
    state: LatentState,
    params: SimulationParameters,
    a: int,
    active: bool,
    due: IntArray,
    draws: MonthDraws,
    rng: np.random.Generator,
    log: EventLog,
    truth: TruthLog,
) -> None:
    score = (
        params.inspection_capacity_weight * state.capacity[due]
        + params.inspection_performance_weight * state.performance[due]
        + params.inspection_noise_sd * rng.standard_normal(due.size)
    )
    grade = inspection_grades(score, params.grade_cuts)
    days = _days(rng, due.size)
    jitter = rng.uniform(
        1.0 - params.inspection_interval_jitter, 1.0 + params.inspection_interval_jitter, due.size
    )
    intervals = np.asarray(params.inspection_interval_months, dtype=np.float64)[grade] * jitter
    if active:
        log.add("inspection", due, a, days, grade=[GRADES[g] for g in grade])
        truth.inspections.append(
            {
                "org": due,
                "month": np.full(due.size, a),
                "day": days,
                "grade": grade,
                "score": score,
                "capacity": state.capacity[due].copy(),
                "performance": state.performance[due].copy(),
            }
        )
        was_in = reg.in_special_measures[due]
        enter = (grade == 0) & ~was_in & ((score < params.special_measures_cut) | (reg.last_grade[due] == 0))
        leave = was_in & (grade >= 1)
        log.add(
            "special_measures_start", due[enter], a, days[enter], detail="graded inadequate and falling far"
        )
        log.add(
            "special_measures_end", due[leave], a, days[leave], detail="re-inspected: no longer inadequate"
        )
        reg.in_special_measures[due[enter]] = True
        reg.in_special_measures[due[leave]] = False
        in_sm = reg.in_special_measures[due]
        intervals = np.where(in_sm, params.special_measures_reinspection_months, intervals)
        needs = in_sm & (reg.arm[due] == NONE)
        who = due[needs]
        if who.size:
            arm = np.where(
                rng.random(who.size) < params.special_measures_enforcement_probability,
                ENFORCEMENT,
                DEVELOPMENT,
            )
            _start(
                reg,
                state,
                params,
                a,
                who,
                arm,
                days[needs],
                "special_measures",
                np.full(who.size, np.nan),
                draws,
                rng,
                log,
                truth,
            )
    reg.last_grade[due] = grade
    reg.next_inspection[due] = a + np.maximum(1, np.rint(intervals)).astype(np.int64)


def _screen(
    reg: Regulator,
    state: LatentState,
    params: SimulationParameters,
    a: int,
    n: int,
    draws: MonthDraws,
    rng: np.random.Generator,
    log: EventLog,
    truth: TruthLog,
) -> None:
    """Pick the worst ``surveillance_fraction`` of organisations by their recent observed composite."""
    recent = reg.composite.mean(axis=1)
    eligible = (reg.arm == NONE) & ~reg.in_special_measures & (reg.eligible_from <= a)
    k = min(math.floor(params.surveillance_fraction * n + 0.5), int(eligible.sum()))
    if k <= 0:
        return
    ranked = np.where(eligible, recent, np.inf)
    chosen = np.argpartition(ranked, k - 1)[:k] if k < n else np.arange(n)
    chosen = np.sort(chosen)
    arm = rng.choice(3, size=k, p=np.asarray(params.surveillance_arm_probabilities))
    days = _days(rng, k)
    treated = arm != WATCH_ONLY
    watch = chosen[~treated]
    truth.assignments.append(
        {
            "org": watch,
            "month": np.full(watch.size, a),
            "day": days[~treated],
            "trigger": np.full(watch.size, "surveillance"),
            "arm": np.full(watch.size, WATCH_ONLY),
            "composite": recent[watch],
            "end_month": np.full(watch.size, -1),
        }
    )
    _start(
        reg,
        state,
        params,
        a,
        chosen[treated],
        arm[treated],
        days[treated],
        "surveillance",
        recent[chosen[treated]],
        draws,
        rng,
        log,
        truth,
    )
    soon = a + rng.integers(1, params.responsive_inspection_months + 1, size=k)
    reg.next_inspection[chosen] = np.minimum(reg.next_inspection[chosen], soon)


def _start(
    reg: Regulator,
    state: LatentState,
    params: SimulationParameters,
    a: int,
    who: IntArray,
    arm: IntArray,
    days: IntArray,
    trigger: str,
    composite: FloatArray,
    draws: MonthDraws,
    rng: np.random.Generator,
    log: EventLog,
    truth: TruthLog,
) -> None:
    if who.size == 0:
        return
    duration = np.where(arm == DEVELOPMENT, params.development_months, params.enforcement_months)
    reg.arm[who] = arm
    reg.intervention_end[who] = a + duration
    reg.intervention_day[who] = days
    log.add("intervention_start", who, a, days, detail=[f"{ARMS[k]} (trigger: {trigger})" for k in arm])
    truth.assignments.append(
        {
            "org": who,
            "month": np.full(who.size, a),
            "day": days,
            "trigger": np.full(who.size, trigger),
            "arm": arm.astype(np.int64),
            "composite": composite,
            "end_month": a + duration,
        }
    )
    # Enforcement replaces the leadership (unless the leader has just gone anyway): a drop in capacity now.
    replace = (arm == ENFORCEMENT) & (
        rng.random(who.size) < params.enforcement_leadership_replacement_probability
    )
    replace &= ~draws.leadership_change[who]
    replaced = who[replace]
    log.add("leadership_change", replaced, a, days[replace], detail="leadership replaced (enforcement)")
    mask = np.zeros(reg.arm.size, dtype=np.bool_)
    mask[replaced] = True
    apply_capacity_drop(
        state, mask, params.intervention_effect_scale * params.leadership_change_capacity_drop
    )
