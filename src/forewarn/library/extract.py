"""Text of PDF and Word (DOCX) documents for the practice library: ``pypdf`` (text layer of every page) and
``python-docx`` (paragraphs and table cells in order), with the document's own title and authors when its
properties carry them.

Whatever is wrong with a file is one :class:`ExtractionError` whose message says what, for the caller to name the
file: encrypted (a PDF with a password, or a DOCX saved with one, which Word stores as an OLE container), corrupt or
not what its name says, or without any text (a scanned PDF: there is no OCR here).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUFFIXES = {".pdf": PDF, ".docx": DOCX}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Compound File Binary: how Word stores a DOCX encrypted with a password (and the old .doc format)."""


class ExtractionError(ValueError):
    """The file's text cannot be read; the message says why."""


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None
    authors: tuple[str, ...]


def extract(content: bytes, content_type: str, *, max_pages: int | None = None) -> Extracted:
    """The text, title and authors of a PDF or DOCX file's bytes; a PDF of more than ``max_pages`` pages is
    refused before its text is read (a DOCX has no page count until it is laid out: its size limits it)."""
    if content_type == PDF:
        return _pdf(content, max_pages)
    if content_type == DOCX:
        return _docx(content)
    raise ExtractionError(f"not a PDF or Word (DOCX) document ({content_type})")


def _clean(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\x00", "").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _authors(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        return ()
    return tuple(a.strip() for a in value.replace(";", ",").split(",") if a.strip())


def content_type_of(filename: str) -> str:
    """The document type a file's name says (``.pdf`` or ``.docx``), or :class:`ExtractionError`."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in SUFFIXES:
        raise ExtractionError(
            f"not a PDF or Word (DOCX) document (the name ends {suffix or 'without a suffix'}): "
            "save it as .pdf or .docx"
        )
    return SUFFIXES[suffix]


def extract_upload(filename: str, content: bytes, *, max_bytes: int, max_pages: int) -> Extracted:
    """A document sent through the web form: its type from its name, its size and pages within the limits
    (``FOREWARN_LIBRARY_MAX_FILE_MB``, ``FOREWARN_LIBRARY_MAX_PAGES``), then its text as :func:`extract`."""
    content_type = content_type_of(filename)
    if len(content) > max_bytes:
        raise ExtractionError(f"larger than the limit of {max_bytes / 1024 / 1024:g} MB")
    if not content:
        raise ExtractionError("the file is empty")
    return extract(content, content_type, max_pages=max_pages)


def _pdf(content: bytes, max_pages: int | None = None) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not content.startswith(b"%PDF"):
        raise ExtractionError("not a PDF file (it does not start with %PDF)")
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise ExtractionError("the PDF is encrypted (password protected): save a copy without a password")
        if max_pages is not None and len(reader.pages) > max_pages:
            raise ExtractionError(
                f"the PDF has {len(reader.pages)} pages, more than the limit of {max_pages}"
            )
        text = _clean("\n\n".join(page.extract_text() or "" for page in reader.pages))
        info = reader.metadata
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        raise ExtractionError(f"the PDF is corrupt or unreadable ({exc.__class__.__name__}: {exc})") from None
    if not text:
        raise ExtractionError("the PDF has no text layer (a scanned image?): there is no text to index")
    title = str(info.title).strip() if info is not None and info.title else None
    return Extracted(text, title or None, _authors(info.author if info is not None else None))


def _docx(content: bytes) -> Extracted:
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    if content.startswith(OLE_MAGIC):
        raise ExtractionError(
            "the Word document is encrypted (password protected) or in the old .doc format: save it as .docx "
            "without a password"
        )
    try:
        document = Document(io.BytesIO(content))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ExtractionError(
            f"the Word document is corrupt or not a DOCX file ({exc.__class__.__name__})"
        ) from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    text = _clean("\n".join(parts))
    if not text:
        raise ExtractionError("the Word document has no text")
    core = document.core_properties
    return Extracted(text, (core.title or "").strip() or None, _authors(core.author))


__all__ = [
    "DOCX",
    "PDF",
    "SUFFIXES",
    "Extracted",
    "ExtractionError",
    "content_type_of",
    "extract",
    "extract_upload",
]
