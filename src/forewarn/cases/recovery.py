"""The effect estimate checked on the simulator, where the truth is known (docs/interventions.md).

``effect_recovery(parameters)`` replays a simulation with its no-effect counterfactual
(``forewarn.simulate.counterfactual``), scores the published indicator values as the product does, estimates every
surveillance-triggered intervention's effect naively and against a matched comparison group
(``forewarn.cases.effects``), and sets both beside the true effect: the mean over the same interventions of the
change of the expected score minus the change it would have had without any intervention effect. The score is linear
in the values, so that truth is exact (no sampling error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from forewarn.cases.effects import (
    EffectEstimates,
    EffectOptions,
    Intervention,
    ScorePanel,
    estimate_effects,
    score_panel,
    window_mean,
)
from forewarn.cases.followup import FollowUpOptions, follow_up
from forewarn.simulate.counterfactual import Replay, replay
from forewarn.simulate.model import SimulationParameters
from forewarn.simulate.relapse import RelapseScenario, replay_with_relapse

ARMS = ("development", "enforcement")


@dataclass(frozen=True)
class ArmRecovery:
    """One arm: the true effect and the two estimates with their intervals."""

    arm: str
    interventions: int
    true_effect: float
    true_change: float
    naive: float
    naive_low: float
    naive_high: float
    did: float
    did_low: float
    did_high: float
    comparison_units: int

    @property
    def did_covers(self) -> bool:
        return self.did_low <= self.true_effect <= self.did_high

    @property
    def naive_covers(self) -> bool:
        return self.naive_low <= self.true_effect <= self.naive_high


@dataclass(frozen=True)
class RecoveryReport:
    parameters: dict[str, Any]
    window: tuple[int, int]
    arms: list[ArmRecovery]
    estimates: EffectEstimates
    truth: pl.DataFrame
    """Per evaluated intervention: key, org_code, arm, true_effect, true_change."""

    def arm(self, name: str) -> ArmRecovery:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)

    def table(self) -> str:
        lines = [
            "| arm | interventions | true effect | naive before/after (95% CI) | comparison-group DiD (95% CI) |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for a in self.arms:
            lines.append(
                f"| {a.arm} | {a.interventions} | {a.true_effect:+.3f} | {a.naive:+.3f} ({a.naive_low:+.3f} to "
                f"{a.naive_high:+.3f}){'' if a.naive_covers else ' misses'} | {a.did:+.3f} ({a.did_low:+.3f} to "
                f"{a.did_high:+.3f}){'' if a.did_covers else ' misses'} |"
            )
        return "\n".join(lines)


def default_indicators(run: Replay) -> list[str]:
    """Every directed indicator whose value is comparable between organisations of different sizes (no counts)."""
    return [
        code
        for code, kind, polarity in zip(run.indicator_codes, run.indicator_kinds, run.polarities, strict=True)
        if kind != "count" and polarity != "neutral"
    ]


def interventions_of(run: Replay) -> tuple[list[Intervention], pl.DataFrame]:
    """Every treated intervention (development or enforcement) as the product sees it, and the replay's rows."""
    rows = run.interventions.filter(pl.col("arm") != "none").with_row_index("n")
    out = [
        Intervention(
            key=f"{r['org_code']}:{r['start']}",
            org_code=r["org_code"],
            arm=r["arm"],
            start=run.periods[r["start"]],
            end=run.periods[r["end"]] if r["end"] >= 0 else None,
        )
        for r in rows.iter_rows(named=True)
    ]
    return out, rows


