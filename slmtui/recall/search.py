"""What you wrote that bears on a message: passages of your writing and windows of your chats.

Two full-text indexes live in the store (`ingest/store/migrations.py`, version 10), kept in step
with `chunks` and `messages` by triggers, so what ingest stores is found at once and what it
deletes is gone at once. A query is the message's words (common words and punctuation left out,
so that nothing a person types is read as FTS5 syntax), any of which may match; each index
ranks its hits by BM25, and the two lists are merged by that score: both indexes compute it
with the same formula and parameters, and on the samples' questions (samples/qa.json) merging
by score put the right source first for half of them, against a third when merged by
reciprocal rank (the same at four notes).

A hit in a chat is shown with the turns around it in its conversation, so that it says who said
what; a passage is shown whole. What a person left out of training (a document or an example,
`ingest/store/exclusions.py`) and near-duplicate passages are never recalled.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime

# Words too common to say what a message is about.
_STOP_WORDS_TEXT = """
    a about after again all also am an and any are as at be been before being but by can could
    did do does doing don't for from had has have having he her here hers him his how i i'm if
    in into is it it's its just me more most my no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself tell told say said remember know
    think
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
MAX_TERMS = 24  # words of a message the query uses: a long message is still a quick query
# A sender's name counts for a fifth of a word of the message: "what did Tamsin say about the
# ferry" should find her lines about the ferry, not every line she wrote.
SENDER_WEIGHT = 0.2
# A hit ranked below this share of its index's best hit is left out: a match on a word that is
# everywhere (a sender's name in their own chat) says nothing about the message.
RELATIVE_FLOOR = 0.2
# Each index ranks this many times the hits wanted before what is left out (excluded documents,
# near-duplicates) is filtered: ranking alone, without the joins, is what keeps a query fast.
OVERFETCH = 8
DATED_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
# A word as the index's tokenizer cuts it (letters and digits; an apostrophe or underscore
# splits), so that each term of a query is one token: the index keeps no positions to match a
# phrase with.
WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Recalled:
    """One thing recalled: a passage of a document, or turns of a conversation."""

    kind: str  # "writing" or "chat"
    source: str  # the document's path in writing/, or the chat's name
    time: float | None  # the file's modification time, or the matched message's time
    score: float  # BM25 relevance (the rank negated): higher is better
    text: str  # the passage, or the turns as "sender: text" lines
    tokens: int  # base-model tokens of the text, as the store counted them
    path: str  # the file that holds it (for a chat: its first export file)
    rank: float  # the index's own BM25 rank (lower is better), for the curious
    chat_key: str = ""  # a chat's key in the store (the Library opens a chat by it)

    @property
    def date(self) -> str:
        if self.time is None:
            return ""
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%d")

    @property
    def label(self) -> str:
        """How a source is named to the model and to the person: 'notes.md, 2024-05-01'."""
        return f"{self.source}, {self.date}" if self.date else self.source

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "source": self.source, "date": self.date, "time": self.time,
            "score": self.score, "rank": self.rank, "tokens": self.tokens, "path": self.path,
            "chat_key": self.chat_key, "text": self.text,
        }  # fmt: skip


def query_terms(message: str) -> list[str]:
    """The words of a message worth searching for, in order, each once."""
    terms: list[str] = []
    for word in WORD.findall(message.lower()):
        if len(word) < 2 or word in STOP_WORDS or word in terms:
            continue
        terms.append(word)
    return terms[:MAX_TERMS]


