"""What a signed-in account may read: the portfolio, an organisation, an indicator.

Every read takes the account's :class:`~forewarn.access.policy.Visibility`, so an organisation the account
may not see never leaves the database layer, and anonymised peers leave it under their pseudonym only.

The pages and the JSON API both read through here, so they always show the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)

from forewarn.access.policy import Visibility
from forewarn.domain import Polarity
from forewarn.store.models import (
    Dataset,
    Event,
    ImportBatch,
    Indicator,
    Observation,
    Organisation,
    OrganisationAttribute,
)
from forewarn.store.models_surveillance import ScanRun, SeriesStatus, Signal, SpcBaseline

CONCERN_VARIATION = "special_cause_concern"
IMPROVEMENT_VARIATION = "special_cause_improvement"


# ------------------------------------------------------------------------------------------------------------
# Portfolio
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationSignals:
    """One organisation's current signals, summed over its indicators (the latest scan of each series).

    ``evidence`` counts (indicator, method) pairs signalling concern: an SPC special cause of concern, a
    funnel outlier on the side of concern after FDR control, a current CUSUM alarm (within the indicator's
    latest quarter: alarms age out). It orders the portfolio; it is a count of reasons to look, not a score of
    performance. Equal counts are ordered by ``worst_funnel_z``, the largest funnel z-score (over-dispersion
    allowed) on the side of concern, so organisations with no signal are still in a meaningful order.
    """

    organisation_id: int
    label: str
    code: str | None
    type: str | None
    region: str | None
    dataset_code: str | None
    dataset_name: str | None
    simulated: bool
    anonymised: bool
    own: bool
    indicators: int
    spc_concern: int
    spc_improvement: int
    funnel_concern: int
    funnel_other: int
    cusum_alarms: int
    min_funnel_q: float | None
    last_period: dt.date | None
    worst_funnel_z: float | None = None

    @property
    def evidence(self) -> int:
        return self.spc_concern + self.funnel_concern + self.cusum_alarms

    @property
    def scanned(self) -> bool:
        return self.indicators > 0


def _funnel_concern_condition() -> ColumnElement[bool]:
    return or_(
        and_(SeriesStatus.funnel_outlier == -1, Indicator.polarity == Polarity.HIGHER_IS_BETTER),
        and_(SeriesStatus.funnel_outlier == 1, Indicator.polarity == Polarity.LOWER_IS_BETTER),
    )


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _all_organisation_signals(conn: Connection) -> list[OrganisationSignals]:
    concern = _funnel_concern_condition()
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
            func.max(
                case(
                    (Indicator.polarity == Polarity.HIGHER_IS_BETTER, -SeriesStatus.funnel_z),
                    (Indicator.polarity == Polarity.LOWER_IS_BETTER, SeriesStatus.funnel_z),
                )
            ).label("worst_z"),
        )
        .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
        .group_by(SeriesStatus.organisation_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            Organisation.id,
            Organisation.name,
            Organisation.code,
            Organisation.type,
            Organisation.region,
            Dataset.code,
            Dataset.name,
            func.coalesce(Dataset.simulated, False),
            func.coalesce(status.c.indicators, 0),
            func.coalesce(status.c.spc_concern, 0),
            func.coalesce(status.c.spc_improvement, 0),
            func.coalesce(status.c.funnel_concern, 0),
            func.coalesce(status.c.funnel_other, 0),
            func.coalesce(status.c.cusum_alarms, 0),
            status.c.min_q,
            status.c.last_period,
            status.c.worst_z,
        )
        .outerjoin(Dataset, Dataset.id == Organisation.dataset_id)
        .outerjoin(status, status.c.organisation_id == Organisation.id)
    ).all()
    return [
        OrganisationSignals(
            organisation_id=int(r[0]),
            label=r[1],
            code=r[2],
            type=r[3],
            region=r[4],
            dataset_code=r[5],
            dataset_name=r[6],
            simulated=bool(r[7]),
            anonymised=False,
            own=False,
            indicators=int(r[8]),
            spc_concern=int(r[9]),
            spc_improvement=int(r[10]),
            funnel_concern=int(r[11]),
            funnel_other=int(r[12]),
            cusum_alarms=int(r[13]),
            min_funnel_q=None if r[14] is None else float(r[14]),
            last_period=r[15],
            worst_funnel_z=None if r[16] is None else float(r[16]),
        )
        for r in rows
    ]


_DATA_VERSION = select(
    select(func.coalesce(func.max(ScanRun.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(ImportBatch.id), 0)).scalar_subquery(),
    select(func.count()).select_from(Organisation).scalar_subquery(),
    select(func.coalesce(func.max(SpcBaseline.id), 0)).scalar_subquery(),
    select(func.count()).select_from(SpcBaseline).scalar_subquery(),
)

DataVersion = tuple[int, int, int, int, int]


def data_version(conn: Connection) -> DataVersion:
    """Changes whenever a scan or an import finishes, organisations are added or a baseline is reset or
    removed: the key of every cache of derived pages."""
    scan, batch, organisations, baseline, baselines = conn.execute(_DATA_VERSION).one()
    return int(scan), int(batch), int(organisations), int(baseline), int(baselines)


@dataclass(frozen=True)
class PortfolioIndex:
    """Every organisation's signals in evidence order, indexed for the portfolio's filters."""

    rows: list[OrganisationSignals]
    by_id: dict[int, OrganisationSignals]
    by_filter: dict[tuple[str, str], list[OrganisationSignals]]  # ("type" | "region" | "dataset", value)
    concern: list[OrganisationSignals]
    types: list[str]
    regions: list[str]
    datasets: list[tuple[str, str, bool]]

    @classmethod
    def build(cls, rows: list[OrganisationSignals]) -> PortfolioIndex:
        by_filter: dict[tuple[str, str], list[OrganisationSignals]] = {}
        for row in rows:
            for key, value in (("type", row.type), ("region", row.region), ("dataset", row.dataset_code)):
                if value:
                    by_filter.setdefault((key, value), []).append(row)
        return cls(
            rows=rows,
            by_id={r.organisation_id: r for r in rows},
            by_filter=by_filter,
            concern=[r for r in rows if r.evidence > 0],
            types=sorted({r.type for r in rows if r.type}),
            regions=sorted({r.region for r in rows if r.region}),
            datasets=sorted(
                {
                    (r.dataset_code, r.dataset_name or r.dataset_code, r.simulated)
                    for r in rows
                    if r.dataset_code
                }
            ),
        )


EMPTY_INDEX = PortfolioIndex([], {}, {}, [], [], [], [])


class DataVersionClock:
    """The store's data version (:func:`data_version`), the key of every cache of derived pages, read at most
    once every ``max_age`` seconds (0: on every call).

    With ``max_age`` above 0, pages may show data up to that old after a scan or import finishes in another
    process; :meth:`expire` makes the next call read afresh (after this process changed the data).
    """

    def __init__(self, max_age: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._max_age = max_age
        self._latest: DataVersion | None = None
        self._read_at = 0.0

    def version(self, conn: Connection) -> DataVersion:
        """The store's data version, read afresh when the last reading is older than ``max_age``."""
        now = time.monotonic()
        with self._lock:
            if self._latest is not None and now - self._read_at < self._max_age:
                return self._latest
        latest = data_version(conn)
        with self._lock:
            self._latest, self._read_at = latest, now
        return latest

    def expire(self) -> None:
        with self._lock:
            self._latest = None


