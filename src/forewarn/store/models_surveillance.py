"""Tables the surveillance scan writes: what fired, when, by which rule, with the numbers behind it.

``series_status`` holds one row per organisation x indicator with the latest state of every method, so the
portfolio page and the risk model read one table; ``series_signals`` holds the rules that fired, one packed row
per series; ``scan_runs`` says which scan wrote them and with which options.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId


class ScanRun(Base):
    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    options: Mapped[dict[str, object]] = mapped_column(JSON)
    series_scanned: Mapped[int] = mapped_column(Integer, default=0)
    series_changed: Mapped[int] = mapped_column(Integer, default=0)
    signals_written: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, object] | None] = mapped_column(JSON)


class SeriesStatus(Base):
    """The latest scan's view of one organisation's series of one indicator."""

    __tablename__ = "series_status"
    __table_args__ = (UniqueConstraint("indicator_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    scan_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"))
    # Hash of the series' data: a rescan rewrites a row when its data or any of its results changed.
    fingerprint: Mapped[int] = mapped_column(BigInteger)
    n_points: Mapped[int] = mapped_column(Integer)
    last_period: Mapped[dt.date | None] = mapped_column(Date)
    last_value: Mapped[float | None] = mapped_column(Float)
    # SPC (Making Data Count)
    spc_variation: Mapped[str | None] = mapped_column(String(40))  # point type of the last point
    spc_assurance: Mapped[str | None] = mapped_column(String(40))
    spc_mean: Mapped[float | None] = mapped_column(Float)
    spc_lpl: Mapped[float | None] = mapped_column(Float)
    spc_upl: Mapped[float | None] = mapped_column(Float)
    # One character per observation of the series in period order: the PointType code ("0" common cause ...
    # "4" special cause neutral low) or "." for an observation without a value. Pages draw the chart from it.
    spc_points: Mapped[str | None] = mapped_column(Text)
    # JSON list of {"from", "mean", "lpl", "upl"} per baseline segment, only when a rebase split the series.
    spc_segments: Mapped[str | None] = mapped_column(Text)
    # Funnel across organisations over each indicator's latest window (a year of monthly data)
    funnel_period: Mapped[dt.date | None] = mapped_column(Date)
    funnel_z: Mapped[float | None] = mapped_column(Float)
    funnel_p: Mapped[float | None] = mapped_column(Float)
    funnel_q: Mapped[float | None] = mapped_column(Float)  # Benjamini-Hochberg adjusted across all pairs
    funnel_outlier: Mapped[int | None] = mapped_column(Integer)  # -1 below, 0 within, +1 above (after FDR)
    # What the funnel plotted, so pages draw exactly the funnel that flagged the outliers: the ratio over the
    # funnel's window against its denominator (N for a proportion, the expected count for a ratio O/E or a
    # rate), the unit's limits at the scan's funnel_limit, and the funnel's own target, phi and tau2 (the tau2
    # its limits add; repeated on each series of the indicator). "PR" binomial or "SR" Poisson.
    funnel_data_type: Mapped[str | None] = mapped_column(String(2))
    funnel_ratio: Mapped[float | None] = mapped_column(Float)
    funnel_denominator: Mapped[float | None] = mapped_column(Float)
    funnel_lower: Mapped[float | None] = mapped_column(Float)
    funnel_upper: Mapped[float | None] = mapped_column(Float)
    funnel_target: Mapped[float | None] = mapped_column(Float)
    funnel_phi: Mapped[float | None] = mapped_column(Float)
    funnel_tau2: Mapped[float | None] = mapped_column(Float)
    # CUSUM
    cusum_value: Mapped[float | None] = mapped_column(Float)
    cusum_alarms: Mapped[int | None] = mapped_column(Integer)
    cusum_last_alarm: Mapped[dt.date | None] = mapped_column(Date)
    # 1 when the latest alarm fell within the indicator's latest quarter (ScanOptions.alarm_current_days)
    cusum_current: Mapped[int | None] = mapped_column(Integer)
    # Trend test of series too short for SPC (annual indicators): slope per year, its standard error, p-value
    trend_slope: Mapped[float | None] = mapped_column(Float)
    trend_se: Mapped[float | None] = mapped_column(Float)
    trend_p: Mapped[float | None] = mapped_column(Float)
    # Rank with its interval (1 = best given the indicator's polarity)
    rank: Mapped[float | None] = mapped_column(Float)
    rank_lower: Mapped[float | None] = mapped_column(Float)
    rank_upper: Mapped[float | None] = mapped_column(Float)
    rank_of: Mapped[int | None] = mapped_column(Integer)
    rank_distinguishable: Mapped[int | None] = mapped_column(Integer)  # -1 worse than middle, 0 no, +1 better


class SeriesSignals(Base):
    """Every rule that fired for one organisation x indicator in the scan that wrote its status, packed in one row.

    ``entries`` holds one entry per signal, in the scan's order, separated by ``;``; each entry is
    ``method,rule,direction,period,value`` (period ``YYYY-MM-DD`` or empty; value the shortest text that reads back
    to the same double, or empty). One row per series with signals, not a row per rule per point: read and
    written through ``forewarn.store.signals`` only (issue 17; migration 0019 converted the ``signals`` table).
    """

    __tablename__ = "series_signals"
    __table_args__ = (PrimaryKeyConstraint("indicator_id", "organisation_id"),)

    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    scan_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"))
    signal_count: Mapped[int] = mapped_column(Integer)
    entries: Mapped[str] = mapped_column(Text)


class SpcBaseline(Base):
    """A rebase of an SPC chart: from this date the limits are recomputed. Who and why are kept."""

    __tablename__ = "spc_baselines"
    __table_args__ = (UniqueConstraint("indicator_id", "organisation_id", "rebase_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    rebase_from: Mapped[dt.date] = mapped_column(Date)
    fix_after_n_points: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ScanFingerprint(Base):
    """What the last scan saw of each indicator: a digest of its observations' aggregates, its attributes and its
    SPC rebases. A rescan compares them (and its options) with the store's and skips the work when none moved."""

    __tablename__ = "scan_fingerprints"

    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    scan_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"))
    digest: Mapped[str] = mapped_column(String(64))
