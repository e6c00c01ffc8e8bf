"""Tables of the practice library: notes, case studies, experiment results and documents, with the organisations
and indicators each concerns (migration 0012).

Full-text search reads one column, ``search_text`` (title, summary, authors, body and the indicators' names, written by :mod:`forewarn.library.documents`), so both stores index the same text:

- PostgreSQL: a GIN index on ``to_tsvector('english', search_text)`` (below, created on PostgreSQL only), queried
  with ``websearch_to_tsquery``;
- SQLite: an FTS5 table ``library_search`` (Porter stemmer) over the same column, with ``library_documents`` as its
  external content, kept in step by three triggers. It and its shadow tables are created by the migration on
  SQLite only and are not in this metadata (:data:`SQLITE_SEARCH_TABLES`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.store.models import Base, BigId


class DocumentKind(enum.StrEnum):
    NOTE = "note"
    CASE_STUDY = "case_study"
    EXPERIMENT = "experiment"
    DOCUMENT = "document"


class Audience(enum.StrEnum):
    """Who may read a library document."""

    EVERYONE = "everyone"  # every signed-in account: practice shared for others to learn from
    ORGANISATION = "organisation"  # its own organisation's members and the regulator's analysts


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


SEARCH_CONFIG = "english"
"""PostgreSQL's text-search configuration (Snowball English stemmer and stop words)."""
SQLITE_SEARCH_TABLE = "library_search"
SQLITE_SEARCH_TABLES = frozenset(
    {
        SQLITE_SEARCH_TABLE,
        *(f"{SQLITE_SEARCH_TABLE}_{s}" for s in ("data", "idx", "docsize", "config", "content")),
    }
)
"""The FTS5 table and its shadow tables, which SQLite creates and Alembic's comparison must leave alone."""


class LibraryDocument(Base):
    __tablename__ = "library_documents"
    __table_args__ = (
        Index(
            "ix_library_documents_search",
            text(f"to_tsvector('{SEARCH_CONFIG}', search_text)"),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind, "library_document_kind"))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON)
    date: Mapped[dt.date | None] = mapped_column(Date)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    audience: Mapped[Audience] = mapped_column(_enum(Audience, "library_audience"))
    source_name: Mapped[str | None] = mapped_column(String(500), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    checksum: Mapped[str] = mapped_column(String(64))
    search_text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LibraryDocumentOrganisation(Base):
    """An organisation a document concerns (whose practice it describes; a positive deviant it came from)."""

    __tablename__ = "library_document_organisations"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("library_documents.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class LibraryDocumentIndicator(Base):
    """An indicator a document is about."""

    __tablename__ = "library_document_indicators"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("library_documents.id", ondelete="CASCADE"), primary_key=True
    )
    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class LearningActivity(Base):
    """One act of looking for knowledge by an organisation's member (migration 0023): a library search, a note
    read, a neighbours or deviants page visited. Counted per organisation and month, k-anonymously
    (:mod:`forewarn.library.activity`); the month is stored, not the moment."""

    __tablename__ = "learning_activity"
    __table_args__ = (Index("ix_learning_activity_organisation_month", "organisation_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    month: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(40))


class DigestSend(Base):
    """One digest message claimed or sent (migration 0029): to whom, for which organisation (``scope``
    ``organisation:ID``, or ``summary`` for the analysts' summary) and period (``2026-12``, ``2026-W49``). The
    unique key is the duplicate-send guard: a sender inserts the row before sending and sends only if the insert
    was its own, so a second run, or a second worker, finds it and sends nothing (``forewarn.views.digest_send``).
    """

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("period", "recipient", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # "sending" (claimed) or "sent"
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


__all__ = [
    "SQLITE_SEARCH_TABLES",
    "Audience",
    "DigestSend",
    "DocumentKind",
    "LearningActivity",
    "LibraryDocument",
    "LibraryDocumentIndicator",
    "LibraryDocumentOrganisation",
]
