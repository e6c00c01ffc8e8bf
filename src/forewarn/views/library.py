"""The practice library as a reader may see it: the list (recent, or a search), one document, and who may edit.

Reading: every signed-in account reads the documents shared with everyone; a document for its organisation only is
read by that organisation's members and the regulator's analysts. The organisations a document belongs to and
concerns are named only to readers who may open them, shown under the pseudonym of a granted peer, or else as
"another organisation" (or counted): a member learns what others do, not who they are. Editing: analysts and administrators any document, members those of their
own organisation.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, or_, select

from forewarn.access.policy import Visibility
from forewarn.library.documents import AUDIENCE_LABELS, KIND_LABELS, DocumentOut, get_document
from forewarn.library.search import EVERYTHING, Reader, search
from forewarn.store.models import Organisation
from forewarn.store.models_peers import Audience, LibraryDocument
from forewarn.views.model import Model

LIST_LIMIT = 50


class SnippetPart(Model):
    text: str
    marked: bool


class LibraryItemOut(Model):
    id: int
    title: str
    kind: str
    kind_label: str
    date: dt.date | None
    organisation: str | None
    url: str
    snippet: tuple[SnippetPart, ...] = ()


class LibraryListOut(Model):
    query: str
    results: list[LibraryItemOut]
    can_create: bool


class LinkedOut(Model):
    label: str
    url: str | None


class LibraryDocumentOut(Model):
    id: int
    kind: str
    kind_label: str
    audience_label: str
    title: str
    summary: str | None
    body: str
    authors: list[str]
    date: dt.date | None
    organisation: str | None
    organisation_url: str | None
    audience: str
    organisations: list[LinkedOut]
    other_organisations: int
    indicators: list[LinkedOut]
    can_edit: bool


def reader_of(visibility: Visibility) -> Reader:
    return EVERYTHING if visibility.all_organisations else Reader(False, visibility.own)


def may_read(doc: DocumentOut, visibility: Visibility) -> bool:
    return (
        visibility.all_organisations
        or doc.audience == Audience.EVERYONE.value
        or (doc.organisation_id is not None and doc.organisation_id == visibility.own)
    )


def may_edit(organisation_id: int | None, visibility: Visibility) -> bool:
    return visibility.all_organisations or (organisation_id is not None and organisation_id == visibility.own)


def may_create(visibility: Visibility) -> bool:
    return visibility.all_organisations or visibility.own is not None


ANOTHER = "Another organisation"


def _owner_names(conn: Connection, ids: set[int], visibility: Visibility) -> dict[int, str]:
    """Each organisation as this reader may see it: its name, a granted peer's pseudonym, or "Another
    organisation"."""
    if not ids:
        return {}
    names = {
        int(i): str(n)
        for i, n in conn.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids)))
    }
    return {i: n if visibility.may_open(i) else visibility.peers.get(i, ANOTHER) for i, n in names.items()}


def library_list(conn: Connection, visibility: Visibility, query: str = "") -> LibraryListOut:
    reader = reader_of(visibility)
    items: list[LibraryItemOut] = []
    if query.strip():
        hits = search(conn, query, limit=LIST_LIMIT, reader=reader)
        owners = _owner_names(
            conn, {h.organisation_id for h in hits if h.organisation_id is not None}, visibility
        )
        for hit in hits:
            items.append(
                LibraryItemOut(
                    id=hit.id,
                    title=hit.title,
                    kind=hit.kind,
                    kind_label=KIND_LABELS.get(hit.kind, hit.kind),
                    date=hit.date,
                    organisation=owners.get(hit.organisation_id) if hit.organisation_id is not None else None,
                    url=f"/library/{hit.id}",
                    snippet=tuple(SnippetPart(text=t, marked=m) for t, m in hit.parts()),
                )
            )
    else:
        rows = select(
            LibraryDocument.id,
            LibraryDocument.title,
            LibraryDocument.kind,
            LibraryDocument.date,
            LibraryDocument.organisation_id,
        )
        if not reader.everything:
            shared = LibraryDocument.audience == Audience.EVERYONE.value
            rows = rows.where(
                or_(shared, LibraryDocument.organisation_id == reader.organisation_id)
                if reader.organisation_id
                else shared
            )
        found = conn.execute(
            rows.order_by(LibraryDocument.date.desc(), LibraryDocument.id.desc()).limit(LIST_LIMIT)
        ).all()
        owners = _owner_names(conn, {int(r[4]) for r in found if r[4] is not None}, visibility)
        for i, title, kind, date, owner_id in found:
            items.append(
                LibraryItemOut(
                    id=int(i),
                    title=str(title),
                    kind=str(kind),
                    kind_label=KIND_LABELS.get(str(kind), str(kind)),
                    date=date,
                    organisation=owners.get(owner_id) if owner_id is not None else None,
                    url=f"/library/{i}",
                )
            )
    return LibraryListOut(query=query, results=items, can_create=may_create(visibility))


def library_document(conn: Connection, visibility: Visibility, document_id: int) -> LibraryDocumentOut | None:
    """One document for this reader; None when it does not exist or may not be read."""
    doc = get_document(conn, document_id)
    if doc is None or not may_read(doc, visibility):
        return None
    owner = _owner_names(
        conn, {doc.organisation_id} if doc.organisation_id is not None else set(), visibility
    )
    linked: list[LinkedOut] = []
    hidden = 0
    for oid, _code, name in doc.organisations:
        if visibility.may_open(oid):
            linked.append(LinkedOut(label=name, url=f"/organisations/{oid}"))
        elif oid in visibility.peers:
            linked.append(LinkedOut(label=visibility.peers[oid], url=None))
        else:
            hidden += 1
    owner_id = doc.organisation_id
    return LibraryDocumentOut(
        id=doc.id,
        kind=doc.kind,
        kind_label=KIND_LABELS.get(doc.kind, doc.kind),
        audience_label=AUDIENCE_LABELS.get(doc.audience, doc.audience),
        title=doc.title,
        summary=doc.summary,
        body=doc.body,
        authors=doc.authors,
        date=doc.date,
        organisation=owner.get(owner_id) if owner_id is not None else None,
        organisation_url=f"/organisations/{owner_id}"
        if owner_id is not None and visibility.may_open(owner_id)
        else None,
        audience=doc.audience,
        organisations=linked,
        other_organisations=hidden,
        indicators=[LinkedOut(label=name, url=f"/indicators/{code}") for code, name in doc.indicators],
        can_edit=may_edit(owner_id, visibility),
    )


__all__ = [
    "LibraryDocumentOut",
    "LibraryListOut",
    "library_document",
    "library_list",
    "may_create",
    "may_edit",
]
