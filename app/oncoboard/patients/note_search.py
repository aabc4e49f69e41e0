"""Full-text search in the notes: every word typed, accents and case ignored, best match first.

SQLite FTS5 (``notes_fts``, unicode61 tokenizer with diacritics removed) finds and ranks the
notes; the passage shown is cut in Python from the first part of the note (a bounded window), so
a very long note costs no more to show than a short one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from oncoboard.errors import NotFoundError
from oncoboard.store import Store


@dataclass(frozen=True)
class NoteHit:
    """A note matching a full-text search, with the matching passage marked."""

    note_id: str
    patient_id: str
    note_type: str | None
    date: str | None
    language: str | None
    title: str | None
    snippet: str          # the matching passage, match between ``[`` and ``]``, cut with "..."
    rank: float           # bm25 score: lower is better



def _fts_query(text: str) -> str:
    """Turn what a user typed into a safe FTS5 query: every word must appear (prefix with *)."""
    import re

    terms = []
    for m in re.finditer(r"(\w+)(\*?)", text):
        word, star = m.group(1), m.group(2)
        terms.append(f'"{word}"{star}')
    return " ".join(terms)


def search_notes(store: Store, text: str, limit: int = 20, patient_id: str | None = None,
                 mark: tuple[str, str] = ("[", "]"), tokens: int = 12) -> list[NoteHit]:
    """Return the notes containing every word of `text`, best match first.

    Ranking is bounded: the best of the :data:`RANK_WINDOW` latest notes holding every word
    (every match when fewer; within one patient, all of that patient's notes).

    Accents and case are ignored ("fievre" finds "fièvre"); a word ending in ``*`` matches as a
    prefix ("neutrop*"). The snippet marks each match with `mark` (e.g. ``("<b>", "</b>")``).

    Parameters
    ----------
    limit
        Most hits returned.
    patient_id
        Search the notes of this patient only.
    tokens
        Approximate length of the snippet, in words.
    """
    query = _fts_query(text)
    if not query:
        return []
    if patient_id is not None:
        known = store.conn.execute("SELECT 1 FROM patients WHERE id = ?", [patient_id])
        if known.fetchone() is None:
            raise NotFoundError(f"no patient with ID {patient_id!r}")
    # FTS5's snippet() takes seconds on a note of a few MB (7 s for 3 MB) and runs for every
    # match before LIMIT: rank here, then cut the snippets in Python from a bounded window.
    # bm25 is computed for the latest RANK_WINDOW matches only (a common word matches most of
    # 500,000 notes: ranking them all took 0.3 s); one patient's notes are read by the
    # patient's index first, each looked up in the full-text index by its rowid.
    cols = ("n.id, n.patient_id, n.note_type, n.date, n.language, n.title, "
            f"substr(n.text, 1, {_SNIPPET_SCAN}) AS head")
    params: list[Any]
    if patient_id is not None:
        sql = (f"SELECT {cols}, bm25(notes_fts) AS rank FROM notes n "
               "CROSS JOIN notes_fts ON notes_fts.rowid = n.rowid "
               "WHERE n.patient_id = ? AND notes_fts MATCH ? ORDER BY rank LIMIT ?")
        params = [patient_id, query, int(limit)]
    else:
        sql = (f"SELECT {cols}, m.rank FROM (SELECT rowid, bm25(notes_fts) AS rank "
               "FROM notes_fts WHERE notes_fts MATCH ? ORDER BY rowid DESC LIMIT ?) m "
               "JOIN notes n ON n.rowid = m.rowid ORDER BY m.rank LIMIT ?")
        params = [query, RANK_WINDOW, int(limit)]
    if getattr(store, "backend", "sqlite") == "postgresql":
        sql, params = _postgres_sql(text, cols, patient_id, int(limit))
    terms = _snippet_terms(text)
    hits = []
    for r in store.db.query(sql, params):
        snippet = _snippet(r["head"] or "", terms, mark, tokens)
        if snippet is None:
            snippet = _snippet(r["title"] or "", terms, mark, tokens) or _snippet(
                r["head"] or "", [], mark, tokens) or ""
        hits.append(NoteHit(note_id=r["id"], patient_id=r["patient_id"],
                            note_type=r["note_type"], date=r["date"], language=r["language"],
                            title=r["title"], snippet=snippet, rank=r["rank"]))
    return hits


def _postgres_sql(text: str, cols: str, patient_id: str | None, limit: int
                  ) -> tuple[str, list[Any]]:
    """Return the PostgreSQL search (``notes.search``, migration 1) and its parameters.

    Each word is looked up as written and stemmed in French and in English, accents and case
    ignored (``oncoboard_unaccent``); a ``word*`` is a prefix. Ranked by ts_rank_cd over the
    same bounded window as SQLite (negated: lower is better, as bm25).
    """
    parts, params = [], []
    for m in re.finditer(r"(\w+)(\*?)", text):
        word = m.group(1)
        if m.group(2):
            parts.append("to_tsquery('simple', oncoboard_unaccent(lower(?)) || ':*')")
            params.append(word)
        else:
            parts.append("(plainto_tsquery('simple', oncoboard_unaccent(lower(?))) || "
                         "plainto_tsquery('french', oncoboard_unaccent(lower(?))) || "
                         "plainto_tsquery('english', oncoboard_unaccent(lower(?))))")
            params += [word, word, word]
    query = " && ".join(parts)
    if patient_id is not None:
        sql = (f"SELECT {cols}, -ts_rank_cd(n.search, q) AS rank FROM notes n, ({'SELECT '}"
               f"{query} AS q) qq WHERE n.patient_id = ? AND n.search @@ q "
               "ORDER BY rank, n.rowid DESC LIMIT ?")
        return sql, [*params, patient_id, limit]
    sql = (f"SELECT {cols}, m.rank FROM (SELECT n.rowid, -ts_rank_cd(n.search, q) AS rank "
           f"FROM notes n, (SELECT {query} AS q) qq WHERE n.search @@ q "
           "ORDER BY n.rowid DESC LIMIT ?) m JOIN notes n ON n.rowid = m.rowid "
           "ORDER BY m.rank, n.rowid DESC LIMIT ?")
    return sql, [*params, RANK_WINDOW, limit]


#: Matches ranked by bm25: the latest notes (by insertion) that contain the words.
RANK_WINDOW = 2000
#: Characters of a note searched for the snippet (the match itself may lie further on).
_SNIPPET_SCAN = 256 * 1024


def _fold(word: str) -> str:
    """Return `word` without accents and case, as the FTS5 tokenizer indexes it."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word)
                   if not unicodedata.combining(c)).casefold()