class PortfolioCache:
    """Every organisation's signals, recomputed only when the data version (read through ``versions``)
    changes.

    The aggregation reads every row of ``series_status``; the portfolio is the most visited page, and its
    numbers change only when a scan or an import finishes. Each request then only slices the cached index.
    """

    def __init__(self, versions: DataVersionClock | None = None) -> None:
        self._lock = threading.Lock()
        self._versions = versions or DataVersionClock()
        self._version: DataVersion | None = None
        self._index = EMPTY_INDEX
        self._scan: ScanInfo | None = None

    def _refresh(self, conn: Connection) -> None:
        version = self._versions.version(conn)
        with self._lock:
            if version == self._version:
                return
        index = PortfolioIndex.build(sorted(_all_organisation_signals(conn), key=_evidence_order))
        scan = latest_scan(conn)
        with self._lock:
            self._version, self._index, self._scan = version, index, scan

    def index(self, conn: Connection) -> PortfolioIndex:
        self._refresh(conn)
        return self._index

    def rows(self, conn: Connection) -> list[OrganisationSignals]:
        return self.index(conn).rows

    def scan(self, conn: Connection) -> ScanInfo | None:
        """The latest scan, as of the cached rows."""
        self._refresh(conn)
        return self._scan

    def clear(self) -> None:
        with self._lock:
            self._version, self._index, self._scan = None, EMPTY_INDEX, None


