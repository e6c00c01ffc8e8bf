"""Every table a page shows, as CSV: built from the read model the page renders (so a download holds what the
page showed, for whoever may open the page, and nothing more), with the formula guard ``forewarn export`` uses
(text starting ``= + - @``, a tab or a carriage return gets a leading apostrophe: OWASP's CSV injection list).

A page's tables are named (``indicators``, ``events``...); the web app serves each at
``<page>/tables/<name>.csv`` (:mod:`forewarn.web.routes.downloads` lists them).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from forewarn.cases.outcomes import CaseOutcome
from forewarn.cases.reading import CaseFile, CaseSummary
from forewarn.charts.funnel_history import FunnelHistorySeries
from forewarn.store.queries import spreadsheet_safe
from forewarn.views.funnel_history import funnel_history_table
from forewarn.views.indicator import IndicatorOrganisationOut, IndicatorOut
from forewarn.views.organisation import IndicatorStateOut, OrganisationOut
from forewarn.views.portfolio import PortfolioOut
from forewarn.views.risk import WatchlistOut

Cell = str | int | float | bool | dt.date | dt.datetime | None


@dataclass(frozen=True)
class Table:
    """One table of a page: its name (the file's), columns and rows (one tuple a row, in column order)."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]

    def csv(self) -> str:
        """The table as CSV text, UTF-8, a header row, formula-leading text cells guarded.

        >>> Table("t", ("name", "value"), [("=1+1", -2.0), ("Alpha", None)]).csv().splitlines()
        ['name,value', "'=1+1,-2.0", 'Alpha,']
        """
        frame = pl.DataFrame(
            [tuple(_cell(v) for v in row) for row in self.rows],
            schema=list(self.columns),
            orient="row",
            infer_schema_length=None,
        )
        # A column with no value at all is Null-typed: written as empty cells, as text.
        frame = frame.with_columns(pl.col(pl.Null).cast(pl.String))
        out = io.StringIO()
        spreadsheet_safe(frame).write_csv(out)
        return out.getvalue()


def _cell(value: object) -> Cell:
    """A value as a CSV cell: datetimes in ISO form (with their zone), a list's items joined by "; ", anything
    else not a number, date or text as its text (an enum's value)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool | dt.date):
        return value
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(getattr(value, "value", value))


def portfolio_table(page: PortfolioOut) -> Table:
    """The portfolio's rows as the page lists them (anonymised peers under their pseudonyms)."""
    columns = (
        "organisation",
        "code",
        "type",
        "region",
        "dataset",
        "simulated",
        "anonymised_peer",
        "indicators_scanned",
        "spc_concern",
        "funnel_concern",
        "cusum_alarms",
        "spc_improvement",
        "funnel_other",
        "evidence",
        "min_funnel_q",
        "last_period",
        "soft_measures",
        "follow_up",
        "risk",
        "risk_lower",
        "risk_upper",
        "place_best",
        "place_worst",
    )
    rows: list[tuple[object, ...]] = [
        (
            o.label,
            o.code,
            o.type,
            o.region,
            o.dataset_name,
            o.simulated,
            o.anonymised,
            o.indicators_scanned,
            o.spc_concern,
            o.funnel_concern,
            o.cusum_alarms,
            o.spc_improvement,
            o.funnel_other,
            o.evidence,
            o.min_funnel_q,
            o.last_period,
            o.soft_status,
            None if o.follow_up is None else o.follow_up.text,
            *(
                (None,) * 5
                if o.risk is None
                else (o.risk.probability, o.risk.lower, o.risk.upper, o.risk.place_best, o.risk.place_worst)
            ),
        )
        for o in page.organisations
    ]
    return Table("organisations", columns, rows)


def organisation_tables(page: OrganisationOut) -> dict[str, Table]:
    """An organisation's tables: each indicator's state, its baseline resets, its soft measures (suppressed
    groups stay suppressed: no mean, no interval) and its events."""
    indicators = Table(
        "indicators",
        (
            "indicator",
            "code",
            "unit",
            "last_period",
            "last_value",
            "spc_variation",
            "spc_assurance",
            "spc_mean",
            "spc_lower_limit",
            "spc_upper_limit",
            "funnel_period",
            "funnel_z",
            "funnel_q",
            "funnel_outlier",
            "funnel_concern",
            "cusum_alarms",
            "cusum_last_alarm",
            "cusum_current",
            "trend_slope",
            "trend_p",
            "rank",
            "rank_lower",
            "rank_upper",
            "rank_of",
        ),
        [
            (
                i.name,
                i.code,
                i.unit,
                i.last_period,
                i.last_value,
                i.spc_variation,
                i.spc_assurance,
                i.spc_mean,
                i.spc_lpl,
                i.spc_upl,
                i.funnel_period,
                i.funnel_z,
                i.funnel_q,
                i.funnel_outlier,
                i.funnel_concern,
                i.cusum_alarms,
                i.cusum_last_alarm,
                i.cusum_current,
                i.trend_slope,
                i.trend_p,
                i.rank,
                i.rank_lower,
                i.rank_upper,
                i.rank_of,
            )
            for i in page.indicators
        ],
    )
    baselines = Table(
        "baselines",
        ("indicator", "code", "limits_recomputed_from", "reason", "by", "at"),
        [
            (i.name, i.code, b.rebase_from, b.reason, b.created_by, b.created_at)
            for i in page.indicators
            for b in i.baselines
        ],
    )
    soft = Table(
        "soft_measures",
        ("wave", "dimension", "respondents", "mean", "ci_lower", "ci_upper", "suppressed"),
        [
            (
                s.wave,
                d.name,
                str(d.n),
                None if d.suppressed else d.mean,
                None if d.suppressed else d.ci_lower,
                None if d.suppressed else d.ci_upper,
                d.suppressed,
            )
            for s in page.soft_measures
            for d in s.dimensions
        ],
    )
    events = Table(
        "events",
        ("date", "kind", "grade", "detail"),
        [(e.date, e.kind, e.grade, e.detail) for e in page.events],
    )
    return {t.name: t for t in (indicators, baselines, soft, events)}


def case_list_table(cases: Sequence[CaseSummary]) -> Table:
    return Table(
        "cases",
        ("case", "organisation", "code", "support", "status", "owner", "opened_at", "withdrawal"),
        [
            (
                c.id,
                c.organisation_name,
                c.organisation_code,
                c.support,
                c.status,
                c.owner,
                c.opened_at,
                c.withdrawal_date,
            )
            for c in cases
        ],
    )


def case_tables(case: CaseFile) -> dict[str, Table]:
    """A case's tables: evidence, exit criteria (evaluated now), milestones, interventions and notes."""
    evidence = Table(
        "evidence",
        ("kind", "what", "value", "as_of", "source", "pulled_at", "pulled_by"),
        [
            (e["kind"], e["label"], e["value"], e["as_of"], e["source"], e["pulled_at"], e["pulled_by"])
            for e in case.evidence
        ],
    )
    criteria = Table(
        "exit_criteria",
        ("indicator", "code", "condition", "value", "from_period", "to_period", "met"),
        [
            (x.indicator_name, x.indicator_code, x.text, x.value, x.first_period, x.last_period, x.met)
            for x in case.exit_criteria
        ],
    )
    milestones = Table(
        "milestones",
        ("milestone", "due", "done_on"),
        [(m["title"], m["due"], m["done_on"]) for m in case.milestones],
    )
    interventions = Table(
        "interventions",
        ("support", "start", "end", "indicators", "rebased"),
        [
            (i["support"], i["start_date"], i["end_date"], i["indicators"], i["rebased"])
            for i in case.interventions
        ],
    )
    notes = Table(
        "notes",
        ("at", "author", "kind", "note"),
        [(n["at"], n["author"], n["kind"], n["body"]) for n in case.notes],
    )
    return {t.name: t for t in (evidence, criteria, milestones, interventions, notes)}


def indicator_page_tables(page: IndicatorOut) -> dict[str, Table]:
    """One indicator across the organisations the viewer may see (anonymised peers under their pseudonyms): the
    outliers after false-discovery control, and every organisation with what the funnel compared, z, q and rank."""
    columns = (
        "organisation",
        "code",
        "own",
        "compared_value",
        "compared_denominator",
        "latest_value",
        "latest_period",
        "funnel_z",
        "funnel_q",
        "funnel_outlier",
        "funnel_concern",
        "rank",
        "rank_lower",
        "rank_upper",
        "rank_of",
    )

    def row(o: IndicatorOrganisationOut) -> tuple[object, ...]:
        return (
            *(
                o.label,
                o.code,
                o.own,
                o.compared_value,
                o.compared_denominator,
                o.latest_value,
                o.latest_period,
            ),
            *(o.funnel_z, o.funnel_q, o.funnel_outlier, o.funnel_concern, o.rank, o.rank_lower, o.rank_upper),
            o.rank_of,
        )

    outliers = Table("outliers", columns, [row(o) for o in page.outliers])
    organisations = Table("organisations", columns, [row(o) for o in page.organisations])
    return {t.name: t for t in (outliers, organisations)}


def outcome_tables(outcome: CaseOutcome) -> dict[str, Table]:
    """A case's "did it work, does it last" for the regulator, as its page shows them: each intervention's
    effect against its comparison group (``effects``) and the follow-up after each withdrawal (``follow_up``)."""
    effects = Table(
        "effects",
        (
            "started",
            "support",
            "before",
            "after",
            "before_after",
            "comparison_change",
            "comparison_organisations",
            "difference_in_differences",
            "ci_low_95",
            "ci_high_95",
            "not_estimated",
        ),
        [
            (
                *(e.start, e.arm, e.before, e.after, e.naive, e.comparison_change, e.n_comparison),
                *(e.did, e.ci_low, e.ci_high, e.reason),
            )
            if e.reason is None
            else (e.start, e.arm, None, None, None, None, None, None, None, None, e.reason)
            for e in outcome.effects
        ],
    )
    follow_up = Table(
        "follow_up",
        ("withdrawal", "status", "months_followed", "alarm_month", "signal", "not_monitored"),
        [
            (f.withdrawal, f.status, f.months_followed, f.alarm_month, f.signal, f.reason)
            for f in outcome.follow_ups
        ],
    )
    return {t.name: t for t in (effects, follow_up)}


def indicator_tables(
    indicator: IndicatorStateOut, funnel_history: FunnelHistorySeries | None = None
) -> dict[str, Table]:
    """One indicator of one organisation: every point of its XmR chart, the rules that fired and, given, its
    funnel history (z and position at each period it was in the funnel)."""
    spc = indicator.spc
    points = Table(
        "points",
        ("period", "value", "mean", "lower_limit", "upper_limit", "point_type", "rule"),
        [
            (p, spc.value[t], spc.mean[t], spc.lpl[t], spc.upl[t], spc.point_type[t], spc.rule[t])
            for t, p in enumerate(spc.period)
        ],
    )
    signals = Table(
        "signals",
        ("period", "method", "rule", "direction", "value"),
        [(x.period, x.method, x.rule, x.direction, x.value) for x in indicator.signals],
    )
    tables = [points, signals]
    if funnel_history is not None:
        history = funnel_history_table(funnel_history)
        tables.append(Table("funnel_history", tuple(history.columns), history.rows()))
    return {t.name: t for t in tables}


def watchlist_table(view: WatchlistOut) -> Table:
    """The risk watchlist's rows as the viewer sees them (places only for the whole list)."""
    return Table(
        "watchlist",
        (
            "organisation",
            "code",
            "probability",
            "lower_90",
            "upper_90",
            "place_best",
            "place_worst",
            "reasons",
            "follow_up",
        ),
        [
            (
                r.label,
                r.code,
                r.probability,
                r.lower,
                r.upper,
                r.place_best,
                r.place_worst,
                r.reasons,
                None if r.follow_up is None else r.follow_up.text,
            )
            for r in view.organisations
        ],
    )
