"""The practice library (issue 13): list and search, one document, create and edit; pages and JSON.

Members create and edit their own organisation's documents (the organisation is theirs, not a choice); analysts
and administrators any, for any organisation or none, and may link the organisations a document concerns.

A PDF or Word (DOCX) document may be uploaded with the form (multipart, CSRF-checked as every form): its text
(:func:`forewarn.library.extract.extract_upload`, within the size and page limits of the settings) becomes the
document's text, its own title and authors fill the fields left empty. A file that cannot be read (encrypted,
corrupt, scanned without text, too large) is refused with the file's name and the problem, and nothing is
stored."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
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
from forewarn.library.extract import Extracted, ExtractionError, content_type_of, extract_upload
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
    AppState,
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
DocumentFile = Annotated[UploadFile | None, File()]


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


def _file_name(filename: str | None) -> str:
    """The name of an uploaded file without any folder a browser sent with it."""
    return (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:200]


def _uploaded(state: AppState, upload: UploadFile | None) -> tuple[Extracted | None, str | None, str | None]:
    """The uploaded document's text, its content type and the problem with it (naming the file), if a file was
    sent. Reads at most one byte past the limit."""
    if upload is None or not upload.filename:
        return None, None, None
    name = _file_name(upload.filename)
    settings = state.settings
    max_bytes = int(settings.library_max_file_mb * 1024 * 1024)
    try:
        content_type = content_type_of(name)
        content = upload.file.read(max_bytes + 1)
        extracted = extract_upload(name, content, max_bytes=max_bytes, max_pages=settings.library_max_pages)
    except ExtractionError as exc:
        return None, None, f"{name}: {exc}"
    return extracted, content_type, None


def _with_file(data: DocumentInput, extracted: Extracted, name: str) -> DocumentInput:
    """The form's fields with the file's text; its own title and authors where the form left them empty."""
    title = data.title.strip() or extracted.title or name.rsplit(".", 1)[0]
    return DocumentInput(
        **{
            **data.__dict__,
            "title": title,
            "body": extracted.text,
            "authors": data.authors or extracted.authors,
        }
    )


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
            "max_file_mb": request.app.state.forewarn.settings.library_max_file_mb,
            "max_pages": request.app.state.forewarn.settings.library_max_pages,
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
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[LibraryForm, Form()],
    conn: WriteConnection,
    document_file: DocumentFile = None,
) -> Response:
    if not may_create(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot add to the library."
        )
    staff = viewer.all_organisations
    data, errors = _input(form, _own_code(conn, viewer), staff)
    extracted, content_type, file_problem = _uploaded(state, document_file)
    if file_problem:
        errors["document_file"] = file_problem
    elif extracted is not None and document_file is not None:
        data = _with_file(data, extracted, _file_name(document_file.filename))
    if not errors:
        try:
            new_id = create_document(
                conn, data, principal.actor, content_type=content_type or "text/markdown"
            )
        except DocumentRejected as exc:
            errors = {p.field: p.message for p in exc.problems}
        else:
            record(conn, request, principal, "create", "library_document", new_id, organisation_id=viewer.own)
            return RedirectResponse(f"/library/{new_id}", status_code=303)
    values = _kept_values(form, document_file, errors)
    return _form_page(request, "/library/new", values, _messages(errors), staff, 400)


def _kept_values(form: LibraryForm, upload: UploadFile | None, errors: dict[str, str]) -> dict[str, str]:
    """The form's values to show again; a file is not kept, so its name is shown to select it again."""
    values = form.model_dump()
    if upload is not None and upload.filename and "document_file" not in errors:
        values["document_file_name"] = _file_name(upload.filename)
    return values


def _messages(errors: dict[str, str]) -> dict[str, str]:
    fields = {"organisation": "organisation_code"}
    # A file's problem starts with the file's name, kept as it is.
    return {fields.get(k, k): v if k == "document_file" else v[:1].upper() + v[1:] for k, v in errors.items()}


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
    state: AppState,
    document_file: DocumentFile = None,
) -> Response:
    current = _editable(conn, viewer, principal, document_id)
    staff = viewer.all_organisations
    data, errors = _input(form, current.organisation, staff)
    if not staff:
        data = DocumentInput(**{**data.__dict__, "organisations": current.organisations})
    extracted, content_type, file_problem = _uploaded(state, document_file)
    if file_problem:
        errors["document_file"] = file_problem
    elif extracted is not None and document_file is not None:
        data = _with_file(data, extracted, _file_name(document_file.filename))
    if not errors:
        try:
            update_document(conn, document_id, data, principal.actor, content_type=content_type)
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
    values = _kept_values(form, document_file, errors)
    return _form_page(request, f"/library/{document_id}/edit", values, _messages(errors), staff, 400)