def _evidence_order(row: OrganisationSignals) -> tuple[int, float, int, float, str]:
    q = row.min_funnel_q if row.min_funnel_q is not None else 2.0
    worst = -row.worst_funnel_z if row.worst_funnel_z is not None else math.inf
    return (-row.evidence, q, -row.spc_concern, worst, row.label.casefold())


@dataclass(frozen=True)
class PortfolioFilter:
    type: str | None = None
    region: str | None = None
    dataset: str | None = None
    concern_only: bool = False


@dataclass(frozen=True)
class PortfolioPage:
    rows: list[OrganisationSignals]
    total: int
    page: int
    pages: int
    page_size: int
    types: list[str]
    regions: list[str]
    datasets: list[tuple[str, str, bool]]


def _anonymise(row: OrganisationSignals, pseudonym: str) -> OrganisationSignals:
    return replace(
        row,
        label=pseudonym,
        code=None,
        type=None,
        region=None,
        dataset_code=None,
        dataset_name=None,
        anonymised=True,
    )


def portfolio(
    conn: Connection,
    visibility: Visibility,
    cache: PortfolioCache,
    filters: PortfolioFilter | None = None,
    *,
    page: int = 1,
    page_size: int = 50,
) -> PortfolioPage:
    """The organisations ``visibility`` allows, ordered by strength of evidence, one page at a time.

    Filters apply only to organisations seen by name (filtering anonymised peers by type or region would
    reveal their type or region); the caller decides whether to offer them.
    """
    filters = filters or PortfolioFilter()
    index = cache.index(conn)
    if visibility.all_organisations:
        candidates = [index.rows]
        for key, value in (("type", filters.type), ("region", filters.region), ("dataset", filters.dataset)):
            if value is not None:
                candidates.append(index.by_filter.get((key, value), []))
        if filters.concern_only:
            candidates.append(index.concern)
        smallest = min(candidates, key=len)
        allowed = smallest
        types, regions, datasets = index.types, index.regions, index.datasets
    else:
        shown: list[OrganisationSignals] = []
        own = index.by_id.get(visibility.own) if visibility.own is not None else None
        if own is not None:
            shown.append(replace(own, own=True))
        for peer_id, pseudonym in visibility.peers.items():
            if (peer := index.by_id.get(peer_id)) is not None:
                shown.append(_anonymise(peer, pseudonym))
        allowed = sorted(shown, key=_evidence_order)
        named = [r for r in allowed if not r.anonymised]
        types = sorted({r.type for r in named if r.type})
        regions = sorted({r.region for r in named if r.region})
        datasets = sorted(
            {(r.dataset_code, r.dataset_name or r.dataset_code, r.simulated) for r in named if r.dataset_code}
        )
    if (
        filters.type is None
        and filters.region is None
        and filters.dataset is None
        and not filters.concern_only
    ):
        selected = allowed
    else:
        selected = [
            r
            for r in allowed
            if (filters.type is None or r.type == filters.type)
            and (filters.region is None or r.region == filters.region)
            and (filters.dataset is None or r.dataset_code == filters.dataset)
            and (not filters.concern_only or r.evidence > 0)
        ]
    total = len(selected)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    return PortfolioPage(
        rows=selected[start : start + page_size],
        total=total,
        page=page,
        pages=pages,
        page_size=page_size,
        types=types,
        regions=regions,
        datasets=datasets,
    )


# ------------------------------------------------------------------------------------------------------------
# One organisation
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationInfo:
    id: int
    code: str
    name: str
    type: str | None
    region: str | None
    parent_name: str | None
    dataset_code: str | None
    dataset_name: str | None
    dataset_source: str | None
    dataset_licence: str | None
    simulated: bool


# The organisation page's statements are built once, with the organisation as a parameter: building a select
# costs more than running it on one organisation's rows.
_ORGANISATION_ID: BindParameter[int] = bindparam("organisation_id")
_PARENT = Organisation.__table__.alias("parent")
_ORGANISATION_INFO = (
    select(
        Organisation.id,
        Organisation.code,
        Organisation.name,
        Organisation.type,
        Organisation.region,
        _PARENT.c.name,
        Dataset.code,
        Dataset.name,
        Dataset.source,
        Dataset.licence,
        func.coalesce(Dataset.simulated, False),
    )
    .outerjoin(_PARENT, _PARENT.c.id == Organisation.parent_id)
    .outerjoin(Dataset, Dataset.id == Organisation.dataset_id)
    .where(Organisation.id == _ORGANISATION_ID)
)


