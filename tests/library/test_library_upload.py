"""PDF and Word (DOCX) documents uploaded with the library's web form: the text extracted by
``library/extract.py`` becomes the document's text (found by search), the file's own title and authors fill the
empty fields; an encrypted, corrupt, textless, too large or too long file, or one of another type, is refused with
the file's name and the problem and nothing is stored; the multipart form needs the CSRF token as every form.
Fixtures are generated as in ``test_extract.py`` (WeasyPrint, pypdf, python-docx)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, func, select

from forewarn.store.database import read_connection
from forewarn.store.models_peers import LibraryDocument
from tests.library.test_extract import encrypted, make_docx, make_pdf
from tests.web.conftest import SignedIn

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _upload(who: SignedIn, path: str, data: dict[str, str], name: str, content: bytes, kind: str):  # type: ignore[no-untyped-def]
    return who.client.post(
        path,
        data=data,
        files={"document_file": (name, content, kind)},
        headers=who.headers(),
        follow_redirects=False,
    )


def _count(engine: Engine) -> int:
    with read_connection(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(LibraryDocument)).scalar_one())


def test_a_member_uploads_a_pdf_and_finds_its_text(signed_in: dict[str, SignedIn], engine: Engine) -> None:
    member = signed_in["member"]
    pdf = make_pdf("Early pharmacy rounds let patients leave before noon.")
    done = _upload(
        member,
        "/library/new",
        {"kind": "document", "audience": "everyone"},
        "noon.pdf",
        pdf,
        "application/pdf",
    )
    assert done.status_code == 303, done.text
    url = done.headers["location"]
    api = member.client.get(f"/api/v1/library/{url.rsplit('/', 1)[1]}").json()
    # The document's own title and authors fill the fields left empty; its text is the PDF's.
    assert api["title"] == "Discharge before noon" and api["authors"] == ["A. Nurse", "B. Manager"]
    assert "pharmacy rounds" in api["body"] and api["kind"] == "document"
    found = member.client.get("/library", params={"q": "pharmacy rounds"})
    assert url in found.text
    with read_connection(engine) as conn:
        kind = conn.execute(
            select(LibraryDocument.content_type).where(LibraryDocument.id == int(url.rsplit("/", 1)[1]))
        ).scalar_one()
    assert kind == "application/pdf"


def test_an_analyst_uploads_a_docx_for_any_organisation_and_replaces_it(
    signed_in: dict[str, SignedIn], engine: Engine
) -> None:
    analyst = signed_in["analyst"]
    docx = make_docx(["Safety huddles at every shift change."], "Huddles", "C. Doctor")
    done = _upload(
        analyst,
        "/library/new",
        {"title": "Our huddles", "organisation_code": "HIDE1", "audience": "organisation"},
        "huddles.docx",
        docx,
        DOCX_TYPE,
    )
    assert done.status_code == 303, done.text
    url = done.headers["location"]
    api = analyst.client.get(f"/api/v1/library/{url.rsplit('/', 1)[1]}").json()
    assert api["title"] == "Our huddles"  # the form's title wins over the file's
    assert api["body"] == "Safety huddles at every shift change.\nWard | Twelve"
    replaced = _upload(
        analyst,
        f"{url}/edit",
        {"title": "Our huddles", "organisation_code": "HIDE1", "audience": "organisation"},
        "v2.docx",
        make_docx(["Huddles twice a day now."]),
        DOCX_TYPE,
    )
    assert replaced.status_code == 303, replaced.text
    assert (
        analyst.client.get(f"/api/v1/library/{url.rsplit('/', 1)[1]}")
        .json()["body"]
        .startswith("Huddles twice a day now.")
    )


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("locked.pdf", "encrypted", "locked.pdf: the PDF is encrypted (password protected)"),
        ("broken.pdf", b"%PDF-1.7 not really", "broken.pdf: the PDF is corrupt or unreadable"),
        (
            "broken.docx",
            b"PK\x03\x04 not a zip",
            "broken.docx: the Word document is corrupt or not a DOCX file",
        ),
        ("scan.pdf", "textless", "scan.pdf: the PDF has no text layer (a scanned image?)"),
        ("notes.txt", b"plain text", "notes.txt: not a PDF or Word (DOCX) document (the name ends .txt)"),
        ("empty.pdf", b"", "empty.pdf: the file is empty"),
    ],
)
def test_an_unreadable_file_is_refused_by_name_and_nothing_is_stored(
    signed_in: dict[str, SignedIn], engine: Engine, name: str, content: bytes | str, problem: str
) -> None:
    member = signed_in["member"]
    if content == "encrypted":
        content = encrypted(make_pdf("Secret practice."))
    elif content == "textless":
        from weasyprint import HTML

        content = bytes(
            HTML(
                string="<html><body><svg width='50' height='50'><rect width='50' height='50'/></svg></body></html>"
            ).write_pdf()
        )
    assert isinstance(content, bytes)
    before = _count(engine)
    refused = _upload(
        member,
        "/library/new",
        {"title": "A title", "audience": "everyone"},
        name,
        content,
        "application/octet-stream",
    )
    assert refused.status_code == 400
    assert 'href="#document_file"' in refused.text  # the error summary links to the file field
    assert problem in refused.text.replace("&#39;", "'")
    assert _count(engine) == before


def test_the_size_and_page_limits_come_from_the_settings(
    signed_in: dict[str, SignedIn],
    engine: Engine,
    app,  # type: ignore[no-untyped-def]
) -> None:
    member = signed_in["member"]
    settings = app.state.forewarn.settings
    two_pages = make_pdf("First page.<p style='page-break-before: always'>Second page.</p>")
    before = _count(engine)
    object.__setattr__(settings, "library_max_pages", 1)
    too_long = _upload(
        member, "/library/new", {"audience": "everyone"}, "long.pdf", two_pages, "application/pdf"
    )
    assert too_long.status_code == 400
    assert "long.pdf: the PDF has 2 pages, more than the limit of 1" in too_long.text
    object.__setattr__(settings, "library_max_pages", 500)
    object.__setattr__(settings, "library_max_file_mb", len(two_pages) / 1024 / 1024 / 2)
    too_big = _upload(
        member, "/library/new", {"audience": "everyone"}, "big.pdf", two_pages, "application/pdf"
    )
    assert too_big.status_code == 400 and "big.pdf: larger than the limit of" in too_big.text
    assert _count(engine) == before


def test_a_form_problem_asks_for_the_file_again_and_the_upload_needs_the_csrf_token(
    signed_in: dict[str, SignedIn], engine: Engine
) -> None:
    member = signed_in["member"]
    pdf = make_pdf("Text.")
    bad = _upload(
        member,
        "/library/new",
        {"date": "2024-13-01", "audience": "everyone"},
        "noon.pdf",
        pdf,
        "application/pdf",
    )
    assert bad.status_code == 400 and "Select noon.pdf again" in bad.text
    assert re.search(r'enctype="multipart/form-data"', bad.text)
    before = _count(engine)
    forged = member.client.post(
        "/library/new",
        data={"title": "Forged", "audience": "everyone"},
        files={"document_file": ("noon.pdf", pdf, "application/pdf")},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    # The token in the multipart form's own field (as the browser sends it) is accepted.
    token_in_form = member.client.post(
        "/library/new",
        data={"audience": "everyone", "csrf_token": member.csrf or ""},
        files={"document_file": ("noon.pdf", pdf, "application/pdf")},
        follow_redirects=False,
    )
    assert token_in_form.status_code == 303
    assert _count(engine) == before + 1
