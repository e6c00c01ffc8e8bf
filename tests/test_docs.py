"""Every Python example in the documentation runs, so none can rot.

Each page's ```python blocks run in order in one namespace, from the repository's root (the examples read the
bundled data in ``data/``); the API's docstring examples run as doctests. The simulator's page runs in a temporary
folder, since its examples write a store and simulated files under ``var/``.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
IN_TEMPORARY_FOLDER = {"simulator.md"}
"""Pages whose examples write files: they run in a temporary folder, not the repository."""


def pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


def test_there_are_examples_to_run() -> None:
    assert {"api.md"} <= {p.name for p in pages()}


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_the_pages_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path if page.name in IN_TEMPORARY_FOLDER else ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), start=1):
        try:
            exec(compile(code, f"{page.name} (example {number})", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which example failed
            raise AssertionError(f"{page.name}, example {number} failed: {exc!r}\n{code}") from exc


def test_the_apis_docstring_examples_run() -> None:
    import forewarn.api

    failed, attempted = doctest.testmod(
        forewarn.api, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    assert attempted > 0 and failed == 0


def test_every_page_is_in_the_site() -> None:
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"(\S+\.md)\s*$", site, re.M))
    assert {p.name for p in DOCS.glob("*.md")} <= listed, "a page in docs/ is missing from mkdocs.yml's nav"
    assert "font: false" in site  # offline: no Google fonts