def organisation_info(
    conn: Connection, visibility: Visibility, organisation_id: int
) -> OrganisationInfo | None:
    """The organisation, or None when it does not exist or this account may not open it (the same answer)."""
    if not visibility.may_open(organisation_id):
        return None
    row = conn.execute(_ORGANISATION_INFO, {"organisation_id": organisation_id}).first()
    if row is None:
        return None
    return OrganisationInfo(
        id=int(row[0]),
        code=row[1],
        name=row[2],
        type=row[3],
        region=row[4],
        parent_name=row[5],
        dataset_code=row[6],
        dataset_name=row[7],
        dataset_source=row[8],
        dataset_licence=row[9],
        simulated=bool(row[10]),
    )


def organisation_id_by_code(conn: Connection, code: str) -> int | None:
    found = conn.execute(
        select(Organisation.id).where(Organisation.code == code.strip())
    ).scalar_one_or_none()
    return None if found is None else int(found)


@dataclass(frozen=True)
class AttributeValue:
    name: str
    valid_from: dt.date
    value: str


_ATTRIBUTES = (
    select(
        OrganisationAttribute.name,
        OrganisationAttribute.valid_from,
        OrganisationAttribute.value_number,
        OrganisationAttribute.value_text,
    )
    .where(OrganisationAttribute.organisation_id == _ORGANISATION_ID)
    .order_by(OrganisationAttribute.name, OrganisationAttribute.valid_from)
)


def organisation_attributes(conn: Connection, organisation_id: int) -> list[AttributeValue]:
    """The latest value of each context attribute."""
    rows = conn.execute(_ATTRIBUTES, {"organisation_id": organisation_id}).all()
    latest: dict[str, AttributeValue] = {}
    for name, valid_from, number, text in rows:
        shown = text if text is not None else ("" if number is None else f"{number:g}")
        latest[name] = AttributeValue(name, valid_from, shown)
    return list(latest.values())


@dataclass(frozen=True)
class IndicatorInfo:
    id: int
    code: str
    name: str
    unit: str | None
    kind: str
    polarity: str
    target: float | None
    multiplier: float
    frequency: str | None
    description: str | None
    dataset_code: str | None
    dataset_name: str | None
    simulated: bool


def _indicator_columns() -> tuple[object, ...]:
    return (
        Indicator.id,
        Indicator.code,
        Indicator.name,
        Indicator.unit,
        Indicator.kind,
        Indicator.polarity,
        Indicator.target,
        Indicator.multiplier,
        Indicator.frequency,
        Indicator.description,
        Dataset.code,
        Dataset.name,
        func.coalesce(Dataset.simulated, False),
    )


def _indicator_info(row: Sequence[object]) -> IndicatorInfo:
    return IndicatorInfo(
        id=int(row[0]),  # type: ignore[call-overload]
        code=str(row[1]),
        name=str(row[2]),
        unit=row[3],  # type: ignore[arg-type]
        kind=str(row[4]),
        polarity=str(row[5]),
        target=row[6],  # type: ignore[arg-type]
        multiplier=float(row[7] or 1.0),  # type: ignore[arg-type]
        frequency=row[8],  # type: ignore[arg-type]
        description=row[9],  # type: ignore[arg-type]
        dataset_code=row[10],  # type: ignore[arg-type]
        dataset_name=row[11],  # type: ignore[arg-type]
        simulated=bool(row[12]),
    )


def indicators(conn: Connection) -> list[IndicatorInfo]:
    rows = conn.execute(
        select(*_indicator_columns())  # type: ignore[call-overload]
        .outerjoin(Dataset, Dataset.id == Indicator.dataset_id)
        .order_by(Dataset.code, Indicator.code)
    ).all()
    return [_indicator_info(r) for r in rows]


def indicator_by_code(conn: Connection, code: str) -> IndicatorInfo | None:
    row = conn.execute(
        select(*_indicator_columns())  # type: ignore[call-overload]
        .outerjoin(Dataset, Dataset.id == Indicator.dataset_id)
        .where(Indicator.code == code)
    ).first()
    return None if row is None else _indicator_info(row)


