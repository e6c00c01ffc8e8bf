"""Tables for surveys of learning capacity: instruments, waves, single-use tokens, anonymous responses, uploads.

Privacy is designed into the schema:

- A token is stored only as the SHA-256 hash of its text, and nothing links it to a response: a response row has
  no token id, no timestamp (only ``submitted_month``, the first day of its month) and a random UUID key.
- ``survey_tokens`` and ``survey_responses`` are SQLite ``WITHOUT ROWID`` tables, clustered on a random key, so
  not even SQLite's hidden rowid keeps the order in which tokens were used or answers arrived.
- A response keeps its answers packed in one string, one character per item in the instrument's item order
  (see :mod:`forewarn.surveys.instrument`): a million responses are read as one block of bytes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base

WAVE_STATUSES = ("draft", "open", "closed")
RESPONSE_SOURCES = ("token", "import")

__all__ = [
    "RESPONSE_SOURCES",
    "WAVE_STATUSES",
    "Base",
    "SurveyInstrument",
    "SurveyResponse",
    "SurveyToken",
    "SurveyUpload",
    "SurveyWave",
    "SurveyWaveOrganisation",
]


class SurveyInstrument(Base):
    """One version of a questionnaire, stored whole so results always say which definition produced them."""

    __tablename__ = "survey_instruments"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    checksum: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SurveyWave(Base):
    """One round of a survey for one or more organisations: draft, then open, then closed for good."""

    __tablename__ = "survey_waves"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'closed')", name="status_known"),
        CheckConstraint("min_group_size >= 2", name="min_group_size_at_least_2"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("survey_instruments.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    min_group_size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))


class SurveyWaveOrganisation(Base):
    """An organisation taking part in a wave."""

    __tablename__ = "survey_wave_organisations"

    wave_id: Mapped[int] = mapped_column(ForeignKey("survey_waves.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SurveyToken(Base):
    """A single-use token, kept only as the SHA-256 of its text. Nothing records when or for which answers it was used."""

    __tablename__ = "survey_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["wave_id", "organisation_id"],
            ["survey_wave_organisations.wave_id", "survey_wave_organisations.organisation_id"],
            ondelete="CASCADE",
        ),
        Index("ix_survey_tokens_wave_id_organisation_id", "wave_id", "organisation_id"),
        {"sqlite_with_rowid": False},
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave_id: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(Integer)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class SurveyUpload(Base):
    """One file of responses exported from an organisation's own survey tool."""

    __tablename__ = "survey_uploads"
    __table_args__ = (UniqueConstraint("wave_id", "checksum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("survey_waves.id", ondelete="CASCADE"), index=True)
    source_name: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(Integer)
    responses_inserted: Mapped[int] = mapped_column(Integer)


class SurveyResponse(Base):
    """One anonymous set of answers. No token, no person, no time finer than the month."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        ForeignKeyConstraint(
            ["wave_id", "organisation_id"],
            ["survey_wave_organisations.wave_id", "survey_wave_organisations.organisation_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("source IN ('token', 'import')", name="source_known"),
        CheckConstraint("(source = 'import') = (upload_id IS NOT NULL)", name="upload_iff_import"),
        Index("ix_survey_responses_wave_id_organisation_id", "wave_id", "organisation_id"),
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(
        String(32), primary_key=True
    )  # uuid4().hex: random, so order reveals nothing
    wave_id: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(Integer)
    submitted_month: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_uploads.id", ondelete="CASCADE"), index=True
    )
    answers: Mapped[str] = mapped_column(Text)
