"""Forewarn's tables (SQLAlchemy 2 declarative). Every change goes through an Alembic migration.

The metadata carries a naming convention so that constraints have stable names, which SQLite's batch
migrations need to alter them later.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from forewarn.domain import Polarity

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for tens of millions of rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IndicatorKind(enum.StrEnum):
    """What an indicator's value is, which decides the statistics that apply to it."""

    PROPORTION = "proportion"  # numerator / denominator, both counts
    RATE = "rate"  # events per population (numerator / denominator x multiplier)
    RATIO_OE = "ratio_oe"  # indirectly standardised ratio: observed / expected
    MEAN = "mean"  # a continuous average
    COUNT = "count"  # a count of events


class BatchStatus(enum.StrEnum):
    COMPLETE = "complete"


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable, and migrations can widen it in batch mode.
    return Enum(kind, name=name, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Dataset(Base):
    """A source of data (a public extract or a simulated population), so every page can say where data came from."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(Text)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days after a period's end its figures are published (the mapping's; None: the risk model's default lag).
    publication_lag_days: Mapped[int | None] = mapped_column(Integer)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    type: Mapped[str | None] = mapped_column(String(100), index=True)
    region: Mapped[str | None] = mapped_column(String(100), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), index=True)
    created_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])
    dataset: Mapped[Dataset | None] = relationship()


class OrganisationAttribute(Base):
    """A context attribute (size, deprivation, ...) that holds from ``valid_from`` until the next value."""

    __tablename__ = "organisation_attributes"
    __table_args__ = (UniqueConstraint("organisation_id", "name", "valid_from"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    value_number: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(String(300))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))


class Indicator(Base):
    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[IndicatorKind] = mapped_column(_enum(IndicatorKind, "indicator_kind"))
    polarity: Mapped[Polarity] = mapped_column(_enum(Polarity, "polarity"))
    target: Mapped[float | None] = mapped_column(Float)
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    frequency: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), index=True)

    dataset: Mapped[Dataset | None] = relationship()


class ImportBatch(Base):
    """One import of one file: where every observation came from."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    mapping_checksum: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    imported_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[BatchStatus] = mapped_column(
        _enum(BatchStatus, "batch_status"), default=BatchStatus.COMPLETE
    )
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)


class Observation(Base):
    """One value of one indicator for one organisation over one period."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("indicator_id", "organisation_id", "period_start"),
        # An organisation's series (its page's read). Without ``value``, so that a revision, which changes no
        # indexed column, can be a HOT update on PostgreSQL (migration 0034, which also sets a fillfactor).
        Index("ix_observations_organisation_series", "organisation_id", "indicator_id", "period_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    expected: Mapped[float | None] = mapped_column(Float)
    # The value's standard error, in the value's units, where the source gives one (or its confidence limits).
    standard_error: Mapped[float | None] = mapped_column(Float)
    # Not indexed: no query reads observations by batch (migration 0033 dropped the index).
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)


class ObservationRevision(Base):
    """The values an observation had before a corrected re-import replaced them."""

    __tablename__ = "observation_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    expected: Mapped[float | None] = mapped_column(Float)
    standard_error: Mapped[float | None] = mapped_column(Float)
    period_end: Mapped[dt.date] = mapped_column(Date)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"))
    replaced_by_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)


class IndicatorDataVersion(Base):
    """A counter per indicator that every import (and every bulk load) changing its observations moves on, in the
    same transaction: a rescan reads this row instead of aggregating the indicator's observations. Edits made
    outside the importer do not move it; ``forewarn scan --full`` sees them."""

    __tablename__ = "indicator_data_versions"

    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(BigInteger)


class Event(Base):
    """Something that happened to an organisation: an inspection rating, special measures, an intervention."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("organisation_id", "date", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(60))
    grade: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


EVENT_KINDS = (
    "inspection",
    "special_measures_start",
    "special_measures_end",
    "intervention_start",
    "intervention_end",
    "leadership_change",
)