def effect_recovery(
    parameters: SimulationParameters,
    *,
    options: EffectOptions | None = None,
    indicators: list[str] | None = None,
    trigger: str | None = "surveillance",
    first_only: bool = True,
    run: Replay | None = None,
) -> RecoveryReport:
    """Estimate every intervention's effect on a simulation and compare with the truth.

    ``trigger`` keeps the interventions the surveillance screen started (None: special measures too);
    ``first_only`` keeps an organisation's first intervention (a later one would carry the fading of the first).
    """
    opts = options or EffectOptions()
    run = run or replay(parameters)
    chosen = indicators or default_indicators(run)
    polarity = dict(zip(run.indicator_codes, run.polarities, strict=True))
    panel = score_panel(run.observations(chosen), {c: polarity[c] for c in chosen})
    known, rows = interventions_of(run)
    first = rows.group_by("org_code").agg(pl.col("start").min().alias("first"))
    keep = rows.join(first, on="org_code").filter(
        (pl.lit(trigger is None) | (pl.col("trigger") == (trigger or "")))
        & (pl.lit(not first_only) | (pl.col("start") == pl.col("first")))
    )
    wanted = [known[i] for i in keep["n"].to_list()]
    types = dict(zip(run.codes, run.types, strict=True))
    estimates = estimate_effects(panel, wanted, all_interventions=known, types=types, options=opts)
    truth = true_effects(run, panel, wanted, opts, chosen)
    arms = []
    for arm in ARMS:
        try:
            pooled = estimates.arm(arm)
        except KeyError:
            continue
        keys = estimates.stacks.filter(pl.col("treated") & (pl.col("arm") == arm))["key"]
        t = truth.filter(pl.col("key").is_in(keys.to_list()))
        arms.append(
            ArmRecovery(
                arm=arm,
                interventions=pooled.interventions,
                true_effect=float(t["true_effect"].mean()),  # type: ignore[arg-type]
                true_change=float(t["true_change"].mean()),  # type: ignore[arg-type]
                naive=pooled.naive.estimate,
                naive_low=pooled.naive.ci_low,
                naive_high=pooled.naive.ci_high,
                did=pooled.did.estimate,
                did_low=pooled.did.ci_low,
                did_high=pooled.did.ci_high,
                comparison_units=pooled.did.n_comparison,
            )
        )
    return RecoveryReport(
        parameters={
            "n_organisations": parameters.n_organisations,
            "n_years": parameters.n_years,
            "seed": parameters.seed,
        },
        window=opts.after,
        arms=arms,
        estimates=estimates,
        truth=truth,
    )


