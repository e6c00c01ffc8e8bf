"""PDF and Word (DOCX) documents in the library: their text extracted on ``forewarn library import`` with their
fields from a side file or their own properties, found by search; an encrypted, corrupt or textless file refuses
the whole import with a problem naming the file. Fixtures are generated here: a PDF by WeasyPrint (then encrypted by
pypdf), a DOCX by python-docx."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from forewarn.library.extract import DOCX, PDF, ExtractionError, extract
from forewarn.library.folder import LibraryImportRejected, import_folder
from forewarn.library.search import search
from forewarn.store.database import read_connection
from forewarn.store.models_peers import LibraryDocument
from tests.library.test_library import seed


def make_pdf(text: str, title: str = "Discharge before noon", author: str = "A. Nurse; B. Manager") -> bytes:
    from weasyprint import HTML

    html = f"<html><head><title>{title}</title><meta name=author content='{author}'></head><body><p>{text}</p></body></html>"
    return bytes(HTML(string=html).write_pdf())


def encrypted(pdf: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], title: str = "", author: str = "") -> bytes:
    from docx import Document

    document = Document()
    for p in paragraphs:
        document.add_paragraph(p)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Ward"
    table.rows[0].cells[1].text = "Twelve"
    document.core_properties.title = title
    document.core_properties.author = author
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_text_title_and_authors_are_extracted() -> None:
    pdf = extract(make_pdf("Patients leave before noon when the pharmacy starts early."), PDF)
    assert "pharmacy starts early" in pdf.text
    assert pdf.title == "Discharge before noon" and pdf.authors == ("A. Nurse", "B. Manager")
    docx = extract(make_docx(["Safety huddles.", "", "Every shift."], "Huddles", "C. Doctor"), DOCX)
    assert docx.text == "Safety huddles.\n\nEvery shift.\nWard | Twelve"
    assert docx.title == "Huddles" and docx.authors == ("C. Doctor",)


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog", PDF, "corrupt or unreadable"),
        (b"GIF89a not a pdf", PDF, "not a PDF file"),
        (b"PK\x03\x04 not really a zip", DOCX, "corrupt or not a DOCX file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, DOCX, "encrypted (password protected)"),
    ],
)
def test_bad_files_say_what_is_wrong(content: bytes, kind: str, message: str) -> None:
    with pytest.raises(ExtractionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        extract(content, kind)


def test_an_encrypted_pdf_is_refused() -> None:
    with pytest.raises(ExtractionError, match="encrypted"):
        extract(encrypted(make_pdf("Hidden text.")), PDF)


def test_documents_are_imported_and_found(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    folder = tmp_path / "library"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "discharge.pdf").write_bytes(
        make_pdf("Patients leave before noon when the pharmacy starts early.")
    )
    (folder / "huddles.docx").write_bytes(make_docx(["Safety huddles at every shift change."], "", ""))
    (folder / "huddles.docx.yml").write_text(
        "title: Huddles that work\nkind: case_study\norganisation: LIBA\nindicators: [lib_falls]\n",
        encoding="utf-8",
    )
    done = import_folder(engine, folder, actor="tester")
    assert (done.files, done.created) == (2, 2)
    with read_connection(engine) as conn:
        rows = conn.execute(
            select(
                LibraryDocument.title,
                LibraryDocument.kind,
                LibraryDocument.content_type,
                LibraryDocument.authors,
            ).order_by(LibraryDocument.title)
        ).all()
        assert [(t, str(k), c, list(a)) for t, k, c, a in rows] == [
            ("Discharge before noon", "document", PDF, ["A. Nurse", "B. Manager"]),
            ("Huddles that work", "case_study", DOCX, []),
        ]
        assert [h.title for h in search(conn, "pharmacy")] == ["Discharge before noon"]
        assert [h.title for h in search(conn, "huddles shift")] == ["Huddles that work"]
    assert import_folder(engine, folder, actor="tester").unchanged == 2  # idempotent


def test_an_encrypted_or_corrupt_document_refuses_the_whole_import(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "good.md").write_text("# A good note\n\nText.", encoding="utf-8")
    (folder / "locked.pdf").write_bytes(encrypted(make_pdf("Hidden text.")))
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(LibraryImportRejected) as refused:
        import_folder(engine, folder, actor="tester")
    assert sorted(str(p) for p in refused.value.problems) == sorted(
        [
            "broken.docx, field 'file': the Word document is corrupt or not a DOCX file (BadZipFile)",
            "locked.pdf, field 'file': the PDF is encrypted (password protected): save a copy without a password",
        ]
    )
    with read_connection(engine) as conn:
        assert conn.execute(select(LibraryDocument.id)).first() is None
