"""One organisation's series as the last scan charted them: every point with its value, limits, point type and
rule, read from what the scan stored (``series_status.spc_points`` and the SPC signals).

Pages, the API and server-drawn charts read charts from here instead of recomputing them, so what they show is
exactly what the scan decided (same options, same rebase handling, same minimum length).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import operator
from dataclasses import dataclass

from sqlalchemy import Connection, select

from forewarn.stats.spc import PointType
from forewarn.store.models import Observation
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.store.signals import read_signals

POINT_TYPE_BY_CODE = {str(int(p)): p.label for p in PointType}
COMMON_CAUSE = PointType.COMMON_CAUSE.label
# Points of a series the scan gave no SPC chart (too short, not yet scanned, or changed since): no verdict.
NOT_ASSESSED = "not_assessed"


@dataclass(frozen=True)
class SeriesChart:
    """One indicator's series for one organisation, one entry per observation in period order.

    ``mean``, ``lpl`` and ``upl`` are None where the scan drew no limits; ``point_type`` is a Making Data
    Count point type label; ``rule`` the special-cause rule that labels a point (None for common cause).
    ``charted`` is False when the scan gave the series no SPC chart (too few points, or not scanned yet);
    ``stale`` is True when the observations changed after the scan (the chart then shows values only).
    """

    indicator_id: int
    period: tuple[dt.date, ...]
    value: tuple[float | None, ...]
    mean: tuple[float | None, ...]
    lpl: tuple[float | None, ...]
    upl: tuple[float | None, ...]
    point_type: tuple[str, ...]
    rule: tuple[str | None, ...]
    rebases: tuple[dt.date, ...]
    charted: bool
    stale: bool


@dataclass(frozen=True)
class _Status:
    n_points: int
    last_period: dt.date | None
    points: str | None
    segments: str | None
    mean: float | None
    lpl: float | None
    upl: float | None


def _observations(
    conn: Connection, organisation_id: int, indicator_id: int | None
) -> dict[int, list[tuple[dt.date, float | None]]]:
    query = select(Observation.indicator_id, Observation.period_start, Observation.value).where(
        Observation.organisation_id == organisation_id
    )
    if indicator_id is not None:
        query = query.where(Observation.indicator_id == indicator_id)
    rows = conn.execute(query.order_by(Observation.indicator_id, Observation.period_start)).all()
    return {
        int(key): [(r[1], r[2]) for r in group]
        for key, group in itertools.groupby(rows, key=operator.itemgetter(0))
    }


def _statuses(conn: Connection, organisation_id: int, indicator_id: int | None) -> dict[int, _Status]:
    query = select(
        SeriesStatus.indicator_id,
        SeriesStatus.n_points,
        SeriesStatus.last_period,
        SeriesStatus.spc_points.label("points"),
        SeriesStatus.spc_segments.label("segments"),
        SeriesStatus.spc_mean.label("mean"),
        SeriesStatus.spc_lpl.label("lpl"),
        SeriesStatus.spc_upl.label("upl"),
    ).where(SeriesStatus.organisation_id == organisation_id)
    if indicator_id is not None:
        query = query.where(SeriesStatus.indicator_id == indicator_id)
    return {
        int(r.indicator_id): _Status(
            n_points=r.n_points,
            last_period=r.last_period,
            points=r.points,
            segments=r.segments,
            mean=r.mean,
            lpl=r.lpl,
            upl=r.upl,
        )
        for r in conn.execute(query)
    }


def _rules(
    conn: Connection, organisation_id: int, indicator_id: int | None
) -> dict[tuple[int, dt.date], str]:
    """The SPC rule of each flagged point, from the signals of the scan that wrote each series' status."""
    return {
        (s.indicator_id, s.period_start): s.rule
        for s in read_signals(conn, organisation_id, indicator_id=indicator_id)
        if s.method == "spc" and s.period_start is not None
    }


def _limits(status: _Status, period: list[dt.date]) -> tuple[list[float | None], ...]:
    """Mean and limits at every point: the last segment's from the status, earlier segments' from the JSON."""
    if not status.segments:
        n = len(period)
        return [status.mean] * n, [status.lpl] * n, [status.upl] * n
    segments = json.loads(status.segments)
    starts = [dt.date.fromisoformat(s["from"]) for s in segments]
    mean: list[float | None] = []
    lpl: list[float | None] = []
    upl: list[float | None] = []
    k = 0
    for p in period:
        while k + 1 < len(starts) and p >= starts[k + 1]:
            k += 1
        mean.append(segments[k]["mean"])
        lpl.append(segments[k]["lpl"])
        upl.append(segments[k]["upl"])
    return mean, lpl, upl


def _chart(
    indicator_id: int,
    points: list[tuple[dt.date, float | None]],
    status: _Status | None,
    rules: dict[tuple[int, dt.date], str],
) -> SeriesChart:
    period = [p for p, _ in points]
    value = [v for _, v in points]
    n = len(period)
    current = (
        status is not None
        and status.n_points == n
        and status.last_period == period[-1]
        and (status.points is None or len(status.points) == n)
    )
    if status is None or not current or status.points is None:
        return SeriesChart(
            indicator_id=indicator_id,
            period=tuple(period),
            value=tuple(value),
            mean=(None,) * n,
            lpl=(None,) * n,
            upl=(None,) * n,
            point_type=(NOT_ASSESSED,) * n,
            rule=(None,) * n,
            rebases=(),
            charted=False,
            stale=status is not None and not current,
        )
    mean, lpl, upl = _limits(status, period)
    segments = json.loads(status.segments) if status.segments else []
    return SeriesChart(
        indicator_id=indicator_id,
        period=tuple(period),
        value=tuple(value),
        mean=tuple(mean),
        lpl=tuple(lpl),
        upl=tuple(upl),
        point_type=tuple(POINT_TYPE_BY_CODE.get(code, COMMON_CAUSE) for code in status.points),
        rule=tuple(rules.get((indicator_id, p)) for p in period),
        rebases=tuple(dt.date.fromisoformat(s["from"]) for s in segments[1:]),
        charted=True,
        stale=False,
    )


def organisation_charts(
    conn: Connection, organisation_id: int, indicator_id: int | None = None
) -> dict[int, SeriesChart]:
    """Every series of one organisation (or only ``indicator_id``'s) as the last scan charted it, by
    indicator id. Access is the caller's business: this reads whatever organisation it is given."""
    observations = _observations(conn, organisation_id, indicator_id)
    if not observations:
        return {}
    statuses = _statuses(conn, organisation_id, indicator_id)
    rules = _rules(conn, organisation_id, indicator_id)
    return {i: _chart(i, points, statuses.get(i), rules) for i, points in observations.items()}
