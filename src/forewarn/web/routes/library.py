"""The practice library (issue 13): list and search, one document, create and edit; pages and JSON.

Members create and edit their own organisation's documents (the organisation is theirs, not a choice); analysts
and administrators any, for any organisation or none, and may link the organisations a document concerns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.principal import Principal
from forewarn.library.documents import (
    AUDIENCE_LABELS,
    KIND_LABELS,
    DocumentInput,
    DocumentRejected,
    create_document,
    get_document,
    update_document,
)
from forewarn.views.library import (
    LibraryDocumentOut,
    LibraryListOut,
    library_document,
    library_list,
    may_create,
    may_edit,
)
from forewarn.views.lookup import organisation_codes
from forewarn.web.deps import (
    CurrentUser,
    ReadConnection,
    Viewer,
    WriteConnection,
    record,
    record_learning,
)
from forewarn.web.errors import ForbiddenError, NotFoundError
from forewarn.web.forms import FormModel, Text, codes
from forewarn.web.rendering import render

router = APIRouter()

NOT_VISIBLE = "There is no such document, or your account cannot see it."
SearchText = Annotated[str, Query(max_length=500)]


class LibraryForm(FormModel):
    title: Text = ""
    kind: Text = "note"
    summary: Text = ""
    body: str = ""
    authors: Text = ""
    date: Text = ""
    organisation_code: Text = ""
    organisations: Text = ""
    indicators: Text = ""
    audience: Text = "everyone"


def _input(
    form: LibraryForm, viewer_own_code: str | None, staff: bool
) -> tuple[DocumentInput, dict[str, str]]:
    errors: dict[str, str] = {}
    date: dt.date | None = None
    if form.date:
        try:
            date = dt.date.fromisoformat(form.date)
        except ValueError:
            errors["date"] = "Enter the date as YYYY-MM-DD, for example 2024-05-01"
    data = DocumentInput(
        title=form.title,
        body=form.body.replace("\r\n", "\n"),
        kind=form.kind,
        summary=form.summary or None,
        authors=tuple(a.strip() for a in form.authors.replace(";", ",").split(",") if a.strip()),
        date=date,
        organisation=(form.organisation_code or None) if staff else viewer_own_code,
        organisations=tuple(codes(form.organisations)) if staff else (),
        indicators=tuple(codes(form.indicators)),
        audience=form.audience,
    )
    return data, errors


def _own_code(conn: Connection, viewer: Viewer) -> str | None:
    if viewer.own is None:
        return None
    return organisation_codes(conn, [viewer.own]).get(viewer.own)


def _form_page(
    request: Request,
    action: str,
    values: dict[str, str],
    errors: dict[str, str],
    staff: bool,
    status: int = 200,
) -> Response:
    return render(
        request,
        "library_form.html",
        {
            "title": "Edit a library document" if action.endswith("/edit") else "Add to the library",
            "action": action,
            "values": values,
            "errors": errors,
            "staff": staff,
            "kinds": list(KIND_LABELS.items()),
            "audiences": list(AUDIENCE_LABELS.items()),
        },
        status_code=status,
    )


@router.get("/library", include_in_schema=False)
def library_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, q: SearchText = ""
) -> Response:
    view = library_list(conn, viewer, q)
    if q.strip():
        record_learning(conn, principal, "search")
    return render(request, "library.html", {"title": "Practice library", "view": view})


@router.get("/api/v1/library", response_model=LibraryListOut, tags=["pages"])
def library_api(
    principal: CurrentUser, viewer: Viewer, conn: ReadConnection, q: SearchText = ""
) -> LibraryListOut:
    """The library: the latest documents you may read, or with ``q`` a full-text search of them (words,
    "a phrase", OR, -word), most relevant first."""
    view = library_list(conn, viewer, q)
    if q.strip():
        record_learning(conn, principal, "search")
    return view


@router.get("/library/new", include_in_schema=False)
def new_document_page(request: Request, principal: CurrentUser, viewer: Viewer) -> Response:
    if not may_create(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot add to the library."
        )
    return _form_page(
        request, "/library/new", {"kind": "note", "audience": "everyone"}, {}, viewer.all_organisations
    )


@router.post("/library/new", include_in_schema=False)
def new_document_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[LibraryForm, Form()],
    conn: WriteConnection,
) -> Response:
    if not may_create(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot add to the library."
        )
    staff = viewer.all_organisations
    data, errors = _input(form, _own_code(conn, viewer), staff)
    if not errors:
        try:
            new_id = create_document(conn, data, principal.actor)
        except DocumentRejected as exc:
            errors = {p.field: p.message for p in exc.problems}
        else:
            record(conn, request, principal, "create", "library_document", new_id, organisation_id=viewer.own)
            return RedirectResponse(f"/library/{new_id}", status_code=303)
    return _form_page(request, "/library/new", form.model_dump(), _messages(errors), staff, 400)


def _messages(errors: dict[str, str]) -> dict[str, str]:
    fields = {"organisation": "organisation_code"}
    return {fields.get(k, k): v[:1].upper() + v[1:] for k, v in errors.items()}


@router.get("/library/{document_id}", include_in_schema=False)
def document_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, document_id: int
) -> Response:
    view = library_document(conn, viewer, document_id)
    if view is None:
        raise NotFoundError(NOT_VISIBLE)
    record_learning(conn, principal, "note_read")
    return render(request, "library_document.html", {"title": view.title, "view": view})


@router.get("/api/v1/library/{document_id}", response_model=LibraryDocumentOut, tags=["pages"])
def document_api(
    principal: CurrentUser, viewer: Viewer, conn: ReadConnection, document_id: int
) -> LibraryDocumentOut:
    """One library document with its organisations (as you may see them) and indicators; 404 when it does not
    exist or you may not read it."""
    view = library_document(conn, viewer, document_id)
    if view is None:
        raise NotFoundError(NOT_VISIBLE)
    record_learning(conn, principal, "note_read")
    return view


def _editable(conn: Connection, viewer: Viewer, principal: Principal, document_id: int) -> DocumentInput:
    doc = get_document(conn, document_id)
    if doc is None or library_document(conn, viewer, document_id) is None:
        raise NotFoundError(NOT_VISIBLE)
    if not may_edit(doc.organisation_id, viewer):
        raise ForbiddenError("Only the document's organisation and the regulator's analysts may edit it.")
    return doc.as_input()


@router.get("/library/{document_id}/edit", include_in_schema=False)
def edit_document_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, document_id: int
) -> Response:
    data = _editable(conn, viewer, principal, document_id)
    values = {
        "title": data.title,
        "kind": data.kind,
        "summary": data.summary or "",
        "body": data.body,
        "authors": ", ".join(data.authors),
        "date": data.date.isoformat() if data.date else "",
        "organisation_code": data.organisation or "",
        "organisations": "\n".join(data.organisations),
        "indicators": "\n".join(data.indicators),
        "audience": data.audience,
    }
    return _form_page(request, f"/library/{document_id}/edit", values, {}, viewer.all_organisations)


@router.post("/library/{document_id}/edit", include_in_schema=False)
def edit_document_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[LibraryForm, Form()],
    conn: WriteConnection,
    document_id: int,
) -> Response:
    current = _editable(conn, viewer, principal, document_id)
    staff = viewer.all_organisations
    data, errors = _input(form, current.organisation, staff)
    if not staff:
        data = DocumentInput(**{**data.__dict__, "organisations": current.organisations})
    if not errors:
        try:
            update_document(conn, document_id, data, principal.actor)
        except DocumentRejected as exc:
            errors = {p.field: p.message for p in exc.problems}
        else:
            record(
                conn,
                request,
                principal,
                "update",
                "library_document",
                document_id,
                organisation_id=viewer.own,
            )
            return RedirectResponse(f"/library/{document_id}", status_code=303)
    return _form_page(
        request, f"/library/{document_id}/edit", form.model_dump(), _messages(errors), staff, 400
    )
