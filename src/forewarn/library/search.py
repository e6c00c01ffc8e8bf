"""Full-text search of the practice library, one interface over SQLite FTS5 and PostgreSQL text search.

A query is read once, as a web search is (PostgreSQL's ``websearch_to_tsquery`` syntax): words, ``"a phrase"``,
``OR`` between two terms, ``-word`` or ``-"a phrase"`` to leave out. Words are split at anything that is not a
letter or digit (``evidence-based`` is the phrase "evidence based") and English stop words are dropped, the list
PostgreSQL's ``english`` configuration drops, so both stores look for the same terms. The parsed query is then
written for each store:

- SQLite: an FTS5 ``MATCH`` expression over ``library_search`` (the Porter stemmer), ranked by ``bm25``;
- PostgreSQL: ``websearch_to_tsquery('english', ...)`` over ``to_tsvector('english', search_text)`` (the Snowball
  English stemmer; the GIN index of migration 0012), ranked by ``ts_rank_cd``.

Both return the same documents for the same query on the same text, except where the two stemmers differ (Porter
and Snowball English disagree on a few words, e.g. "generously") or a phrase spans a stop word (PostgreSQL lets any
word stand in for a dropped stop word inside a phrase; FTS5 needs the very word). Scores differ between the stores
(bm25 against cover density), so results are ordered by each store's own relevance, then by id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from forewarn.store.models_peers import SEARCH_CONFIG

# PostgreSQL 15's tsearch_data/english.stop (the Snowball English stop words), which its english configuration drops.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    """A word or a phrase (its words in order), possibly negated."""

    words: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """Clauses all of which must match; each clause is one or more terms joined by OR."""

    clauses: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.clauses


def _words(raw: str) -> tuple[str, ...]:
    return tuple(w for w in (m.group(0).lower() for m in _WORD.finditer(raw)) if w not in STOP_WORDS)


def parse_query(raw: str) -> Query:
    """The query's terms, web-search style.

    >>> q = parse_query('learning from "peer review" OR audit -falls evidence-based')
    >>> [[t.words for t in c] for c in q.clauses], [t.words for t in q.excluded]
    ([[('learning',)], [('peer', 'review'), ('audit',)], [('evidence', 'based')]], [('falls',)])
    """
    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    join_next = False
    for match in _TOKEN.finditer(raw):
        minus, phrase, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None and bare == "OR":
            join_next = bool(clauses)
            continue
        negated = bool(minus) or (bare is not None and bare.startswith("-") and len(bare) > 1)
        words = _words(phrase if phrase is not None else bare.lstrip("-") if negated else bare)
        if not words:
            join_next = False
            continue
        term = Term(words, negated)
        if negated:
            excluded.append(term)
        elif join_next:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        join_next = False
    return Query(tuple(tuple(c) for c in clauses), tuple(excluded))


def fts5_expression(query: Query) -> str:
    """The query as an FTS5 MATCH expression (every word quoted, so nothing in it is FTS5 syntax).

    >>> fts5_expression(parse_query('peer OR audit "care plans" -falls'))
    '("peer" OR "audit") "care plans" NOT "falls"'
    """

    def term(t: Term) -> str:
        return '"' + " ".join(t.words) + '"'

    parts = []
    for clause in query.clauses:
        parts.append(
            term(clause[0]) if len(clause) == 1 else "(" + " OR ".join(term(t) for t in clause) + ")"
        )
    expression = " ".join(parts)
    for t in query.excluded:
        expression += f" NOT {term(t)}"
    return expression


def websearch_text(query: Query) -> str:
    """The query written back in websearch syntax, from the same terms (for ``websearch_to_tsquery``).

    >>> websearch_text(parse_query('peer OR audit "care plans" -falls'))
    'peer OR audit "care plans" -falls'
    """

    def term(t: Term) -> str:
        inner = " ".join(t.words)
        return f'"{inner}"' if len(t.words) > 1 else inner

    parts = [" OR ".join(term(t) for t in clause) for clause in query.clauses]
    parts.extend("-" + term(t) for t in query.excluded)
    return " ".join(parts)


@dataclass(frozen=True)
class Hit:
    id: int
    title: str
    kind: str
    date: dt.date | None
    organisation_id: int | None
    audience: str
    rank: float  # the store's own relevance score (higher is more relevant)
    snippet: str  # plain text
    highlights: list[str] = field(default_factory=list)  # the words the store matched in it
    marked: str = field(default="", repr=False)  # the snippet with HIGHLIGHT_START/END around the matches

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("marked")
        out["date"] = self.date.isoformat() if self.date else None
        return out

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, highlighted) pieces, for a page to mark up."""
        return _parts(self.marked)


