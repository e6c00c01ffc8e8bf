"""The latest surveillance scan: when it ran, and the options the pages need to explain its results; and the
store's data version, which changes whenever what the pages show may have."""

from __future__ import annotations

import datetime as dt
import weakref
from typing import NamedTuple

from sqlalchemy import Connection, Engine, event, func, select

from forewarn.store.models import Event, ImportBatch, Organisation
from forewarn.store.models_risk import RiskScore
from forewarn.store.models_surveillance import ScanRun, SpcBaseline
from forewarn.store.models_surveys import SurveyWave
from forewarn.views.model import Model

DEFAULT_FUNNEL_LIMIT = 99.8
DEFAULT_FDR_ALPHA = 0.05


class ScanOut(Model):
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    series_scanned: int


def latest_scan(conn: Connection) -> ScanOut | None:
    row = (
        conn.execute(
            select(ScanRun.id, ScanRun.started_at, ScanRun.finished_at, ScanRun.series_scanned)
            .order_by(ScanRun.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else ScanOut.model_validate(row)


def latest_scan_options(conn: Connection) -> dict[str, object]:
    """The options the latest scan ran with (empty before the first scan)."""
    options = conn.execute(select(ScanRun.options).order_by(ScanRun.id.desc()).limit(1)).scalar()
    return options if isinstance(options, dict) else {}


def funnel_limit_and_alpha(conn: Connection) -> tuple[float, float]:
    """The latest scan's funnel limit (percent) and false-discovery-rate alpha (the defaults when absent)."""
    options = latest_scan_options(conn)
    limit, alpha = options.get("funnel_limit"), options.get("fdr_alpha")
    return (
        float(limit) if isinstance(limit, int | float) else DEFAULT_FUNNEL_LIMIT,
        float(alpha) if isinstance(alpha, int | float) else DEFAULT_FDR_ALPHA,
    )


class DataVersion(NamedTuple):
    """What the pages show may have changed when any of these has (see :func:`data_version`)."""

    scan: int  # the latest scan run
    batch: int  # the latest import
    organisation: int  # the largest organisation id
    baseline: int  # the largest SPC baseline id
    baselines: int  # how many SPC baselines there are
    event: int  # the latest event
    closed_waves: int  # how many survey waves are closed
    risk_score: int  # the largest risk score id


# Built once: constructing this statement cost more CPU than running it (about 0.6 ms a request).
_DATA_VERSION = select(
    select(func.coalesce(func.max(ScanRun.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(ImportBatch.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(Organisation.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(SpcBaseline.id), 0)).scalar_subquery(),
    select(func.count()).select_from(SpcBaseline).scalar_subquery(),
    select(func.coalesce(func.max(Event.id), 0)).scalar_subquery(),
    # A closed wave never reopens, so their number tells when soft measures were published.
    select(func.count()).select_from(SurveyWave).where(SurveyWave.status == "closed").scalar_subquery(),
    # Risk scores are added by each new model or date; a rescore by the same model for the same date replaces its
    # rows with what the same data give (new data move the version above), so the largest id tells of them.
    select(func.coalesce(func.max(RiskScore.id), 0)).scalar_subquery(),
)

# The version a connection last read, until it commits or rolls back: a page request reads it once, not once
# per kept read it consults (three round trips an organisation page, bench/web_bench.py). A request that writes
# does so in a transaction (``forewarn.store.database.writes_on``) whose end forgets it, so what it reads
# afterwards sees its own change.
_read_by: weakref.WeakKeyDictionary[Connection, DataVersion] = weakref.WeakKeyDictionary()


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _forget_version(conn: Connection) -> None:
    _read_by.pop(conn, None)


def data_version(conn: Connection) -> DataVersion:
    """Changes whenever a scan or an import finishes, an organisation is added, a baseline is set or removed, an
    event is recorded (a case's intervention starting or ending), a survey wave closes or risk scores are
    stored: the key of anything kept that is derived from them. Read once per connection until its transaction
    ends (a page request's reads share it).

    Read on every page request, so it is seven small lookups in one round trip (about 0.2 ms on PostgreSQL at
    10,000 organisations, against 0.9 ms when it counted organisations). Organisations are never deleted, so the
    largest id tells of additions (their changes come through imports); baselines can be removed, so their
    number is counted beside their largest id (a few rows per organisation at most).
    """
    found = _read_by.get(conn)
    if found is None:
        found = DataVersion(*(int(value) for value in conn.execute(_DATA_VERSION).one()))
        _read_by[conn] = found
    return found