@dataclass(frozen=True)
class SeriesState:
    """The latest scan's view of one organisation x indicator (every field None before the first scan)."""

    indicator: IndicatorInfo
    n_points: int | None
    last_period: dt.date | None
    last_value: float | None
    spc_variation: str | None
    spc_assurance: str | None
    spc_mean: float | None
    spc_lpl: float | None
    spc_upl: float | None
    funnel_period: dt.date | None
    funnel_z: float | None
    funnel_p: float | None
    funnel_q: float | None
    funnel_outlier: int | None
    cusum_value: float | None
    cusum_alarms: int | None
    cusum_last_alarm: dt.date | None
    cusum_current: int | None
    trend_slope: float | None
    trend_p: float | None
    rank: float | None
    rank_lower: float | None
    rank_upper: float | None
    rank_of: int | None
    rank_distinguishable: int | None
    scan_id: int | None


_STATUS_COLUMNS = (
    SeriesStatus.n_points,
    SeriesStatus.last_period,
    SeriesStatus.last_value,
    SeriesStatus.spc_variation,
    SeriesStatus.spc_assurance,
    SeriesStatus.spc_mean,
    SeriesStatus.spc_lpl,
    SeriesStatus.spc_upl,
    SeriesStatus.funnel_period,
    SeriesStatus.funnel_z,
    SeriesStatus.funnel_p,
    SeriesStatus.funnel_q,
    SeriesStatus.funnel_outlier,
    SeriesStatus.cusum_value,
    SeriesStatus.cusum_alarms,
    SeriesStatus.cusum_last_alarm,
    SeriesStatus.cusum_current,
    SeriesStatus.trend_slope,
    SeriesStatus.trend_p,
    SeriesStatus.rank,
    SeriesStatus.rank_lower,
    SeriesStatus.rank_upper,
    SeriesStatus.rank_of,
    SeriesStatus.rank_distinguishable,
    SeriesStatus.scan_id,
)


def _states(chosen: ColumnElement[bool]) -> Select[Any]:
    query: Select[Any] = select(*_indicator_columns(), *_STATUS_COLUMNS)  # type: ignore[call-overload]
    return (
        query.where(chosen)
        .outerjoin(Dataset, Dataset.id == Indicator.dataset_id)
        .outerjoin(
            SeriesStatus,
            and_(SeriesStatus.indicator_id == Indicator.id, SeriesStatus.organisation_id == _ORGANISATION_ID),
        )
        .order_by(Indicator.code)
    )


_WITH_DATA = (
    select(Observation.indicator_id.label("indicator_id"))
    .where(Observation.organisation_id == _ORGANISATION_ID)
    .distinct()
    .subquery()
)
_STATES_WITH_DATA = _states(Indicator.id.in_(select(_WITH_DATA.c.indicator_id)))
_STATES_OF = _states(Indicator.id.in_(bindparam("indicator_ids", expanding=True)))


def organisation_series_states(
    conn: Connection, organisation_id: int, indicator_ids: Sequence[int] | None = None
) -> list[SeriesState]:
    """Every indicator this organisation has data for (or those of ``indicator_ids``, when the caller has
    already read the organisation's observations), with the latest scan's state of its series."""
    if indicator_ids is None:
        rows = conn.execute(_STATES_WITH_DATA, {"organisation_id": organisation_id}).all()
    elif not indicator_ids:
        return []
    else:
        rows = conn.execute(
            _STATES_OF, {"organisation_id": organisation_id, "indicator_ids": list(indicator_ids)}
        ).all()
    n = len(_indicator_columns())
    return [SeriesState(_indicator_info(r[:n]), *r[n:]) for r in rows]


@dataclass(frozen=True)
class SignalRecord:
    indicator_code: str
    method: str
    rule: str
    direction: str
    period_start: dt.date | None
    value: float | None


_SIGNALS = (
    select(Indicator.code, Signal.method, Signal.rule, Signal.direction, Signal.period_start, Signal.value)
    .join(Indicator, Indicator.id == Signal.indicator_id)
    .join(
        SeriesStatus,
        and_(
            SeriesStatus.indicator_id == Signal.indicator_id,
            SeriesStatus.organisation_id == Signal.organisation_id,
            SeriesStatus.scan_id == Signal.scan_id,
        ),
    )
    .where(Signal.organisation_id == _ORGANISATION_ID)
    .order_by(Indicator.code, Signal.period_start, Signal.method, Signal.rule)
)


def organisation_signals(conn: Connection, organisation_id: int) -> list[SignalRecord]:
    """The rules that fired in the latest scan of each of this organisation's series."""
    rows = conn.execute(_SIGNALS, {"organisation_id": organisation_id}).all()
    return [SignalRecord(*r) for r in rows]