def match_expression(terms: list[str]) -> str:
    """An FTS5 query matching any of the terms, each quoted so it is read as a word."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _passages(db: sqlite3.Connection, match: str, limit: int) -> list[Recalled]:
    rows = db.execute(
        """
        SELECT d.path, d.mtime_ns, c.text, c.tokens, hits.rank
        FROM (SELECT rowid, bm25(chunks_text) AS rank FROM chunks_text
              WHERE chunks_text MATCH ? ORDER BY rank LIMIT ?) AS hits
        JOIN chunks c ON c.id = hits.rowid JOIN documents d ON d.id = c.document_id
        WHERE c.duplicate_of IS NULL AND d.status = 'ok'
          AND d.path NOT IN (SELECT target FROM exclusions WHERE kind = 'document')
          AND c.hash NOT IN (SELECT target FROM exclusions WHERE kind = 'example')
        ORDER BY hits.rank LIMIT ?
        """,
        (match, limit * OVERFETCH, limit),
    ).fetchall()
    return [
        Recalled("writing", path, document_time(path, mtime_ns), 0.0, text, tokens, path, rank)
        for path, mtime_ns, text, tokens, rank in relevant(rows, lambda row: row[4])
    ]


def document_time(path: str, mtime_ns: int) -> float:
    """When a document was written: the date its name carries (journal/2025-03-31.txt), else
    the file's modification time (a copied folder's files all carry the day of the copy)."""
    for match in DATED_NAME.finditer(path):
        try:
            return datetime(*map(int, match.groups()), tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return mtime_ns / 1e9


def _message_hits(db: sqlite3.Connection, match: str, limit: int) -> list[tuple]:
    return db.execute(
        """
        SELECT m.id, m.chat_id, m.conversation, hits.rank
        FROM (SELECT rowid, bm25(messages_text, ?, 1.0) AS rank FROM messages_text
              WHERE messages_text MATCH ? ORDER BY rank LIMIT ?) AS hits
        JOIN messages m ON m.id = hits.rowid
        WHERE m.chat_id NOT IN (
            SELECT f.chat_id FROM chat_files f JOIN documents d ON d.id = f.document_id
            WHERE d.path IN (SELECT target FROM exclusions WHERE kind = 'document'))
        ORDER BY hits.rank LIMIT ?
        """,
        (SENDER_WEIGHT, match, limit * OVERFETCH, limit),
    ).fetchall()


def _window(db: sqlite3.Connection, message_id: int, chat_id: int, conversation: int | None,
            turns: int) -> list[tuple]:  # fmt: skip
    """(id, time, sender, text, tokens) of the message and up to `turns` on either side of it
    in its conversation."""
    here = db.execute("SELECT time FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
    same = "m.conversation = ?" if conversation is not None else "m.conversation IS ?"
    columns = "m.id, m.time, m.sender, m.text, m.tokens"
    before = db.execute(
        f"SELECT {columns} FROM messages m WHERE m.chat_id = ? AND {same} "
        "AND (m.time < ? OR (m.time = ? AND m.id < ?)) ORDER BY m.time DESC, m.id DESC LIMIT ?",
        (chat_id, conversation, here, here, message_id, turns),
    ).fetchall()
    after = db.execute(
        f"SELECT {columns} FROM messages m WHERE m.chat_id = ? AND {same} "
        "AND (m.time > ? OR (m.time = ? AND m.id >= ?)) ORDER BY m.time, m.id LIMIT ?",
        (chat_id, conversation, here, here, message_id, turns + 1),
    ).fetchall()
    return list(reversed(before)) + after


def _conversations(db: sqlite3.Connection, match: str, limit: int, turns: int) -> list[Recalled]:
    """Each hit with the turns around it; a hit inside a window already found adds nothing."""
    found: list[Recalled] = []
    shown: set[int] = set()
    hits = relevant(_message_hits(db, match, limit * 4), lambda hit: hit[3])
    for message_id, chat_id, conversation, rank in hits:
        if message_id in shown:
            continue
        window = _window(db, message_id, chat_id, conversation, turns)
        shown.update(row[0] for row in window)
        key, name, path = db.execute(
            "SELECT c.key, c.name, (SELECT d.path FROM chat_files f JOIN documents d "
            "ON d.id = f.document_id WHERE f.chat_id = c.id ORDER BY d.path LIMIT 1) "
            "FROM chats c WHERE c.id = ?",
            (chat_id,),
        ).fetchone()
        time = next(row[1] for row in window if row[0] == message_id)
        text = "\n".join(f"{sender}: {body}" for _, _, sender, body, _ in window)
        tokens = sum(row[4] for row in window)
        found.append(Recalled("chat", name, time, 0.0, text, tokens, path or "", rank, key))
        if len(found) == limit:
            break
    return found


def relevant(hits: list, rank_of) -> list:
    """The hits whose BM25 rank (negative: lower is better) is at least RELATIVE_FLOOR of the
    best one's."""
    if not hits:
        return hits
    best = rank_of(hits[0])
    return [hit for hit in hits if rank_of(hit) <= RELATIVE_FLOOR * best]


def merged(*ranked: list[Recalled]) -> list[Recalled]:
    """Lists from both indexes in one order, best BM25 first (ties: the order given), each
    item's score its BM25 relevance (the rank negated: higher is better)."""
    items = [item for items in ranked for item in items]
    items.sort(key=lambda item: item.rank)  # a stable sort keeps ties in the order given
    return [replace(item, score=-item.rank) for item in items]


def recall(
    db: sqlite3.Connection, message: str, *, limit: int = 4, tokens: int = 0, turns: int = 3
) -> list[Recalled]:
    """The best `limit` passages and conversation windows for a message, best first; with
    `tokens`, no more than fit in that many tokens (the first is kept even when it alone is
    longer: a note cut short still says where to look)."""
    terms = query_terms(message)
    if not terms or limit < 1:
        return []
    match = match_expression(terms)
    chosen: list[Recalled] = []
    used = 0
    for item in merged(_passages(db, match, limit), _conversations(db, match, limit, turns)):
        if tokens and chosen and used + item.tokens > tokens:
            continue
        chosen.append(item)
        used += item.tokens
        if len(chosen) == limit:
            break
    return chosen
