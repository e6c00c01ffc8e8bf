"""Nothing the app serves loads a script, a style, a font or an image from another host (Datasette's rule).

Scans every template and every static file, vendored bundles included. Licence comments (``/*! ... */``) are
skipped: they name their projects' websites but load nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forewarn.web.app import STATIC_DIR
from forewarn.web.rendering import TEMPLATES_DIR

LOADS_FROM_ANOTHER_HOST = [
    re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.I),
    re.compile(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", re.I),
    re.compile(
        r"<(img|iframe|source|video|audio|embed|object)[^>]*\b(src|data)\s*=\s*[\"']?(https?:)?//", re.I
    ),
    re.compile(r"url\(\s*[\"']?(https?:)?//", re.I),
    re.compile(r"@import\s+(url\()?\s*[\"']?(https?:)?//", re.I),
    re.compile(r"\bimport\s*\(\s*[\"'](https?:)?//", re.I),
    re.compile(r"\bfrom\s*[\"'](https?:)?//", re.I),
    re.compile(r"importScripts\s*\(\s*[\"'](https?:)?//", re.I),
    re.compile(r"\.src\s*=\s*[\"'](https?:)?//", re.I),
]
TEXT_SUFFIXES = {".html", ".js", ".mjs", ".css", ".svg", ".json", ".txt", ".md"}
LICENCE_COMMENT = re.compile(r"/\*!.*?\*/", re.S)


def served_files() -> list[Path]:
    files = [p for p in TEMPLATES_DIR.rglob("*") if p.is_file()]
    files += [p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES]
    return sorted(files)


def test_there_are_files_to_check() -> None:
    names = {p.name for p in served_files()}
    assert {"base.html", "htmx-2.0.11.min.js", "govuk-frontend.min.css", "vega-embed-7.0.2.min.js"} <= names


@pytest.mark.parametrize("path", served_files(), ids=lambda p: p.name)
def test_file_loads_nothing_from_another_host(path: Path) -> None:
    text = LICENCE_COMMENT.sub("", path.read_text(encoding="utf-8", errors="replace"))
    hits = [m.group(0)[:80] for pattern in LOADS_FROM_ANOTHER_HOST for m in pattern.finditer(text)]
    assert not hits, f"{path.name} loads from another host: {hits}"


def test_the_scan_would_catch_a_cdn_script(tmp_path: Path) -> None:
    sample = '<script src="https://cdn.example.org/x.js"></script><link rel=stylesheet href="//fonts.example/a.css">'
    hits = [p for p in LOADS_FROM_ANOTHER_HOST if p.search(sample)]
    assert len(hits) == 2