@dataclass(frozen=True)
class BaselineRecord:
    indicator_code: str
    rebase_from: dt.date
    fix_after_n_points: int | None
    reason: str
    created_by: str
    created_at: dt.datetime


_BASELINES = (
    select(
        Indicator.code,
        SpcBaseline.rebase_from,
        SpcBaseline.fix_after_n_points,
        SpcBaseline.reason,
        SpcBaseline.created_by,
        SpcBaseline.created_at,
    )
    .join(Indicator, Indicator.id == SpcBaseline.indicator_id)
    .where(SpcBaseline.organisation_id == _ORGANISATION_ID)
    .order_by(Indicator.code, SpcBaseline.rebase_from)
)


def organisation_baselines(conn: Connection, organisation_id: int) -> list[BaselineRecord]:
    rows = conn.execute(_BASELINES, {"organisation_id": organisation_id}).all()
    return [BaselineRecord(*r) for r in rows]


@dataclass(frozen=True)
class EventRecord:
    date: dt.date
    kind: str
    grade: str | None
    detail: str | None


_EVENTS = (
    select(Event.date, Event.kind, Event.grade, Event.detail)
    .where(Event.organisation_id == _ORGANISATION_ID)
    .order_by(Event.date, Event.kind)
)


def organisation_events(conn: Connection, organisation_id: int) -> list[EventRecord]:
    rows = conn.execute(_EVENTS, {"organisation_id": organisation_id}).all()
    return [EventRecord(*r) for r in rows]


# ------------------------------------------------------------------------------------------------------------
# One indicator across organisations
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRow:
    """One organisation's state on one indicator; anonymised peers carry a pseudonym and no id or code.

    ``internal_id`` is for the server's own joins (placing a peer on a funnel) and is never shown.
    ``funnel_ratio`` and ``funnel_denominator`` are what the funnel compared, as the scan stored them: the ratio
    over the funnel's window and its denominator (N for a proportion, the expected count for an O/E ratio or a
    rate); None when the funnel did not compare the organisation.
    """

    internal_id: int
    organisation_id: int | None
    label: str
    code: str | None
    anonymised: bool
    own: bool
    state: SeriesState
    funnel_ratio: float | None
    funnel_denominator: float | None


def indicator_rows(conn: Connection, visibility: Visibility, indicator: IndicatorInfo) -> list[IndicatorRow]:
    """Every organisation ``visibility`` allows with a scanned series of this indicator, with what its funnel
    compared (the stored window ratio and denominator)."""
    query = (
        select(
            Organisation.id,
            Organisation.name,
            Organisation.code,
            SeriesStatus.funnel_ratio,
            SeriesStatus.funnel_denominator,
            *_STATUS_COLUMNS,
        )
        .join(Organisation, Organisation.id == SeriesStatus.organisation_id)
        .where(SeriesStatus.indicator_id == indicator.id)
    )
    restricted = visibility.restricted_to()
    if restricted is not None:
        query = query.where(SeriesStatus.organisation_id.in_(restricted))
    result = []
    for r in conn.execute(query).all():
        org_id = int(r[0])
        state = SeriesState(indicator, *r[5:])  # type: ignore[call-arg]
        if visibility.is_anonymised(org_id):
            label, code, public_id, anonymised = visibility.peers[org_id], None, None, True
        else:
            label, code, public_id, anonymised = r[1], r[2], org_id, False
        result.append(
            IndicatorRow(
                internal_id=org_id,
                organisation_id=public_id,
                label=label,
                code=code,
                anonymised=anonymised,
                own=org_id == visibility.own,
                state=state,
                funnel_ratio=None if r[3] is None else float(r[3]),
                funnel_denominator=None if r[4] is None else float(r[4]),
            )
        )
    return result


@dataclass(frozen=True)
class ScanInfo:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    options: dict[str, object]
    series_scanned: int
    signals_written: int


_LATEST_SCAN = (
    select(
        ScanRun.id,
        ScanRun.started_at,
        ScanRun.finished_at,
        ScanRun.options,
        ScanRun.series_scanned,
        ScanRun.signals_written,
    )
    .order_by(ScanRun.id.desc())
    .limit(1)
)


def latest_scan(conn: Connection) -> ScanInfo | None:
    row = conn.execute(_LATEST_SCAN).first()
    return None if row is None else ScanInfo(*row)


def organisation_codes(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(Organisation.id, Organisation.code).where(Organisation.id.in_(list(ids))))
    return {int(i): str(c) for i, c in rows}
