"""Library documents: checked, written with their links and search text, read back.

A document's ``search_text`` is its title, summary, authors and body, then the names and codes of the indicators
it concerns, so a search for an indicator finds the notes about it. Organisations' names are not searchable (see
:func:`check`): who wrote a note, and whom it concerns, is shown to each reader as their visibility allows. Every problem in a document is reported at once, each naming its field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from forewarn.access.principal import utc_now
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_peers import (
    Audience,
    DocumentKind,
    LibraryDocument,
    LibraryDocumentIndicator,
    LibraryDocumentOrganisation,
)

MAX_TITLE = 300
MAX_BODY = 2_000_000
KINDS = tuple(k.value for k in DocumentKind)
AUDIENCES = tuple(a.value for a in Audience)
KIND_LABELS = {"note": "Note", "case_study": "Case study", "experiment": "Experiment", "document": "Document"}
AUDIENCE_LABELS = {"everyone": "Everyone", "organisation": "Its organisation and the regulator only"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a file, or a form), which field, what."""

    source: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}, field '{self.field}': {self.message}"


class DocumentRejected(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class DocumentInput:
    """What a form or a file gives; codes rather than ids, so files and forms say the same."""

    title: str
    body: str
    kind: str = DocumentKind.NOTE.value
    summary: str | None = None
    authors: tuple[str, ...] = ()
    date: dt.date | None = None
    organisation: str | None = None  # the owning organisation's code (whose practice it is)
    organisations: tuple[
        str, ...
    ] = ()  # codes of the organisations it concerns (e.g. the deviants it came from)
    indicators: tuple[str, ...] = ()
    audience: str = Audience.EVERYONE.value


@dataclass(frozen=True)
class Checked:
    data: DocumentInput
    organisation_id: int | None
    organisation_ids: dict[str, int]
    indicator_ids: dict[str, int]
    search_text: str
    checksum: str


def check(conn: Connection, data: DocumentInput, source: str) -> Checked | list[Problem]:
    """The document resolved (codes to ids, search text, checksum), or every problem with it."""
    problems: list[Problem] = []

    def problem(name: str, message: str) -> None:
        problems.append(Problem(source, name, message))

    if not data.title.strip():
        problem("title", "missing")
    elif len(data.title) > MAX_TITLE:
        problem("title", f"longer than {MAX_TITLE} characters")
    if not data.body.strip():
        problem("body", "empty")
    elif len(data.body) > MAX_BODY:
        problem("body", f"longer than {MAX_BODY:,} characters")
    if data.kind not in KINDS:
        problem("kind", f"must be one of {', '.join(KINDS)} (value {data.kind!r})")
    if data.audience not in AUDIENCES:
        problem("audience", f"must be one of {', '.join(AUDIENCES)} (value {data.audience!r})")
    for author in data.authors:
        if not author.strip() or len(author) > 200:
            problem("authors", f"an author must be a name of 1 to 200 characters (value {author!r})")
    codes = {*data.organisations, *([data.organisation] if data.organisation else [])}
    found_orgs = _ids(conn, Organisation, codes)
    for code in sorted(codes - set(found_orgs)):
        name = (
            "organisation"
            if code == data.organisation and code not in data.organisations
            else "organisations"
        )
        problem(name, f"no organisation with code {code!r}")
    found_indicators = _ids(conn, Indicator, set(data.indicators))
    for code in sorted(set(data.indicators) - set(found_indicators)):
        problem("indicators", f"no indicator with code {code!r}")
    if data.audience == Audience.ORGANISATION.value and not data.organisation:
        problem("audience", "a document for its organisation only needs an organisation")
    if problems:
        return problems
    # The indicators' names are searchable; organisations' names are not (whose note it is, and whom it concerns,
    # are shown to each reader as their visibility allows, and a search's snippet would show them to anyone).
    names = _names(conn, Indicator, found_indicators.values())
    search_text = "\n".join(
        part
        for part in (data.title, data.summary or "", "; ".join(data.authors), data.body, "\n".join(names))
        if part
    )
    digest = hashlib.sha256(
        repr(
            (
                data.title,
                data.body,
                data.kind,
                data.summary,
                data.authors,
                data.date,
                data.organisation,
                sorted(data.organisations),
                sorted(data.indicators),
                data.audience,
            )
        ).encode()
    ).hexdigest()
    return Checked(
        data=data,
        organisation_id=found_orgs.get(data.organisation) if data.organisation else None,
        organisation_ids={c: found_orgs[c] for c in data.organisations},
        indicator_ids=found_indicators,
        search_text=search_text,
        checksum=digest,
    )


def _ids(conn: Connection, table: type[Organisation] | type[Indicator], codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    rows = conn.execute(select(table.code, table.id).where(table.code.in_(sorted(codes))))
    return {str(c): int(i) for c, i in rows}


def _names(conn: Connection, table: type[Organisation] | type[Indicator], ids: Any) -> list[str]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(select(table.code, table.name).where(table.id.in_(wanted)).order_by(table.id))
    return [f"{name} ({code})" for code, name in rows]


def _row(checked: Checked) -> dict[str, Any]:
    data = checked.data
    return {
        "kind": data.kind,
        "title": data.title.strip(),
        "summary": (data.summary or "").strip() or None,
        "body": data.body,
        "authors": [a.strip() for a in data.authors],
        "date": data.date,
        "organisation_id": checked.organisation_id,
        "audience": data.audience,
        "checksum": checked.checksum,
        "search_text": checked.search_text,
    }


def _links(conn: Connection, document_id: int, checked: Checked) -> None:
    conn.execute(
        delete(LibraryDocumentOrganisation).where(LibraryDocumentOrganisation.document_id == document_id)
    )
    conn.execute(delete(LibraryDocumentIndicator).where(LibraryDocumentIndicator.document_id == document_id))
    orgs = sorted(set(checked.organisation_ids.values()))
    if orgs:
        conn.execute(
            insert(LibraryDocumentOrganisation),
            [{"document_id": document_id, "organisation_id": o} for o in orgs],
        )
    indicators = sorted(set(checked.indicator_ids.values()))
    if indicators:
        conn.execute(
            insert(LibraryDocumentIndicator),
            [{"document_id": document_id, "indicator_id": i} for i in indicators],
        )


def write_new(
    conn: Connection,
    checked: Checked,
    actor: str,
    *,
    source_name: str | None = None,
    content_type: str = "text/markdown",
) -> int:
    """Insert a checked document and its links; its id."""
    document_id = conn.execute(
        insert(LibraryDocument)
        .values(**_row(checked), source_name=source_name, content_type=content_type, created_by=actor)
        .returning(LibraryDocument.id)
    ).scalar_one()
    _links(conn, int(document_id), checked)
    return int(document_id)


def write_update(conn: Connection, document_id: int, checked: Checked, actor: str, **extra: Any) -> None:
    conn.execute(
        update(LibraryDocument)
        .where(LibraryDocument.id == document_id)
        .values(**_row(checked), updated_by=actor, updated_at=utc_now(), **extra)
    )
    _links(conn, document_id, checked)


def create_document(
    conn: Connection,
    data: DocumentInput,
    actor: str,
    *,
    source: str = "form",
    content_type: str = "text/markdown",
) -> int:
    """Check and insert a document in the caller's transaction; :class:`DocumentRejected` lists every problem.
    ``content_type`` says what the text came from (a PDF or DOCX uploaded in the web form)."""
    checked = check(conn, data, source)
    if isinstance(checked, list):
        raise DocumentRejected(checked)
    return write_new(conn, checked, actor, content_type=content_type)


def update_document(
    conn: Connection,
    document_id: int,
    data: DocumentInput,
    actor: str,
    *,
    source: str = "form",
    content_type: str | None = None,
) -> None:
    """Check and update a document; ``content_type`` when its text now comes from an uploaded file."""
    checked = check(conn, data, source)
    if isinstance(checked, list):
        raise DocumentRejected(checked)
    if conn.execute(select(LibraryDocument.id).where(LibraryDocument.id == document_id)).first() is None:
        raise LookupError(f"no library document {document_id}")
    extra = {"content_type": content_type} if content_type else {}
    write_update(conn, document_id, checked, actor, **extra)


@dataclass(frozen=True)
class DocumentOut:
    id: int
    kind: str
    title: str
    summary: str | None
    body: str
    authors: list[str]
    date: dt.date | None
    organisation_id: int | None
    organisation_code: str | None
    audience: str
    source_name: str | None
    created_by: str
    created_at: dt.datetime
    updated_by: str | None
    updated_at: dt.datetime | None
    organisations: list[tuple[int, str, str]] = field(default_factory=list)  # id, code, name
    indicators: list[tuple[str, str]] = field(default_factory=list)  # code, name

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("date", "created_at", "updated_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out

    def as_input(self) -> DocumentInput:
        return DocumentInput(
            title=self.title,
            body=self.body,
            kind=self.kind,
            summary=self.summary,
            authors=tuple(self.authors),
            date=self.date,
            organisation=self.organisation_code,
            organisations=tuple(code for _, code, _ in self.organisations),
            indicators=tuple(code for code, _ in self.indicators),
            audience=self.audience,
        )


def get_document(conn: Connection, document_id: int) -> DocumentOut | None:
    row = conn.execute(
        select(LibraryDocument.__table__, Organisation.code.label("owner_code"))
        .outerjoin(Organisation, Organisation.id == LibraryDocument.organisation_id)
        .where(LibraryDocument.id == document_id)
    ).first()
    if row is None:
        return None
    doc, code = row, row.owner_code
    organisations = [
        (int(i), str(c), str(n))
        for i, c, n in conn.execute(
            select(Organisation.id, Organisation.code, Organisation.name)
            .join(LibraryDocumentOrganisation, LibraryDocumentOrganisation.organisation_id == Organisation.id)
            .where(LibraryDocumentOrganisation.document_id == document_id)
            .order_by(Organisation.name)
        )
    ]
    indicators = [
        (str(c), str(n))
        for c, n in conn.execute(
            select(Indicator.code, Indicator.name)
            .join(LibraryDocumentIndicator, LibraryDocumentIndicator.indicator_id == Indicator.id)
            .where(LibraryDocumentIndicator.document_id == document_id)
            .order_by(Indicator.code)
        )
    ]
    return DocumentOut(
        id=doc.id,
        kind=str(doc.kind),
        title=doc.title,
        summary=doc.summary,
        body=doc.body,
        authors=list(doc.authors or []),
        date=doc.date,
        organisation_id=doc.organisation_id,
        organisation_code=code,
        audience=str(doc.audience),
        source_name=doc.source_name,
        created_by=doc.created_by,
        created_at=doc.created_at,
        updated_by=doc.updated_by,
        updated_at=doc.updated_at,
        organisations=organisations,
        indicators=indicators,
    )


def documents_about(
    conn: Connection, *, organisation_ids: Sequence[int] = (), indicator: str | None = None
) -> list[int]:
    """Ids of the documents linked to any of these organisations (owning or concerned) and, if given, the
    indicator: the practice notes of a group of positive deviants."""
    query = select(LibraryDocument.id).distinct()
    if organisation_ids:
        ids = [int(i) for i in organisation_ids]
        linked = select(LibraryDocumentOrganisation.document_id).where(
            LibraryDocumentOrganisation.organisation_id.in_(ids)
        )
        query = query.where(LibraryDocument.organisation_id.in_(ids) | LibraryDocument.id.in_(linked))
    if indicator:
        query = (
            query.join(LibraryDocumentIndicator, LibraryDocumentIndicator.document_id == LibraryDocument.id)
            .join(Indicator, Indicator.id == LibraryDocumentIndicator.indicator_id)
            .where(Indicator.code == indicator)
        )
    return [int(i) for i in conn.execute(query.order_by(LibraryDocument.id)).scalars()]


__all__ = [
    "DocumentInput",
    "DocumentOut",
    "DocumentRejected",
    "Problem",
    "check",
    "create_document",
    "documents_about",
    "get_document",
    "update_document",
]
