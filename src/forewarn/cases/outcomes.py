"""Did it work, does it last: a case's interventions measured on the store against a comparison group
(:mod:`forewarn.cases.effects`) and followed after withdrawal (:mod:`forewarn.cases.followup`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, select

from forewarn.cases.effects import (
    EffectOptions,
    Intervention,
    InterventionEffect,
    ScorePanel,
    estimate_effects,
    score_panel,
)
from forewarn.cases.followup import FollowUp, FollowUpOptions, follow_up
from forewarn.cases.reading import get_case, list_cases
from forewarn.store.models import Event, Indicator, Observation, Organisation


@dataclass(frozen=True)
class CaseOutcome:
    effects: list[InterventionEffect]
    follow_ups: list[FollowUp]
    indicators: list[str]


def store_interventions(conn: Connection) -> list[Intervention]:
    """Every intervention in the store's events, each start paired with the organisation's next end."""
    frame = pl.DataFrame(
        conn.execute(
            select(Organisation.code, Event.date, Event.kind, Event.detail)
            .join(Organisation, Organisation.id == Event.organisation_id)
            .where(Event.kind.in_(["intervention_start", "intervention_end"]))
            .order_by(Organisation.code, Event.date)
        ).all(),
        schema={"org_code": pl.String, "date": pl.Date, "kind": pl.String, "detail": pl.String},
        orient="row",
    )
    out: list[Intervention] = []
    for (code,), rows in frame.group_by(["org_code"], maintain_order=True):
        pending: tuple[dt.date, str] | None = None
        for r in rows.iter_rows(named=True):
            if r["kind"] == "intervention_start":
                if pending is not None:
                    out.append(Intervention(f"{code}:{pending[0]}", str(code), pending[1], pending[0], None))
                pending = (r["date"], (r["detail"] or "intervention").split(" ")[0])
            elif pending is not None:
                out.append(Intervention(f"{code}:{pending[0]}", str(code), pending[1], pending[0], r["date"]))
                pending = None
        if pending is not None:
            out.append(Intervention(f"{code}:{pending[0]}", str(code), pending[1], pending[0], None))
    return out


def _score_panel(conn: Connection, codes: list[str]) -> ScorePanel | None:
    """The score of ``codes`` over every organisation's monthly values in the store (None without values)."""
    polarity = {
        code: str(p.value if hasattr(p, "value") else p)
        for code, p in conn.execute(
            select(Indicator.code, Indicator.polarity).where(Indicator.code.in_(codes))
        )
    }
    observations = pl.DataFrame(
        conn.execute(
            select(Organisation.code, Observation.period_start, Indicator.code, Observation.value)
            .join(Organisation, Organisation.id == Observation.organisation_id)
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .where(Indicator.code.in_(codes), Observation.value.is_not(None))
        ).all(),
        schema={"org_code": pl.String, "period": pl.Date, "indicator": pl.String, "value": pl.Float64},
        orient="row",
    )
    return None if observations.is_empty() else score_panel(observations, polarity)


def case_outcome(
    conn: Connection,
    case_id: int,
    *,
    options: EffectOptions | None = None,
    follow_up_options: FollowUpOptions | None = None,
    with_effects: bool = True,
    panels: dict[tuple[str, ...], ScorePanel | None] | None = None,
) -> CaseOutcome:
    """The case's interventions: naive change and comparison-group DiD, and the follow-up after withdrawal, on
    the score of their targeted indicators over every organisation's monthly values in the store.
    ``with_effects`` False: the follow-up only (the effects' matching is most of the cost). ``panels`` keeps the
    score panels by indicator set across calls (reading every organisation's values is most of the rest)."""
    case = get_case(conn, case_id)
    codes = sorted({str(c) for i in case.interventions for c in (i["indicators"] or [])})  # type: ignore[attr-defined]
    if not codes:
        return CaseOutcome([], [], [])
    key = tuple(codes)
    if panels is None or key not in panels:
        found = _score_panel(conn, codes)
        if panels is not None:
            panels[key] = found
    else:
        found = panels[key]
    if found is None:
        return CaseOutcome([], [], codes)
    panel = found
    ours = [
        Intervention(
            f"{case.organisation_code}:{i['start_date']}",
            case.organisation_code,
            str(i["support"]),
            i["start_date"],  # type: ignore[arg-type]
            i["end_date"],  # type: ignore[arg-type]
        )
        for i in case.interventions
    ]
    effects: list[InterventionEffect] = []
    if with_effects:
        types = dict(conn.execute(select(Organisation.code, Organisation.type)).all())
        known = store_interventions(conn)
        effects = estimate_effects(
            panel, ours, all_interventions=known, types=types, options=options
        ).per_intervention
    fu_options = follow_up_options or FollowUpOptions(follow_up_months=case.follow_up_months)
    follow_ups = follow_up(panel, [i for i in ours if i.end is not None], options=fu_options)
    return CaseOutcome(effects, follow_ups, codes)


@dataclass(frozen=True)
class WatchItem:
    """One withdrawn intervention under follow-up, with its relapse status (``FollowUp.status``)."""

    case_id: int
    organisation_id: int
    organisation_code: str
    organisation_name: str
    withdrawal: dt.date
    status: str
    months_followed: int
    alarm_month: dt.date | None
    signal: str | None
    reason: str | None


def follow_up_watch(conn: Connection, *, relapses_only: bool = False) -> list[WatchItem]:
    """Every case intervention withdrawn, monitored against the level it achieved: relapses first."""
    items: list[WatchItem] = []
    panels: dict[tuple[str, ...], ScorePanel | None] = {}  # cases on the same indicators share one
    for summary in list_cases(conn):
        if summary.withdrawal_date is None:
            continue
        outcome = case_outcome(conn, summary.id, with_effects=False, panels=panels)
        for f in outcome.follow_ups:
            items.append(
                WatchItem(
                    case_id=summary.id,
                    organisation_id=summary.organisation_id,
                    organisation_code=summary.organisation_code,
                    organisation_name=summary.organisation_name,
                    withdrawal=f.withdrawal,
                    status=f.status,
                    months_followed=f.months_followed,
                    alarm_month=f.alarm_month,
                    signal=f.signal,
                    reason=f.reason,
                )
            )
    if relapses_only:
        items = [i for i in items if i.status == "relapse"]
    return sorted(items, key=lambda i: (i.status != "relapse", i.withdrawal, i.case_id))