def _parts(raw: str) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    for i, chunk in enumerate(re.split(f"[{HIGHLIGHT_START}{HIGHLIGHT_END}]", raw)):
        if chunk:
            pieces.append((chunk, i % 2 == 1))
    return pieces


@dataclass(frozen=True)
class Reader:
    """Whose search it is: every document (the regulator's analysts), or those shared with everyone plus the
    reader's own organisation's."""

    everything: bool
    organisation_id: int | None = None


EVERYTHING = Reader(everything=True)


def visibility_sql(reader: Reader, alias: str = "d") -> tuple[str, dict[str, Any]]:
    if reader.everything:
        return "1 = 1", {}
    if reader.organisation_id is None:
        return f"{alias}.audience = 'everyone'", {}
    return (
        f"({alias}.audience = 'everyone' OR {alias}.organisation_id = :reader_org)",
        {"reader_org": int(reader.organisation_id)},
    )


def search(conn: Connection, raw: str, *, limit: int = 20, reader: Reader = EVERYTHING) -> list[Hit]:
    """The documents matching ``raw``, most relevant first (ties by id), at most ``limit``."""
    query = parse_query(raw)
    if query.empty:
        return []
    where, params = visibility_sql(reader)
    params = {**params, "limit": int(limit), "start": HIGHLIGHT_START, "stop": HIGHLIGHT_END}
    columns = "d.id, d.title, d.kind, d.date, d.organisation_id, d.audience"
    if conn.dialect.name == "postgresql":
        params["q"] = websearch_text(query)
        sql = (
            f"WITH q AS (SELECT websearch_to_tsquery('{SEARCH_CONFIG}', :q) AS q) "
            f"SELECT {columns}, ts_rank_cd(to_tsvector('{SEARCH_CONFIG}', d.search_text), q.q) AS rank, "
            f"ts_headline('{SEARCH_CONFIG}', d.search_text, q.q, "
            "'StartSel=' || :start || ', StopSel=' || :stop || ', MaxWords=24, MinWords=10, MaxFragments=1') "
            f"FROM library_documents d, q WHERE to_tsvector('{SEARCH_CONFIG}', d.search_text) @@ q.q AND {where} "
            "ORDER BY rank DESC, d.id LIMIT :limit"
        )
    else:
        params["q"] = fts5_expression(query)
        sql = (
            f"SELECT {columns}, -bm25(library_search) AS rank, "
            "snippet(library_search, 0, :start, :stop, '…', 16) "
            "FROM library_search JOIN library_documents d ON d.id = library_search.rowid "
            f"WHERE library_search MATCH :q AND {where} ORDER BY rank DESC, d.id LIMIT :limit"
        )
    hits = []
    for row in conn.execute(text(sql), params).all():
        raw_snippet = str(row[7] or "")
        date = row[3]
        if isinstance(date, str):
            date = dt.date.fromisoformat(date)
        hit = Hit(
            id=int(row[0]),
            title=str(row[1]),
            kind=str(row[2]),
            date=date,
            organisation_id=None if row[4] is None else int(row[4]),
            audience=str(row[5]),
            rank=float(row[6]),
            snippet=raw_snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, ""),
            highlights=[p for p, marked in _parts(raw_snippet) if marked],
            marked=raw_snippet,
        )
        hits.append(hit)
    return hits


__all__ = ["EVERYTHING", "STOP_WORDS", "Hit", "Query", "Reader", "Term", "parse_query", "search"]