def true_effects(
    run: Replay,
    panel: ScorePanel,
    interventions: list[Intervention],
    options: EffectOptions,
    indicators: list[str],
) -> pl.DataFrame:
    """Per intervention: the change of the expected score (``true_change``) and the part of it the interventions
    caused (``true_effect``: factual minus counterfactual, after minus before)."""
    truth = run.truth(indicators)
    factual = panel.rescore(truth, "true_value")
    counterfactual = panel.rescore(truth, "counterfactual_value")
    index = panel.index_of()
    rows = np.asarray([index[iv.org_code] for iv in interventions], dtype=np.int64)
    starts = np.asarray([panel.month_of(iv.start) for iv in interventions], dtype=np.int64)
    effect = factual[rows] - counterfactual[rows]
    f = factual[rows]

    def change(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return window_mean(values, starts, options.after) - window_mean(values, starts, options.before)

    return pl.DataFrame(
        {
            "key": [iv.key for iv in interventions],
            "org_code": [iv.org_code for iv in interventions],
            "arm": [iv.arm for iv in interventions],
            "true_effect": change(effect),
            "true_change": change(f),
        }
    )


@dataclass(frozen=True)
class RelapseGroup:
    """Alarm rates within one group of withdrawals."""

    label: str
    withdrawals: int
    alarms: int
    median_delay: float | None = None
    """Median months from the relapse's onset to the alarm (relapsing groups only)."""

    @property
    def rate(self) -> float:
        return self.alarms / self.withdrawals if self.withdrawals else float("nan")


@dataclass(frozen=True)
class RelapseReport:
    parameters: dict[str, Any]
    scenario: dict[str, Any]
    follow_up_months: int
    decline_threshold: float
    groups: list[RelapseGroup]
    rows: pl.DataFrame
    """Per withdrawal: org_code, type, arm, end, relapsed (mechanism), onset, months_followed, alarm,
    alarm_month, signal, decline (true: achieved level minus the lowest 6-month mean of the expected score)."""

    def group(self, label: str) -> RelapseGroup:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)

    def table(self) -> str:
        lines = [
            "| withdrawals | n | alarms | alarm rate | median months from onset to alarm |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for g in self.groups:
            delay = "" if g.median_delay is None else f"{g.median_delay:.0f}"
            lines.append(f"| {g.label} | {g.withdrawals} | {g.alarms} | {g.rate:.0%} | {delay} |")
        return "\n".join(lines)


def relapse_recovery(
    parameters: SimulationParameters,
    scenario: RelapseScenario | None = None,
    *,
    options: FollowUpOptions | None = None,
    indicators: list[str] | None = None,
    decline_threshold: float = 0.15,
    full_follow_up: bool = True,
) -> RelapseReport:
    """Run the relapse scenario and measure how often the follow-up monitoring alarms, for organisations that
    relapse and for those that do not (by the scenario's draw, and by the truth: the expected score falling at
    least ``decline_threshold`` below the achieved level over six months)."""
    opts = options or FollowUpOptions()
    s = scenario or RelapseScenario()
    run, withdrawals = replay_with_relapse(parameters, s)
    chosen = indicators or default_indicators(run)
    polarity = dict(zip(run.indicator_codes, run.polarities, strict=True))
    panel = score_panel(run.observations(chosen), {c: polarity[c] for c in chosen})
    known, rows = interventions_of(run)
    rows = rows.sort("org_code", "start").with_columns(
        pl.col("start").shift(-1).over("org_code").alias("next_start")
    )
    ended = rows.filter(pl.col("end") >= 0).join(
        withdrawals.select("org_code", "end", "relapsed", "onset"), on=["org_code", "end"], how="inner"
    )
    months = len(run.periods)
    if full_follow_up:
        ended = ended.filter(pl.col("end") + opts.follow_up_months <= months - 1)
    todo = [known[i] for i in ended["n"].to_list()]
    next_start = {
        known[n].key: run.periods[int(ns)]
        for n, ns in zip(ended["n"].to_list(), ended["next_start"].to_list(), strict=True)
        if ns is not None and ns < months
    }
    results = follow_up(panel, todo, next_start=next_start, options=opts)
    expected = panel.rescore(run.truth(chosen), "true_value")
    index = panel.index_of()
    declines = []
    for iv, res in zip(todo, results, strict=True):
        assert iv.end is not None
        i, e = index[iv.org_code], panel.month_of(iv.end)
        achieved = float(np.nanmean(expected[i, e - opts.baseline_months + 1 : e + 1]))
        path = expected[i, e + 1 : e + 1 + res.months_followed]
        if path.size >= 6:
            rolling = np.convolve(path, np.ones(6) / 6, mode="valid")
            declines.append(achieved - float(rolling.min()))
        else:
            declines.append(float("nan"))
    types = dict(zip(run.codes, run.types, strict=True))
    table = (
        ended.select("org_code", "arm", "end", "relapsed", "onset")
        .with_columns(
            pl.col("org_code").replace_strict(types).alias("type"),
            pl.Series("months_followed", [r.months_followed for r in results]),
            pl.Series("alarm", [r.relapsed for r in results]),
            pl.Series(
                "alarm_at",
                [panel.month_of(r.alarm_month) if r.alarm_month else None for r in results],
                dtype=pl.Int64,
            ),
            pl.Series("signal", [r.signal for r in results], dtype=pl.String),
            pl.Series("decline", declines),
            pl.Series("monitored", [r.status != "not monitored" for r in results]),
        )
        .filter(pl.col("monitored"))
    )

    def group(label: str, frame: pl.DataFrame, delays: bool = False) -> RelapseGroup:
        alarmed = frame.filter(pl.col("alarm"))
        delay = None
        if delays and alarmed.height:
            late = alarmed.filter(pl.col("alarm_at") >= pl.col("onset"))
            if late.height:
                delay = float((late["alarm_at"] - late["onset"]).median())  # type: ignore[arg-type]
        return RelapseGroup(label, frame.height, alarmed.height, delay)

    relapsed = table.filter(pl.col("relapsed"))
    stable = table.filter(~pl.col("relapsed"))
    groups = [
        group("relapse (scenario)", relapsed, delays=True),
        group("no relapse (scenario)", stable),
        group(f"true decline >= {decline_threshold:g}", table.filter(pl.col("decline") >= decline_threshold)),
        group(
            f"true decline < {decline_threshold / 2:g}",
            table.filter(pl.col("decline") < decline_threshold / 2),
        ),
    ]
    for kind in ("hospital", "council", "school"):
        groups.append(group(f"relapse (scenario), {kind}s", relapsed.filter(pl.col("type") == kind), True))
        groups.append(group(f"no relapse (scenario), {kind}s", stable.filter(pl.col("type") == kind)))
    return RelapseReport(
        parameters={
            "n_organisations": parameters.n_organisations,
            "n_years": parameters.n_years,
            "seed": parameters.seed,
        },
        scenario={
            "probability": s.probability,
            "capacity_drop": s.capacity_drop,
            "onset_months": s.onset_months,
            "ramp_months": s.ramp_months,
        },
        follow_up_months=opts.follow_up_months,
        decline_threshold=decline_threshold,
        groups=groups,
        rows=table,
    )
