"""The practice library: a folder import (all or nothing, errors naming file and field, idempotent), documents
written and read back with their links, and full-text search giving the same results on SQLite FTS5 and
PostgreSQL (run with FOREWARN_TEST_DATABASE=postgresql too) on a fixture corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.library.documents import (
    DocumentInput,
    DocumentRejected,
    create_document,
    documents_about,
    get_document,
    update_document,
)
from forewarn.library.folder import LibraryImportRejected, import_folder
from forewarn.library.search import Reader, parse_query, search
from forewarn.settings import get_settings
from forewarn.store.database import read_connection, write_connection
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_peers import LibraryDocument

CORPUS = Path(__file__).parent / "corpus"


def seed(engine: Engine) -> dict[str, int]:
    with write_connection(engine) as conn:
        ids = {}
        for code, name in (
            ("LIBA", "Organisation Alpha"),
            ("LIBB", "Organisation Beta"),
            ("LIBC", "Gamma Trust"),
        ):
            ids[code] = conn.execute(
                insert(Organisation).values(code=code, name=name).returning(Organisation.id)
            ).scalar_one()
        conn.execute(
            insert(Indicator).values(
                code="lib_falls",
                name="Falls with harm per 1,000 bed days",
                kind="rate",
                polarity="lower_is_better",
            )
        )
    return ids


@pytest.fixture
def library(engine: Engine) -> dict[str, int]:
    ids = seed(engine)
    import_folder(engine, CORPUS, actor="tester")
    with read_connection(engine) as conn:
        by_source = dict(conn.execute(select(LibraryDocument.source_name, LibraryDocument.id)).all())
    return {**ids, **{str(k).split(".")[0]: int(v) for k, v in by_source.items()}}


# The fixture corpus' expected results: each query's documents (by file name), most relevant first where the
# order is clear-cut (the first), the rest as a set. Both stores must give exactly these.
EXPECTED = {
    "falls": ("falls", set()),
    "learning": (None, {"falls", "peers"}),  # learning, learned, learn: one stem
    '"peer review"': ("peers", set()),
    "discharge OR reminders": (None, {"discharge", "experiment"}),
    "staff -retention": ("huddles", set()),
    "Organisation Alpha": (
        None,
        set(),
    ),  # organisations' names are not searchable (visibility decides who sees them)
    "lib_falls": ("falls", set()),
    "huddles": ("huddles", {"falls"}),  # three huddles against one huddle
    "audit medication": ("audit", set()),
    "the of and": (None, set()),  # stop words only
    "-falls": (None, set()),  # nothing to look for
    "inspection": (None, {"peers", "confidential"}),
}


@pytest.mark.parametrize("query", list(EXPECTED))
def test_search_gives_the_expected_documents(engine: Engine, library: dict[str, int], query: str) -> None:
    first, rest = EXPECTED[query]
    with read_connection(engine) as conn:
        hits = search(conn, query)
    names = {v: k for k, v in library.items() if k not in ("LIBA", "LIBB", "LIBC")}
    found = [names[h.id] for h in hits]
    expected = ({first} if first else set()) | rest
    assert set(found) == expected, (engine.dialect.name, found)
    if first:
        assert found[0] == first
    ranks = [h.rank for h in hits]
    assert ranks == sorted(ranks, reverse=True)
    for hit in hits:
        assert hit.snippet and "\x02" not in hit.snippet
        assert json.loads(json.dumps(hit.to_dict()))["id"] == hit.id


def test_readers_see_shared_documents_and_their_own(engine: Engine, library: dict[str, int]) -> None:
    with read_connection(engine) as conn:
        outsider = {h.id for h in search(conn, "inspection", reader=Reader(False, library["LIBC"]))}
        owner = {h.id for h in search(conn, "inspection", reader=Reader(False, library["LIBB"]))}
        nobody = {h.id for h in search(conn, "inspection", reader=Reader(False, None))}
    assert outsider == nobody == {library["peers"]}
    assert owner == {library["peers"], library["confidential"]}


def test_the_query_is_read_once_for_both_stores() -> None:
    q = parse_query('"peer review" OR audit -"weekend delays" the')
    assert [[t.words for t in c] for c in q.clauses] == [[("peer", "review"), ("audit",)]]
    assert [t.words for t in q.excluded] == [("weekend", "delays")]
    assert parse_query("NOT a query OR").clauses == (tuple(parse_query("query").clauses[0]),)


def test_import_is_idempotent_and_updates_changed_files(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    folder = tmp_path / "notes"
    shutil.copytree(CORPUS, folder)
    first = import_folder(engine, folder, actor="tester")
    assert (first.files, first.created, first.updated, first.unchanged) == (8, 8, 0, 0)
    again = import_folder(engine, folder, actor="tester")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert "nothing changed" in again.summary()
    (folder / "discharge.md").write_text(
        (folder / "discharge.md").read_text().replace("Weekend delays", "Weekend waits"), encoding="utf-8"
    )
    third = import_folder(engine, folder, actor="someone else")
    assert (third.created, third.updated, third.unchanged) == (0, 1, 7)
    with read_connection(engine) as conn:
        assert [h.title for h in search(conn, "waits")] == ["Faster discharge planning"]
        assert search(conn, "delays") == []
        doc_id = conn.execute(
            select(LibraryDocument.id).where(LibraryDocument.source_name == "discharge.md")
        ).scalar_one()
        doc = get_document(conn, doc_id)
    assert doc is not None and doc.updated_by == "someone else" and doc.organisation_code == "LIBB"


def test_a_bad_folder_is_refused_whole_with_every_problem_named(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    folder = tmp_path / "bad"
    shutil.copytree(CORPUS, folder)
    (folder / "sub").mkdir()
    (folder / "sub" / "broken.md").write_text(
        "---\ntitle: Broken\nkind: memo\ndate: 2022-13-01\norganisations: [LIBA, NOPE]\nindicators: [zzz]\n"
        "colour: red\n---\nSome text.\n",
        encoding="utf-8",
    )
    (folder / "empty.md").write_text("---\ntitle: Nothing here\n---\n", encoding="utf-8")
    (folder / "open.md").write_text("---\ntitle: never closed\n", encoding="utf-8")
    with pytest.raises(LibraryImportRejected) as caught:
        import_folder(engine, folder, actor="tester")
    messages = [str(p) for p in caught.value.problems]
    assert (
        "sub/broken.md, field 'colour': unknown field"
        in messages[messages.index(next(m for m in messages if "colour" in m))]
    )
    expected = [
        "sub/broken.md, field 'date': not a date (expected YYYY-MM-DD) (value '2022-13-01')",
        "sub/broken.md, field 'kind': must be one of note, case_study, experiment, document (value 'memo')",
        "sub/broken.md, field 'organisations': no organisation with code 'NOPE'",
        "sub/broken.md, field 'indicators': no indicator with code 'zzz'",
        "empty.md, field 'body': empty",
        "open.md, field 'front matter': opened with --- but never closed",
    ]
    for message in expected:
        assert message in messages, messages
    with read_connection(engine) as conn:
        assert conn.execute(select(LibraryDocument.id)).first() is None  # nothing written
        assert search(conn, "falls") == []


def test_documents_are_created_edited_and_linked(engine: Engine, library: dict[str, int]) -> None:
    data = DocumentInput(
        title="Night checks for patients at risk",
        body="A second check at 2am for every patient at risk of a fall.",
        kind="note",
        authors=("G. Nurse",),
        organisation="LIBC",
        organisations=("LIBA",),
        indicators=("lib_falls",),
    )
    with write_connection(engine) as conn:
        new_id = create_document(conn, data, "member@example.org")
        with pytest.raises(DocumentRejected, match="field 'title': missing"):
            create_document(conn, DocumentInput(title=" ", body="x"), "member@example.org")
    with read_connection(engine) as conn:
        doc = get_document(conn, new_id)
        assert doc is not None
        assert [c for _, c, _ in doc.organisations] == ["LIBA"] and doc.indicators[0][0] == "lib_falls"
        assert {h.id for h in search(conn, "2am")} == {new_id}
        about = documents_about(conn, organisation_ids=[library["LIBA"]], indicator="lib_falls")
    assert about == sorted([library["falls"], new_id])
    edited = DocumentInput(**{**doc.as_input().__dict__, "body": "A second check at 3am instead."})
    with write_connection(engine) as conn:
        update_document(conn, new_id, edited, "analyst@example.org")
    with read_connection(engine) as conn:
        assert search(conn, "2am") == [] and {h.id for h in search(conn, "3am")} == {new_id}


def test_the_library_commands(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(engine)
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(app, ["library", "import", str(CORPUS), "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["result"]["created"] == 8
        found = runner.invoke(app, ["library", "search", "discharge OR reminders", "--json"])
        assert found.exit_code == 0, found.output
        assert {r["title"] for r in json.loads(found.stdout)["results"]} == {
            "Faster discharge planning",
            "Randomised trial of text reminders",
        }
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "x.md").write_text("---\ntitle: X\nkind: memo\n---\nText.\n", encoding="utf-8")
        refused = runner.invoke(app, ["library", "import", str(bad)])
        assert refused.exit_code == 1
        assert "x.md, field 'kind': must be one of" in refused.stderr
        assert "nothing was written" in refused.stderr
    finally:
        get_settings.cache_clear()