def _snippet_terms(text: str) -> list[tuple[str, bool]]:
    """Return the folded words of a query, each with True when it is a prefix (``word*``)."""
    import re

    return [(_fold(m.group(1)), bool(m.group(2))) for m in re.finditer(r"(\w+)(\*?)", text)]


def _snippet(text: str, terms: list[tuple[str, bool]], mark: tuple[str, str],
             tokens: int) -> str | None:
    """Return about `tokens` words of `text` around its first match, matches marked.

    None when no word matches (with no `terms`: the start of the text).
    """
    import re
    from collections import deque

    def matches(word: str) -> bool:
        folded = _fold(word)
        return any(folded.startswith(t) if prefix else folded == t for t, prefix in terms)

    before: deque[re.Match[str]] = deque(maxlen=max(1, tokens // 4))
    words = re.finditer(r"\w+", text)
    first = None
    for m in words:
        if not terms or matches(m.group()):
            first = m
            break
        before.append(m)
    if first is None:
        return None
    window = [*before, first]
    for m in words:
        if len(window) >= tokens:
            break
        window.append(m)
    start, end = window[0].start(), window[-1].end()
    out, pos = [], start
    for m in window:
        out.append(text[pos:m.start()])
        out.append(f"{mark[0]}{m.group()}{mark[1]}" if terms and matches(m.group())
                   else m.group())
        pos = m.end()
    return ("..." if start > 0 else "") + "".join(out) + ("..." if end < len(text) else "")
