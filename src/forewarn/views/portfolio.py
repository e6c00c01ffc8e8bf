"""The portfolio: every organisation an account may see, with its current signals, ordered by calibrated risk
when a risk model has scored them (issue 11: "the portfolio becomes a watchlist"), else by evidence.

When risk scores are stored (``forewarn risk score``), staff see the organisations of the latest scoring (its
latest date; the lowest model version if two models scored it, as ``/risk``) first, riskiest first, each with its
probability, 90% interval and the places it could hold among everyone scored: organisations whose intervals
overlap, or whose probabilities are equal as shown, are tied (:func:`forewarn.views.risk.tied_places`), so there
is no league table. Organisations the scoring left out (already failing, for a model of new failures; no data at
the date) follow in evidence order. A member sees their own organisation's risk and no one else's; their
portfolio (their organisation and their peers) stays in evidence order, since an order by risk would tell the
peers' risk.

A row counts (indicator, method) pairs signalling concern in the latest scan of each series: an SPC special cause
of concern, a funnel outlier on the side of concern after FDR control, a current CUSUM alarm (within the
indicator's latest quarter: alarms age out). That count orders the portfolio; it is a count of reasons to look,
not a score of performance. Equal counts are ordered by the smallest funnel q-value, then by the largest funnel
z-score on the side of concern, so organisations with no signal are still in a meaningful order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from forewarn.access.policy import Visibility
from forewarn.domain import Polarity, is_concern_sql
from forewarn.risk.outcomes import Outcome
from forewarn.store.models import Dataset, Indicator, Organisation
from forewarn.store.models_risk import RiskModel, RiskScore
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.views.follow_up_flag import FollowUpFlagOut
from forewarn.views.model import Model
from forewarn.views.risk import tied_places
from forewarn.views.rows import AnyRow
from forewarn.views.scan import ScanOut, latest_scan

CONCERN_VARIATION = "special_cause_concern"
IMPROVEMENT_VARIATION = "special_cause_improvement"
PAGE_SIZE = 50
ORDER = (
    "Ordered by strength of evidence: the number of indicator signals of concern (SPC special causes, funnel "
    "outliers after false-discovery-rate control, CUSUM alarms), then the smallest funnel q-value. This is "
    "an order of reasons to look more closely, not a ranking of performance."
)
NO_SCORES = (
    " No risk scores are stored yet (forewarn risk score), so the portfolio is in this order rather than by "
    "calibrated risk."
)
MEMBER_ORDER = (
    " Your organisation's risk of failure is on its row; other organisations' risk scores are not shown to "
    "members, so the list stays in this order."
)


class PortfolioRiskOut(Model):
    probability: float = Field(description="Calibrated probability of the outcome within the horizon")
    lower: float = Field(description="Lower end of the 90% interval")
    upper: float = Field(description="Upper end of the 90% interval")
    place_best: int | None = Field(
        description="Best place it could hold among everyone scored (None for a member)"
    )
    place_worst: int | None = Field(description="Worst place it could hold (None for a member)")
    tied: bool = Field(description="Its interval overlaps another's, or its probability is equal as shown")


class PortfolioScoringOut(Model):
    as_of: dt.date
    outcome: str
    horizon_months: int
    model_version: str
    scored: int | None = Field(
        description="Organisations the scoring covered (the places are among them); None for a member"
    )


def risk_order(scoring: PortfolioScoringOut) -> str:
    return (
        f"Ordered by calibrated risk: the latest risk model's probability of {scoring.outcome} within "
        f"{scoring.horizon_months} months, as of {scoring.as_of.day} {scoring.as_of:%B %Y}, with its 90% interval. Organisations "
        "whose intervals overlap, or whose probabilities are equal as shown, are tied: each row gives the range of "
        f"places it could hold among the {scoring.scored or 0:,} scored, not a rank. Organisations not scored (already "
        "failing, or without data at that date) follow, by strength of evidence (the number of signals of "
        "concern)."
    )


class DatasetOption(Model):
    code: str
    name: str
    simulated: bool


class OrganisationSignalsOut(Model):
    organisation_id: int | None = Field(description="None for an anonymised peer")
    label: str = Field(description="The name, or a pseudonym such as 'Peer 3' for an anonymised peer")
    code: str | None
    type: str | None
    region: str | None
    dataset: str | None
    dataset_name: str | None
    simulated: bool
    anonymised: bool
    own: bool
    indicators_scanned: int
    spc_concern: int = Field(description="Indicators whose latest point is a special cause of concern")
    spc_improvement: int
    funnel_concern: int = Field(description="Funnel outliers on the side of concern, after FDR control")
    funnel_other: int
    cusum_alarms: int = Field(
        description="Indicators with a current CUSUM alarm (within the indicator's latest quarter)"
    )
    evidence: int = Field(
        description="spc_concern + funnel_concern + cusum_alarms: the order of the portfolio"
    )
    min_funnel_q: float | None
    last_period: dt.date | None
    soft_status: str | None = None
    risk: PortfolioRiskOut | None = Field(
        default=None, description="The latest stored risk score (None when not scored, or not yours to see)"
    )
    follow_up: FollowUpFlagOut | None = Field(
        default=None, description="Improvement decaying after a case's intervention was withdrawn (issue 14)"
    )
    url: str | None


class PortfolioFilters(Model):
    type: str | None = None
    region: str | None = None
    dataset: str | None = None
    concern_only: bool = False


class PortfolioOut(Model):
    organisations: list[OrganisationSignalsOut]
    total: int
    page: int
    pages: int
    page_size: int
    filters: PortfolioFilters
    filters_available: bool
    types: list[str]
    regions: list[str]
    datasets: list[DatasetOption]
    order: str
    ordered_by: str = Field(description="risk (calibrated risk, ties shown) or evidence (the signal count)")
    scoring: PortfolioScoringOut | None = Field(description="The risk scoring the rows show, if any")
    scan: ScanOut | None


@dataclass(frozen=True)
class Portfolio:
    """One page of the portfolio, and the internal ids of its rows in order (anonymised peers' ids are not in
    the page itself; the server needs them to add each row's soft-measure status)."""

    page: PortfolioOut
    ids: list[int]


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _signal_rows(conn: Connection, restricted: list[int] | None) -> Sequence[AnyRow]:
    """Each organisation's signals summed over its indicators, labelled by the fields they fill."""
    # The table's columns, typed loosely: domain's rule takes any integer side and text polarity.
    concern = is_concern_sql(SeriesStatus.__table__.c.funnel_outlier, Indicator.__table__.c.polarity)
    status = (
        select(
            SeriesStatus.organisation_id.label("organisation_id"),
            func.count().label("indicators"),
            _count_when(SeriesStatus.spc_variation == CONCERN_VARIATION).label("spc_concern"),
            _count_when(SeriesStatus.spc_variation == IMPROVEMENT_VARIATION).label("spc_improvement"),
            _count_when(concern).label("funnel_concern"),
            _count_when(and_(SeriesStatus.funnel_outlier != 0, ~concern)).label("funnel_other"),
            _count_when(SeriesStatus.cusum_current == 1).label("cusum_alarms"),
            func.min(case((concern, SeriesStatus.funnel_q))).label("min_q"),
            func.max(SeriesStatus.last_period).label("last_period"),
            # The funnel z-score on the side of concern (none for a neutral indicator).
            func.max(
                case(
                    (Indicator.polarity == Polarity.HIGHER_IS_BETTER, -SeriesStatus.funnel_z),
                    (Indicator.polarity == Polarity.LOWER_IS_BETTER, SeriesStatus.funnel_z),
                )
            ).label("worst_z"),
        )
        .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
        .group_by(SeriesStatus.organisation_id)
    )
    organisations = select(
        Organisation.id.label("organisation_id"),
        Organisation.name.label("label"),
        Organisation.code,
        Organisation.type,
        Organisation.region,
        Dataset.code.label("dataset"),
        Dataset.name.label("dataset_name"),
        func.coalesce(Dataset.simulated, False).label("simulated"),
    )
    if restricted is not None:
        status = status.where(SeriesStatus.organisation_id.in_(restricted))
        organisations = organisations.where(Organisation.id.in_(restricted))
    counts = status.subquery()
    return conn.execute(
        organisations.add_columns(
            func.coalesce(counts.c.indicators, 0).label("indicators_scanned"),
            func.coalesce(counts.c.spc_concern, 0).label("spc_concern"),
            func.coalesce(counts.c.spc_improvement, 0).label("spc_improvement"),
            func.coalesce(counts.c.funnel_concern, 0).label("funnel_concern"),
            func.coalesce(counts.c.funnel_other, 0).label("funnel_other"),
            func.coalesce(counts.c.cusum_alarms, 0).label("cusum_alarms"),
            counts.c.min_q.label("min_funnel_q"),
            counts.c.last_period,
            counts.c.worst_z,
        )
        .outerjoin(Dataset, Dataset.id == Organisation.dataset_id)
        .outerjoin(counts, counts.c.organisation_id == Organisation.id)
    ).all()


@dataclass(frozen=True)
class Scoring:
    """The latest stored scoring: what it is, and each scored organisation's risk with its places."""

    out: PortfolioScoringOut
    by_id: dict[int, PortfolioRiskOut]


def latest_scoring(conn: Connection, restricted: list[int] | None = None) -> Scoring | None:
    """The latest date's scoring by the lowest model version that scored it (as ``/risk`` shows), read
    set-based in three statements; places among everyone it scored (none when ``restricted``: a member's)."""
    latest = conn.execute(select(func.max(RiskScore.as_of))).scalar()
    if latest is None:
        return None
    model = conn.execute(
        select(RiskModel.id, RiskModel.version, RiskModel.outcome, RiskModel.horizon_months)
        .where(RiskModel.id.in_(select(RiskScore.model_id).where(RiskScore.as_of == latest)))
        .order_by(RiskModel.version)
        .limit(1)
    ).one()
    query = select(RiskScore.organisation_id, RiskScore.probability, RiskScore.lower, RiskScore.upper).where(
        RiskScore.model_id == model.id, RiskScore.as_of == latest
    )
    if restricted is not None:
        query = query.where(RiskScore.organisation_id.in_(restricted))
    rows = conn.execute(query).all()
    out = PortfolioScoringOut(
        as_of=latest,
        outcome=Outcome.parse(model.outcome).label(),
        horizon_months=model.horizon_months,
        model_version=model.version,
        scored=len(rows),
    )
    if restricted is not None:
        cells = {
            int(r.organisation_id): PortfolioRiskOut(
                probability=r.probability,
                lower=r.lower,
                upper=r.upper,
                place_best=None,
                place_worst=None,
                tied=False,
            )
            for r in rows
        }
        return Scoring(out, cells)
    probability = np.fromiter((r.probability for r in rows), np.float64, len(rows))
    lower = np.fromiter((r.lower for r in rows), np.float64, len(rows))
    upper = np.fromiter((r.upper for r in rows), np.float64, len(rows))
    best, worst = tied_places(probability, lower, upper)
    by_id = {
        int(r.organisation_id): PortfolioRiskOut(
            probability=r.probability,
            lower=r.lower,
            upper=r.upper,
            place_best=int(b),
            place_worst=int(w),
            tied=bool(w > b),
        )
        for r, b, w in zip(rows, best, worst, strict=True)
    }
    return Scoring(out, by_id)


@dataclass(frozen=True)
class Shown:
    """An organisation's row as an account sees it: under its name, or under a pseudonym."""

    row: AnyRow
    pseudonym: str | None = None
    own: bool = False
    risk: PortfolioRiskOut | None = None

    @property
    def evidence(self) -> int:
        return int(self.row.spc_concern) + int(self.row.funnel_concern) + int(self.row.cusum_alarms)

    @property
    def label(self) -> str:
        return self.pseudonym if self.pseudonym is not None else str(self.row.label)

    def named(self, field: str) -> Any:
        """A field that identifies the organisation: None for an anonymised peer."""
        return None if self.pseudonym is not None else getattr(self.row, field)

    def order(self) -> tuple[int, float, int, float, str]:
        q = self.row.min_funnel_q
        worst = self.row.worst_z
        return (
            -self.evidence,
            float(q) if q is not None else 2.0,
            -int(self.row.spc_concern),
            -float(worst) if worst is not None else math.inf,
            self.label.casefold(),
        )

    def risk_order(self) -> tuple[int, float, tuple[int, float, int, float, str]]:
        """Scored first, riskiest first; then the rest in evidence order."""
        if self.risk is None:
            return (1, 0.0, self.order())
        return (0, -self.risk.probability, self.order())

    def out(self) -> OrganisationSignalsOut:
        r = self.row
        anonymised = self.pseudonym is not None
        return OrganisationSignalsOut(
            organisation_id=None if anonymised else r.organisation_id,
            label=self.label,
            code=self.named("code"),
            type=self.named("type"),
            region=self.named("region"),
            dataset=self.named("dataset"),
            dataset_name=self.named("dataset_name"),
            simulated=r.simulated,
            anonymised=anonymised,
            own=self.own,
            indicators_scanned=r.indicators_scanned,
            spc_concern=r.spc_concern,
            spc_improvement=r.spc_improvement,
            funnel_concern=r.funnel_concern,
            funnel_other=r.funnel_other,
            cusum_alarms=r.cusum_alarms,
            evidence=self.evidence,
            min_funnel_q=r.min_funnel_q,
            last_period=r.last_period,
            risk=self.risk,
            url=None if anonymised else f"/organisations/{r.organisation_id}",
        )


@dataclass(frozen=True)
class Ranking:
    """Organisations an account sees, in evidence order, indexed for the portfolio's filters: the rows of each
    named type, region and dataset, those with evidence of concern, and the choices the filters offer."""

    rows: list[Shown]
    by_id: dict[int, Shown]  # organisation id: its row
    by_filter: dict[tuple[str, str], list[Shown]]  # ("type" | "region" | "dataset", value): rows, in order
    concern: list[Shown]
    types: list[str]
    regions: list[str]
    datasets: list[tuple[str, str, bool]]
    scoring: PortfolioScoringOut | None = None  # set when the rows are in order of calibrated risk

    @classmethod
    def of(cls, shown: list[Shown], scoring: PortfolioScoringOut | None = None) -> Ranking:
        rows = sorted(shown, key=Shown.risk_order if scoring is not None else Shown.order)
        named = [r.row for r in rows if r.pseudonym is None]
        by_filter: dict[tuple[str, str], list[Shown]] = {}
        for r in rows:
            for key in ("type", "region", "dataset"):
                if value := r.named(key):
                    by_filter.setdefault((key, value), []).append(r)
        return cls(
            rows=rows,
            by_id={int(r.row.organisation_id): r for r in rows},
            by_filter=by_filter,
            concern=[r for r in rows if r.evidence > 0],
            types=sorted({r.type for r in named if r.type}),
            regions=sorted({r.region for r in named if r.region}),
            datasets=sorted(
                {
                    (str(r.dataset), str(r.dataset_name or r.dataset), bool(r.simulated))
                    for r in named
                    if r.dataset
                }
            ),
            scoring=scoring,
        )

    def chosen(self, filters: PortfolioFilters) -> list[Shown]:
        """The rows ``filters`` choose, in order."""
        lists: list[list[Shown]] = []
        for key, value in (("type", filters.type), ("region", filters.region), ("dataset", filters.dataset)):
            if value is not None:
                lists.append(self.by_filter.get((key, value), []))
        if filters.concern_only:
            lists.append(self.concern)
        if not lists:
            return self.rows
        if len(lists) == 1:  # already in order
            return lists[0]
        # Walk the shortest list; a row is chosen when every other list holds it too.
        shortest = min(lists, key=len)
        others = [{id(r) for r in rows} for rows in lists if rows is not shortest]
        return [r for r in shortest if all(id(r) in other for other in others)]


def ranked_organisations(conn: Connection) -> Ranking:
    """Every organisation by name, in order of calibrated risk when scores are stored (else of evidence): what
    staff see, the same for all of them."""
    scoring = latest_scoring(conn)
    risk = scoring.by_id if scoring is not None else {}
    shown = [Shown(r, risk=risk.get(int(r.organisation_id))) for r in _signal_rows(conn, None)]
    return Ranking.of(shown, scoring.out if scoring is not None else None)


def _own_risk(risk: PortfolioRiskOut | None) -> PortfolioRiskOut | None:
    """A member's own risk, without the places (they would tell where everyone else stands)."""
    if risk is None:
        return None
    return risk.model_copy(update={"place_best": None, "place_worst": None, "tied": False})


def _ranked_for(
    visibility: Visibility, row_of: Callable[[int], Any], own_risk: PortfolioRiskOut | None = None
) -> Ranking:
    """An account's own organisation and peers (under their pseudonyms), in evidence order; ``row_of`` gives an
    organisation's signal row (None when it has none). Only their own organisation carries its risk."""
    shown: list[Shown] = []
    if visibility.own is not None and (own := row_of(visibility.own)) is not None:
        shown.append(Shown(own, own=True, risk=_own_risk(own_risk)))
    for peer_id, pseudonym in visibility.peers.items():
        if (peer := row_of(peer_id)) is not None:
            shown.append(Shown(peer, pseudonym=pseudonym))
    return Ranking.of(shown)


def portfolio(
    conn: Connection,
    visibility: Visibility,
    filters: PortfolioFilters,
    *,
    may_filter: bool,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    ranked: Callable[[Connection], Ranking] | None = None,
    scan: Callable[[Connection], ScanOut | None] = latest_scan,
) -> Portfolio:
    """The organisations ``visibility`` allows, ordered by strength of evidence, one page at a time.

    Filters by type, region or dataset apply only when ``may_filter`` (and only to organisations seen by name:
    filtering anonymised peers would reveal their type or region); the concern filter applies always.
    ``ranked`` gives every organisation in order (the caller may keep it: it does not depend on who asks); an
    account that sees a few is then served from it too. Without it, a few are read from the store. ``scan``
    reads the latest scan (the caller may keep it too).
    """
    chosen = filters if may_filter else PortfolioFilters(concern_only=filters.concern_only)
    scoring: PortfolioScoringOut | None
    if visibility.all_organisations:
        ranking = (ranked or ranked_organisations)(conn)
        scoring = ranking.scoring
        order = risk_order(scoring) if scoring is not None else ORDER + NO_SCORES
    elif ranked is not None:
        whole = ranked(conn)
        everyone = whole.by_id
        own = everyone.get(visibility.own) if visibility.own is not None else None
        ranking = _ranked_for(
            visibility,
            lambda i: r.row if (r := everyone.get(i)) is not None else None,
            own.risk if own is not None else None,
        )
        scoring = whole.scoring
        order = ORDER + (MEMBER_ORDER if scoring is not None else NO_SCORES)
    else:
        restricted = {int(r.organisation_id): r for r in _signal_rows(conn, visibility.restricted_to())}
        own_only = latest_scoring(conn, [visibility.own]) if visibility.own is not None else None
        own_risk = own_only.by_id.get(visibility.own) if own_only and visibility.own is not None else None
        ranking = _ranked_for(visibility, restricted.get, own_risk)
        scoring = own_only.out if own_only is not None else None
        order = ORDER + (MEMBER_ORDER if scoring is not None else NO_SCORES)
    if scoring is not None and not visibility.all_organisations:
        scoring = scoring.model_copy(
            update={"scored": None}
        )  # how many were scored is not a member's to know
    selected = ranking.chosen(chosen)
    total = len(selected)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    shown = selected[start : start + page_size]
    return Portfolio(
        page=PortfolioOut(
            organisations=[r.out() for r in shown],
            total=total,
            page=page,
            pages=pages,
            page_size=page_size,
            filters=chosen,
            filters_available=may_filter,
            types=ranking.types if may_filter else [],
            regions=ranking.regions if may_filter else [],
            datasets=[DatasetOption(code=c, name=n, simulated=s) for c, n, s in ranking.datasets]
            if may_filter
            else [],
            order=order,
            ordered_by="risk" if visibility.all_organisations and scoring is not None else "evidence",
            scoring=scoring,
            scan=scan(conn),
        ),
        ids=[int(r.row.organisation_id) for r in shown],
    )
