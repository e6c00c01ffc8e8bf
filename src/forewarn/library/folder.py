"""``forewarn library import FOLDER``: every Markdown or text note, PDF and Word (DOCX) document in a folder (and its
subfolders), all or nothing.

Each file may open with YAML front matter between two ``---`` lines::

    ---
    title: How we cut falls with harm by a third
    kind: case_study            # note (default), case_study, experiment or document
    authors: [A. Nurse, B. Manager]
    organisation: SIM00042      # whose practice it is (optional)
    organisations: [SIM00042]   # organisations it concerns, e.g. the deviants it came from (optional)
    indicators: [sim_falls_with_harm_rate]
    date: 2022-05-01
    audience: everyone          # or organisation (its own members and the regulator only)
    summary: One line for the list.
    ---
    The text (Markdown or plain).

Without front matter the title is the first non-empty line. A PDF or DOCX file's text is extracted
(:mod:`forewarn.library.extract`); its fields may sit in a side file ``NAME.pdf.yml`` (the same fields, as YAML),
else its title and authors are the document's own properties and its kind ``document``; an encrypted, corrupt or
textless file is a problem naming the file. A file is known by its path under the folder: importing
the same folder again changes nothing (and says so), a changed file updates its document. Every problem in every
file is reported, naming the file and the field, and nothing is written until there are none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select

from forewarn.library.documents import Checked, DocumentInput, Problem, check, write_new, write_update
from forewarn.library.extract import SUFFIXES as DOCUMENT_SUFFIXES
from forewarn.library.extract import ExtractionError, extract
from forewarn.store.database import write_connection
from forewarn.store.models_peers import LibraryDocument

NOTE_SUFFIXES = {".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain"}
SUFFIXES = {**NOTE_SUFFIXES, **DOCUMENT_SUFFIXES}
FIELDS = {
    "title",
    "kind",
    "authors",
    "organisation",
    "organisations",
    "indicators",
    "date",
    "audience",
    "summary",
}
MAX_FILE_BYTES = 5_000_000


class _TextDates(yaml.SafeLoader):
    """YAML without implicit timestamps: a date stays text, checked here (so 2022-13-01 is a problem to report,
    not an exception inside the YAML reader)."""


_TextDates.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LibraryImportRejected(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s)")


@dataclass(frozen=True)
class FolderImport:
    folder: str
    files: int
    created: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.created == self.updated == 0:
            return f"{self.folder}: {self.files} file(s), all already in the library; nothing changed"
        return (
            f"{self.folder}: {self.files} file(s): {self.created} new, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


def _list(value: Any, source: str, name: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.replace(";", ",").split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v).strip() for v in value)
    problems.append(Problem(source, name, f"must be a list of text (value {value!r})"))
    return ()


def read_note(path: Path, source: str) -> tuple[DocumentInput | None, list[Problem]]:
    """A file's document, or the problems that stop it being read."""
    problems: list[Problem] = []
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [Problem(source, "file", f"larger than {MAX_FILE_BYTES:,} bytes")]
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem(source, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    meta: dict[str, Any] = {}
    body = content
    lines = content.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is None:
            return None, [Problem(source, "front matter", "opened with --- but never closed")]
        try:
            loaded = yaml.load("\n".join(lines[1:end]), Loader=_TextDates) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 2})" if mark is not None else ""
            return None, [Problem(source, "front matter", f"not valid YAML{where}")]
        if not isinstance(loaded, dict):
            return None, [Problem(source, "front matter", "must be a mapping of field: value")]
        meta = loaded
        body = "\n".join(lines[end + 1 :]).strip("\n")
    return _from_meta(meta, body, source, problems)


def _from_meta(
    meta: dict[str, Any],
    body: str,
    source: str,
    problems: list[Problem],
    *,
    kind: str = "note",
    title: str | None = None,
    authors: tuple[str, ...] = (),
) -> tuple[DocumentInput, list[Problem]]:
    """The document from its fields (front matter, or a PDF's or DOCX's side file) and its text; ``kind``,
    ``title`` and ``authors`` are the defaults when the fields do not say."""
    for unknown in sorted(set(map(str, meta)) - FIELDS):
        problems.append(Problem(source, unknown, f"unknown field (known: {', '.join(sorted(FIELDS))})"))
    title = meta.get("title", title)
    if title is None:
        first = next((line.strip().lstrip("#").strip() for line in body.splitlines() if line.strip()), "")
        title = first
    date_value = meta.get("date")
    date: dt.date | None = None
    if isinstance(date_value, dt.datetime):
        date = date_value.date()
    elif isinstance(date_value, dt.date):
        date = date_value
    elif date_value is not None:
        try:
            date = dt.date.fromisoformat(str(date_value))
        except ValueError:
            problems.append(
                Problem(source, "date", f"not a date (expected YYYY-MM-DD) (value {date_value!r})")
            )
    for name in ("title", "kind", "organisation", "audience", "summary"):
        if name in meta and meta[name] is not None and not isinstance(meta[name], str | int):
            problems.append(Problem(source, name, f"must be text (value {meta[name]!r})"))
    data = DocumentInput(
        title=str(title or ""),
        body=body,
        kind=str(meta.get("kind") or kind),
        summary=None if meta.get("summary") is None else str(meta["summary"]),
        authors=_list(meta.get("authors"), source, "authors", problems) if "authors" in meta else authors,
        date=date,
        organisation=None if meta.get("organisation") is None else str(meta["organisation"]),
        organisations=_list(meta.get("organisations"), source, "organisations", problems),
        indicators=_list(meta.get("indicators"), source, "indicators", problems),
        audience=str(meta.get("audience") or "everyone"),
    )
    return data, problems


def _side_file(path: Path, source: str) -> tuple[dict[str, Any], list[Problem]]:
    """The fields of ``NAME.pdf.yml`` (or ``.yaml``) beside a PDF or DOCX file, if there is one."""
    for suffix in (".yml", ".yaml"):
        side = path.with_name(path.name + suffix)
        if side.is_file():
            where = f"{source}{suffix}"
            try:
                loaded = yaml.load(side.read_text(encoding="utf-8-sig"), Loader=_TextDates) or {}
            except (yaml.YAMLError, UnicodeDecodeError):
                return {}, [Problem(where, "file", "not valid YAML")]
            if not isinstance(loaded, dict):
                return {}, [Problem(where, "file", "must be a mapping of field: value")]
            return loaded, []
    return {}, []


def read_document(path: Path, source: str) -> tuple[DocumentInput | None, list[Problem]]:
    """A PDF's or DOCX's document: its text extracted (:mod:`.extract`), its fields from a side file
    ``NAME.pdf.yml`` if any, else its own properties (title, author), kind ``document``."""
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [Problem(source, "file", f"larger than {MAX_FILE_BYTES:,} bytes")]
    try:
        extracted = extract(path.read_bytes(), DOCUMENT_SUFFIXES[path.suffix.lower()])
    except ExtractionError as exc:
        return None, [Problem(source, "file", str(exc))]
    meta, problems = _side_file(path, source)
    return _from_meta(
        meta,
        extracted.text,
        source,
        problems,
        kind="document",
        title=extracted.title,
        authors=extracted.authors,
    )


def import_folder(engine: Engine, folder: Path, *, actor: str) -> FolderImport:
    """Import every note under ``folder`` in one transaction; :class:`LibraryImportRejected` lists every problem."""
    if not folder.is_dir():
        raise LibraryImportRejected([Problem(str(folder), "folder", "not a folder")])
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise LibraryImportRejected(
            [Problem(str(folder), "folder", f"no notes ({', '.join(sorted(SUFFIXES))}) in it")]
        )
    problems: list[Problem] = []
    with write_connection(engine) as conn:
        checked: list[tuple[str, str, Checked]] = []
        for path in files:
            source = path.relative_to(folder).as_posix()
            reader = read_note if path.suffix.lower() in NOTE_SUFFIXES else read_document
            data, found = reader(path, source)
            problems.extend(found)
            if data is None:
                continue
            result = check(conn, data, source)
            if isinstance(result, list):
                problems.extend(result)
            elif not found:
                checked.append((source, SUFFIXES[path.suffix.lower()], result))
        if problems:
            raise LibraryImportRejected(problems)
        existing = {
            str(name): (int(i), str(digest))
            for i, name, digest in conn.execute(
                select(LibraryDocument.id, LibraryDocument.source_name, LibraryDocument.checksum).where(
                    LibraryDocument.source_name.in_([s for s, _, _ in checked])
                )
            )
        }
        created = updated = unchanged = 0
        for source, content_type, item in checked:
            if source not in existing:
                write_new(conn, item, actor, source_name=source, content_type=content_type)
                created += 1
            elif existing[source][1] != item.checksum:
                write_update(conn, existing[source][0], item, actor, content_type=content_type)
                updated += 1
            else:
                unchanged += 1
    return FolderImport(str(folder), len(files), created, updated, unchanged)


__all__ = ["FolderImport", "LibraryImportRejected", "import_folder", "read_document", "read_note"]
