"""The workspace's state database: documents, chunks and the near-duplicate index, in SQLite.

WAL mode lets the app read while a watcher thread or `slmtui ingest` writes. The schema version is
SQLite's `user_version`; `MIGRATIONS[n]` takes a database from version n to n+1, so an old
workspace opens in a new slmtui without losing anything. One `Store` belongs to one thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slmtui.ingest import dedupe
from slmtui.ingest.dialogue import split_conversations


def _run(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one: executescript() would commit the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            format TEXT,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT,
            split_key TEXT,
            split TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'skipped')),
            reason TEXT,
            chars INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ord INTEGER NOT NULL,
            hash TEXT NOT NULL,
            text TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            split TEXT NOT NULL,
            UNIQUE (document_id, ord)
        );
        CREATE INDEX chunks_hash ON chunks(hash);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    """Deduplication: folded-text hash, MinHash signature and LSH bands per chunk."""
    _run(
        db,
        """
        ALTER TABLE chunks ADD COLUMN norm_hash TEXT;
        ALTER TABLE chunks ADD COLUMN signature BLOB;
        ALTER TABLE chunks ADD COLUMN duplicate_of INTEGER;
        CREATE INDEX chunks_norm_hash ON chunks(norm_hash);
        CREATE INDEX chunks_duplicate_of ON chunks(duplicate_of);
        CREATE TABLE chunk_bands (
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            key INTEGER NOT NULL
        );
        CREATE INDEX chunk_bands_lookup ON chunk_bands(key);
        CREATE INDEX chunk_bands_chunk ON chunk_bands(chunk_id);
        """,
    )
    # Chunks stored before dedupe existed have no signatures: re-read their documents next time.
    db.execute("UPDATE documents SET content_hash = NULL")


def _v3(db: sqlite3.Connection) -> None:
    """The dataset builder's cache of generated prompts, one row per chunk, kind and generator.

    `accepted` records the filter's verdict when the text was generated; a rejection is kept too,
    so that a chunk the model fails on is not sent to it again at every build.
    """
    _run(
        db,
        """
        CREATE TABLE prompt_cache (
            chunk_hash TEXT NOT NULL,
            kind TEXT NOT NULL,
            generator_key TEXT NOT NULL,
            output TEXT NOT NULL,
            accepted INTEGER NOT NULL,
            reason TEXT,
            created_at REAL NOT NULL,
            PRIMARY KEY (chunk_hash, kind, generator_key)
        ) WITHOUT ROWID
        """,
    )


def _v4(db: sqlite3.Connection) -> None:
    """What the person left out of training: one example (by its chunk's hash) or a whole
    document (by its path in writing/). The file stays in writing/ and in the store."""
    _run(
        db,
        """
        CREATE TABLE exclusions (
            kind TEXT NOT NULL CHECK (kind IN ('example', 'document')),
            target TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (kind, target)
        ) WITHOUT ROWID
        """,
    )


def _v5(db: sqlite3.Connection) -> None:
    """Held-out passages instead of held-out documents: every chunk text ever stored remembers
    its split, so an edit, a rename or a re-chunk never moves trained text into validation.
    An old store keeps the split its chunks already had."""
    _run(
        db,
        """
        CREATE TABLE splits (
            hash TEXT PRIMARY KEY,
            split TEXT NOT NULL CHECK (split IN ('train', 'val'))
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO splits (hash, split)
            SELECT hash, split FROM chunks WHERE split IN ('train', 'val')
        """,
    )


def _v6(db: sqlite3.Connection) -> None:
    """Chat exports: the chats, which files each came from, and their messages. A message is one
    row per identity (chat, time, sender, text), owned by its chat and not by a file, so a
    re-export of a chat adds only what is new; `split` is its conversation's, decided once."""
    _run(
        db,
        """
        CREATE TABLE chats (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            format TEXT NOT NULL,
            members TEXT NOT NULL DEFAULT '[]'
        );
        CREATE TABLE chat_files (
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            dropped TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (document_id, chat_id)
        ) WITHOUT ROWID;
        CREATE INDEX chat_files_chat ON chat_files(chat_id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            time REAL NOT NULL,
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            key TEXT NOT NULL UNIQUE,
            split TEXT NOT NULL DEFAULT 'new'
        );
        CREATE INDEX messages_chat_time ON messages(chat_id, time);
        CREATE INDEX messages_new ON messages(chat_id) WHERE split = 'new';
        CREATE INDEX messages_val ON messages(chat_id, time) WHERE split = 'val';
        CREATE INDEX messages_split_tokens ON messages(split, tokens)
        """,
    )


def _v7(db: sqlite3.Connection) -> None:
    """A chat's other names for its senders (a Discord account name beside the nickname shown),
    and what each file's read of a chat should tell a person (a guessed date order); messages
    found by time, for the chat an export without chat ids continues."""
    _run(
        db,
        """
        ALTER TABLE chats ADD COLUMN aliases TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE chat_files ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX messages_time ON messages(time)
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database is from a newer slmtui or is damaged."""


@dataclass(frozen=True)
class DocumentRow:
    id: int
    path: str
    format: str | None
    size: int
    mtime_ns: int
    content_hash: str | None
    split_key: str | None
    split: str | None
    status: str
    reason: str | None
    chars: int
    chunks: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class NewChunk:
    text: str
    tokens: int
    hash: str
    norm_hash: str
    signature: np.ndarray


@dataclass
class Exclusions:
    """Chunk hashes and document paths the person left out of training."""

    examples: set[str] = field(default_factory=set)
    documents: set[str] = field(default_factory=set)

    def excludes(self, chunk: LiveChunk) -> bool:
        return chunk.hash in self.examples or chunk.path in self.documents


@dataclass(frozen=True)
class LiveChunk:
    """A chunk that counts (not a duplicate), with where it comes from."""

    hash: str
    text: str
    tokens: int
    split: str
    path: str
    ord: int


@dataclass(frozen=True)
class CachedPrompt:
    """What a generator wrote for one chunk, and whether the filter accepted it then."""

    output: str
    accepted: bool
    reason: str | None


@dataclass(frozen=True)
class NewMessage:
    """A message about to be stored: identity key, time, sender, text and its token count."""

    key: str
    time: float
    sender: str
    text: str
    tokens: int


@dataclass
class ChatPart:
    """What one file says about one chat: its name and members, what was dropped, and the
    messages not already stored."""

    key: str
    name: str
    format: str
    members: list[str]
    dropped: dict[str, int]
    messages: list[NewMessage]
    notes: list[str] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredMessage:
    time: float
    sender: str
    text: str
    tokens: int
    split: str
    key: str


@dataclass(frozen=True)
class ChatRow:
    """A chat as the Library and `slmtui status` show it."""

    key: str
    name: str
    format: str
    members: list[str]
    paths: list[str]
    messages: int
    tokens: int
    participants: dict[str, int]  # sender -> messages, most first
    dropped: dict[str, int]
    val_messages: int
    notes: list[str] = field(default_factory=list)  # from the files' reads of this chat
    aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Stats:
    documents_ok: int = 0
    documents_skipped: int = 0
    chunks: int = 0
    tokens_train: int = 0
    tokens_val: int = 0
    val_documents: int = 0  # documents with at least one held-out passage
    chats: int = 0
    messages: int = 0
    val_messages: int = 0
    duplicates_removed: int = 0
    per_format: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "documents_ok": self.documents_ok,
            "documents_skipped": self.documents_skipped,
            "skipped": self.skipped,
            "chunks": self.chunks,
            "tokens_train": self.tokens_train,
            "tokens_val": self.tokens_val,
            "val_documents": self.val_documents,
            "chats": self.chats,
            "messages": self.messages,
            "val_messages": self.val_messages,
            "tokens": self.tokens_train + self.tokens_val,
            "duplicates_removed": self.duplicates_removed,
            "per_format": self.per_format,
        }


_DOCUMENT_COLUMNS = (
    "d.id, d.path, d.format, d.size, d.mtime_ns, d.content_hash, d.split_key, d.split, "
    "d.status, d.reason, d.chars"
)


class Store:
    def __init__(self, path: Path, *, near_duplicate_threshold: float = 0.8):
        self.path = path
        self.threshold = near_duplicate_threshold
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def _enable_wal(self) -> None:
        """Switch to WAL; switching needs a moment alone with a brand-new file, so retry."""
        deadline = time.monotonic() + 30
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this slmtui "
                f"({SCHEMA_VERSION}); upgrade slmtui to open it."
            )
        while current < target:
            with self.transaction():
                # Read again under the write lock: another connection may have migrated already.
                current = self.version
                if current >= target:
                    break
                MIGRATIONS[current](self.db)
                self.db.execute(f"PRAGMA user_version = {current + 1}")
            current += 1

    @contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        """A part of a transaction that can be undone alone (one file of an ingest group):
        an exception rolls back what was written inside it, and goes on up."""
        name = f"part{id(self)}"
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield self.db
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested uses join the outer one (ingest groups many files)."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def forget_hashes(self) -> None:
        """Make the next ingest read every document again (the chunking settings changed)."""
        self.db.execute("UPDATE documents SET content_hash = NULL, mtime_ns = -1")

    # -- documents ---------------------------------------------------------------------------

    def document(self, path: str) -> DocumentRow | None:
        row = self.db.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.path = ?", (path,)
        ).fetchone()
        return DocumentRow(*row) if row else None

    def documents(self) -> list[DocumentRow]:
        """Every document with its live chunk and token counts, by path."""
        rows = self.db.execute(
            f"""
            SELECT {_DOCUMENT_COLUMNS},
                   COUNT(c.id) FILTER (WHERE c.duplicate_of IS NULL),
                   COALESCE(SUM(c.tokens) FILTER (WHERE c.duplicate_of IS NULL), 0)
            FROM documents d LEFT JOIN chunks c ON c.document_id = d.id
            GROUP BY d.id ORDER BY d.path
            """
        )
        return [DocumentRow(*row) for row in rows]

    def paths(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT path FROM documents")}

    def paths_under(self, prefix: str) -> list[str]:
        """Document paths equal to prefix or inside the folder prefix."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(
            "SELECT path FROM documents WHERE path = ? OR path LIKE ? ESCAPE '\\'",
            (prefix, escaped + "/%"),
        )
        return [row[0] for row in rows]

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        self.db.execute(
            "UPDATE documents SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path)
        )

    def rename(self, old: str, new: str, size: int, mtime_ns: int) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM documents WHERE path = ?", (new,))
            self.db.execute(
                "UPDATE documents SET path = ?, size = ?, mtime_ns = ?, updated_at = ? "
                "WHERE path = ?",
                (new, size, mtime_ns, time.time(), old),
            )

    def record_skip(
        self, path: str, reason: str, size: int, mtime_ns: int, fmt: str | None = None
    ) -> None:
        """A file that gives no text: keep its row (with reason), drop any chunks it had."""
        with self.transaction():
            orphans = self._delete_chunks_of(path)
            self.db.execute(
                """
                INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key,
                                       split, status, reason, chars, updated_at)
                VALUES (?, ?, ?, ?, NULL, NULL, NULL, 'skipped', ?, 0, ?)
                ON CONFLICT(path) DO UPDATE SET format = excluded.format, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, content_hash = NULL, split = NULL,
                    status = 'skipped', reason = excluded.reason, chars = 0,
                    updated_at = excluded.updated_at
                """,
                (path, fmt, size, mtime_ns, reason, time.time()),
            )
            self._recheck(orphans)
            self._unlink_chats(path)

    def remove(self, paths: Iterable[str]) -> int:
        removed = 0
        with self.transaction():
            for path in paths:
                orphans = self._delete_chunks_of(path)
                removed += self.db.execute("DELETE FROM documents WHERE path = ?", (path,)).rowcount
                self._recheck(orphans)
            self._drop_orphan_chats()
        return removed

    def replace_document(
        self,
        *,
        path: str,
        fmt: str,
        size: int,
        mtime_ns: int,
        content_hash: str,
        split_key: str,
        chars: int,
        chunks: list[NewChunk],
    ) -> int:
        """Store a document and its chunks in one transaction; returns duplicates found.

        A chunk whose text had a split keeps it; a new text waits as 'new' until
        `assign_new_splits` decides at the end of the pass."""
        with self.transaction():
            orphans = self._delete_chunks_of(path)
            self.db.execute(
                """
                INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key,
                                       split, status, reason, chars, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'new', 'ok', NULL, ?, ?)
                ON CONFLICT(path) DO UPDATE SET format = excluded.format, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,
                    split_key = excluded.split_key, split = 'new', status = 'ok',
                    reason = NULL, chars = excluded.chars, updated_at = excluded.updated_at
                """,
                (path, fmt, size, mtime_ns, content_hash, split_key, chars, time.time()),
            )
            document_id = self.db.execute(
                "SELECT id FROM documents WHERE path = ?", (path,)
            ).fetchone()[0]
            duplicates = 0
            for order, chunk in enumerate(chunks):
                duplicate_of = self._find_duplicate(chunk.norm_hash, chunk.signature)
                duplicates += duplicate_of is not None
                split = self._remembered_split(chunk.hash)
                chunk_id = self.db.execute(
                    """
                    INSERT INTO chunks (document_id, ord, hash, text, tokens, split, norm_hash,
                                        signature, duplicate_of)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        document_id, order, chunk.hash, chunk.text, chunk.tokens, split,
                        chunk.norm_hash, dedupe.to_blob(chunk.signature), duplicate_of,
                    ),
                ).lastrowid  # fmt: skip
                if duplicate_of is None:
                    self._index(chunk_id, chunk.signature)
            self._recheck(orphans)
            self._unlink_chats(path)
        return duplicates

    def _remembered_split(self, chunk_hash: str) -> str:
        row = self.db.execute("SELECT split FROM splits WHERE hash = ?", (chunk_hash,)).fetchone()
        return row[0] if row else "new"

    def assign_new_splits(self, fraction: float, min_documents: int = 5) -> int:
        """Decide 'train' or 'val' for every chunk text seen for the first time; returns how
        many went to validation.

        New texts are taken in hash order (random, but the same on every machine). One goes to
        validation while held-out tokens are under `fraction` of all tokens, or, in a corpus of
        at least 10 documents, while fewer than `min_documents` documents have a held-out
        passage and its document has none yet; never when it would take the held-out share
        past twice `fraction` (a corpus of one passage trains on it). A decision is
        remembered by text for good: trained text never becomes validation, and new writing
        never reshuffles old."""
        live = self.db.execute(
            "SELECT id, hash, tokens, split, document_id FROM chunks WHERE duplicate_of IS NULL"
        ).fetchall()
        total = sum(row[2] for row in live)
        held_tokens = sum(row[2] for row in live if row[3] == "val")
        held_documents = {row[4] for row in live if row[3] == "val"}
        documents = len({row[4] for row in live})
        wanted_documents = min_documents if documents >= 10 else 0
        fresh = self.db.execute(
            "SELECT id, hash, tokens, document_id, duplicate_of FROM chunks "
            "WHERE split = 'new' ORDER BY hash, id"
        ).fetchall()
        decided: dict[str, str] = {}
        for chunk_id, chunk_hash, tokens, document_id, duplicate_of in fresh:
            split = decided.get(chunk_hash)
            if split is None:
                short_of_tokens = held_tokens < fraction * total
                short_of_documents = (
                    len(held_documents) < wanted_documents and document_id not in held_documents
                )
                # Never past twice the share: a corpus of one or two passages trains on them.
                fits = held_tokens + tokens <= 2 * fraction * total
                wanted = short_of_tokens or short_of_documents
                split = "val" if duplicate_of is None and fits and wanted else "train"
                decided[chunk_hash] = split
                if split == "val":
                    held_tokens += tokens
                    held_documents.add(document_id)
            self.db.execute("UPDATE chunks SET split = ? WHERE id = ?", (split, chunk_id))
        self.db.executemany(
            "INSERT OR IGNORE INTO splits (hash, split) VALUES (?, ?)", decided.items()
        )
        self._summarise_document_splits()
        return sum(split == "val" for split in decided.values())

    def _summarise_document_splits(self) -> None:
        """documents.split: 'val' when all its passages are held out, 'part' when some are."""
        self.db.execute(
            """
            UPDATE documents SET split = (
                SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                            WHEN SUM(c.split = 'val') = 0 THEN 'train'
                            WHEN SUM(c.split = 'val') = COUNT(*) THEN 'val'
                            ELSE 'part' END
                FROM chunks c WHERE c.document_id = documents.id)
            WHERE status = 'ok'
            """
        )

    # -- chats -------------------------------------------------------------------------------

    def newest_message(self, chat_key: str, oldest_in_export: float) -> float | None:
        """The newest stored time of a chat, when an export starting at `oldest_in_export`
        cannot hold anything older than the store has (else None: read it all)."""
        row = self.db.execute(
            "SELECT MIN(m.time), MAX(m.time) FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.key = ?",
            (chat_key,),
        ).fetchone()
        if row is None or row[0] is None or oldest_in_export < row[0] - 1:
            return None
        return row[1]

    def chat_holding(self, fmt: str, messages: list[tuple[float, str]]) -> str | None:
        """The stored chat of this format that holds most of these (time, sender) messages, when
        it holds at least two of them (or the one): how an export without chat ids finds the
        chat it continues."""
        found: Counter = Counter()
        for when, sender in messages:
            found.update(
                {
                    row[0]
                    for row in self.db.execute(
                        "SELECT c.key FROM messages m JOIN chats c ON c.id = m.chat_id "
                        "WHERE m.time = ? AND m.sender = ? AND c.format = ?",
                        (when, sender, fmt),
                    )
                }
            )
        if not found:
            return None
        key, count = found.most_common(1)[0]
        return key if count >= min(2, len(messages)) else None

    def message_keys(self, chat_key: str, since: float) -> set[str]:
        """Identity keys of a chat's stored messages at or after `since`."""
        rows = self.db.execute(
            "SELECT m.key FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.key = ? AND m.time >= ?",
            (chat_key, since),
        )
        return {row[0] for row in rows}

    def replace_chat_document(
        self,
        *,
        path: str,
        fmt: str,
        size: int,
        mtime_ns: int,
        content_hash: str,
        parts: Iterable[ChatPart],
    ) -> tuple[int, int]:
        """Store a chat export file: its row, its chats and their new messages, each part as
        it comes (`parts` may read them one at a time); returns (chats, new messages).
        Messages already stored (from an earlier export) stay."""
        with self.transaction():
            orphans = self._delete_chunks_of(path)
            self.db.execute(
                """
                INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key,
                                       split, status, reason, chars, updated_at)
                VALUES (?, ?, ?, ?, ?, NULL, NULL, 'ok', NULL, 0, ?)
                ON CONFLICT(path) DO UPDATE SET format = excluded.format, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,
                    split_key = NULL, split = NULL, status = 'ok', reason = NULL,
                    updated_at = excluded.updated_at
                """,
                (path, fmt, size, mtime_ns, content_hash, time.time()),
            )
            self._recheck(orphans)
            document_id = self.db.execute(
                "SELECT id FROM documents WHERE path = ?", (path,)
            ).fetchone()[0]
            self.db.execute("DELETE FROM chat_files WHERE document_id = ?", (document_id,))
            added = chats = new_chars = 0
            for part in parts:
                chats += 1
                new_chars += sum(len(m.text) for m in part.messages)
                chat_id = self._chat_id(part)
                self.db.execute(
                    "INSERT INTO chat_files (document_id, chat_id, dropped, notes) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        document_id,
                        chat_id,
                        json.dumps(part.dropped, sort_keys=True),
                        json.dumps(part.notes, ensure_ascii=False),
                    ),
                )
                before = self.db.total_changes
                self.db.executemany(
                    "INSERT OR IGNORE INTO messages (chat_id, time, sender, text, tokens, key) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(chat_id, m.time, m.sender, m.text, m.tokens, m.key) for m in part.messages],
                )
                added += self.db.total_changes - before
            self._drop_orphan_chats()
            # Characters of text this file brought (a re-export adds to what the earlier
            # version of the file brought), without reading every message again.
            self.db.execute(
                "UPDATE documents SET chars = chars + ? WHERE id = ?", (new_chars, document_id)
            )
        return chats, added

    def participants(self, chat_keys: list[str]) -> Counter:
        """Messages stored per sender, over these chats."""
        found: Counter = Counter()
        for key in chat_keys:
            found.update(
                dict(
                    self.db.execute(
                        "SELECT m.sender, COUNT(*) FROM messages m JOIN chats c "
                        "ON c.id = m.chat_id WHERE c.key = ? GROUP BY m.sender",
                        (key,),
                    ).fetchall()
                )
            )
        return found

    def _chat_id(self, part: ChatPart) -> int:
        self.db.execute(
            "INSERT INTO chats (key, name, format, members, aliases) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET name = excluded.name, members = excluded.members, "
            "aliases = excluded.aliases",
            (
                part.key,
                part.name,
                part.format,
                json.dumps(part.members, ensure_ascii=False),
                json.dumps(part.aliases, ensure_ascii=False, sort_keys=True),
            ),
        )
        return self.db.execute("SELECT id FROM chats WHERE key = ?", (part.key,)).fetchone()[0]

    def _unlink_chats(self, path: str) -> None:
        """A file that is no longer a chat export (skipped, or read as writing) holds no chat."""
        self.db.execute(
            "DELETE FROM chat_files WHERE document_id IN (SELECT id FROM documents WHERE path = ?)",
            (path,),
        )
        self._drop_orphan_chats()

    def _drop_orphan_chats(self) -> None:
        """A chat whose every export file is gone goes, with its messages."""
        self.db.execute("DELETE FROM chats WHERE id NOT IN (SELECT chat_id FROM chat_files)")

    def assign_message_splits(
        self, fraction: float, gap_seconds: float, min_conversations: int = 5
    ) -> int:
        """Decide 'train' or 'val' for new messages, a conversation at a time; returns how many
        conversations went to validation.

        New messages that continue a conversation take its split: validation only when every
        message it already had was validation, so trained text never becomes validation. A
        conversation made only of new messages is decided like a passage (`assign_new_splits`):
        in the order of its first message's key, held out while held-out tokens are under
        `fraction` of all message tokens (or, with 10 or more conversations, while fewer than
        `min_conversations` are held out), never past twice the fraction.

        Only the conversations that hold new messages are read: a re-export that adds a day
        costs that day, not the chat's whole history."""
        chat_ids = [
            row[0]
            for row in self.db.execute("SELECT DISTINCT chat_id FROM messages WHERE split = 'new'")
        ]
        if not chat_ids:
            return 0
        total, held = self.db.execute(
            "SELECT COALESCE(SUM(tokens), 0), "
            "COALESCE(SUM(tokens) FILTER (WHERE split = 'val'), 0) FROM messages"
        ).fetchone()
        conversations = self._conversation_starts(gap_seconds, None, limit=10)
        held_conversations = self._conversation_starts(gap_seconds, "val")
        fresh: list[tuple[str, list[int], int]] = []
        updates: list[tuple[str, int]] = []
        for chat_id in chat_ids:
            for conversation in split_conversations(
                self._rows_from_new(chat_id, gap_seconds), lambda r: r[1], gap_seconds
            ):
                splits = {row[2] for row in conversation}
                new_ids = [row[0] for row in conversation if row[2] == "new"]
                if not new_ids:
                    continue
                if "train" in splits:
                    updates += [("train", i) for i in new_ids]
                elif "val" in splits:
                    updates += [("val", i) for i in new_ids]
                    held += sum(row[3] for row in conversation if row[2] == "new")
                else:
                    tokens = sum(row[3] for row in conversation)
                    fresh.append((conversation[0][4], new_ids, tokens))
                    conversations += 1
        decided_val = 0
        wanted_conversations = min_conversations if conversations >= 10 else 0
        for _, ids, tokens in sorted(fresh):
            short = held < fraction * total or held_conversations < wanted_conversations
            fits = held + tokens <= 2 * fraction * total
            split = "val" if short and fits else "train"
            if split == "val":
                held += tokens
                held_conversations += 1
                decided_val += 1
            updates += [(split, i) for i in ids]
        self.db.executemany("UPDATE messages SET split = ? WHERE id = ?", updates)
        return decided_val

    def _rows_from_new(self, chat_id: int, gap_seconds: float) -> list[tuple]:
        """(id, time, split, tokens, key) of a chat from the start of the conversation that
        holds its earliest new message: found by walking back to the first silence."""
        earliest = self.db.execute(
            "SELECT MIN(time) FROM messages WHERE chat_id = ? AND split = 'new'", (chat_id,)
        ).fetchone()[0]
        start = earliest
        for (when,) in self.db.execute(
            "SELECT time FROM messages WHERE chat_id = ? AND time < ? ORDER BY time DESC",
            (chat_id, earliest),
        ):
            if start - when > gap_seconds:
                break
            start = when
        return self.db.execute(
            "SELECT id, time, split, tokens, key FROM messages WHERE chat_id = ? AND time >= ? "
            "ORDER BY time, id",
            (chat_id, start),
        ).fetchall()

    def _conversation_starts(self, gap_seconds: float, split: str | None, limit: int = 0) -> int:
        """How many conversations of decided messages there are (`split` None), or held out
        (`split` "val"), counting at most `limit` (0: all). Conversations are separated by more
        than the gap, so consecutive held-out messages further apart than that belong to
        different held-out conversations: one ordered read of the (indexed) rows counts them."""
        where = "split = 'val'" if split == "val" else "split != 'new'"
        rows = self.db.execute(
            f"SELECT chat_id, time FROM messages WHERE {where} ORDER BY chat_id, time"
        )
        count, last = 0, None
        for chat_id, when in rows:
            if last is None or last[0] != chat_id or when - last[1] > gap_seconds:
                count += 1
                if limit and count >= limit:
                    break
            last = (chat_id, when)
        return count

    def chats(self) -> list[ChatRow]:
        """Every chat with its files, counts and participants, by name."""
        found = []
        for chat_id, key, name, fmt, members, aliases in self.db.execute(
            "SELECT id, key, name, format, members, aliases FROM chats ORDER BY name, key"
        ).fetchall():
            paths, dropped, notes = [], {}, []
            for path, drops, file_notes in self.db.execute(
                "SELECT d.path, f.dropped, f.notes FROM chat_files f "
                "JOIN documents d ON d.id = f.document_id WHERE f.chat_id = ? ORDER BY d.path",
                (chat_id,),
            ):
                paths.append(path)
                notes.extend(n for n in json.loads(file_notes) if n not in notes)
                for reason, count in json.loads(drops).items():
                    dropped[reason] = dropped.get(reason, 0) + count
            participants = dict(
                self.db.execute(
                    "SELECT sender, COUNT(*) AS n FROM messages WHERE chat_id = ? "
                    "GROUP BY sender ORDER BY n DESC, sender",
                    (chat_id,),
                ).fetchall()
            )
            messages, tokens, val = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens), 0), COUNT(*) FILTER (WHERE split = 'val') "
                "FROM messages WHERE chat_id = ?",
                (chat_id,),
            ).fetchone()
            found.append(
                ChatRow(
                    key,
                    name,
                    fmt,
                    json.loads(members),
                    paths,
                    messages,
                    tokens,
                    participants,
                    dropped,
                    val,
                    notes,
                    json.loads(aliases),
                )
            )
        return found

    def chat_messages(self, chat_key: str) -> list[StoredMessage]:
        """A chat's messages in time order."""
        rows = self.db.execute(
            "SELECT m.time, m.sender, m.text, m.tokens, m.split, m.key FROM messages m "
            "JOIN chats c ON c.id = m.chat_id WHERE c.key = ? ORDER BY m.time, m.id",
            (chat_key,),
        )
        return [StoredMessage(*row) for row in rows]

    def known_chunk(self, chunk_hash: str) -> tuple[int, np.ndarray] | None:
        """Tokens and signature of a chunk already stored with this exact text, if any."""
        row = self.db.execute(
            "SELECT tokens, signature FROM chunks WHERE hash = ? AND signature IS NOT NULL LIMIT 1",
            (chunk_hash,),
        ).fetchone()
        return (row[0], dedupe.from_blob(row[1])) if row else None

    # -- duplicates --------------------------------------------------------------------------

    def _find_duplicate(self, norm_hash: str, sig: np.ndarray) -> int | None:
        row = self.db.execute(
            "SELECT id FROM chunks WHERE norm_hash = ? AND duplicate_of IS NULL LIMIT 1",
            (norm_hash,),
        ).fetchone()
        if row:
            return row[0]
        keys = dedupe.band_keys(sig)
        candidates = self.db.execute(
            # CROSS JOIN and the unary + keep SQLite on the band index: left to itself it
            # scans every original chunk through the duplicate_of index, which is quadratic.
            f"SELECT DISTINCT c.id, c.signature FROM chunk_bands b CROSS JOIN chunks c "
            f"ON c.id = b.chunk_id WHERE b.key IN ({','.join('?' * len(keys))}) "
            f"AND +c.duplicate_of IS NULL ORDER BY c.id",
            keys,
        )
        for chunk_id, blob in candidates:
            if dedupe.similarity(sig, dedupe.from_blob(blob)) >= self.threshold:
                return chunk_id
        return None

    def _index(self, chunk_id: int, sig: np.ndarray) -> None:
        self.db.executemany(
            "INSERT INTO chunk_bands (chunk_id, key) VALUES (?, ?)",
            [(chunk_id, key) for key in dedupe.band_keys(sig)],
        )

    def _delete_chunks_of(self, path: str) -> list[int]:
        """Delete a document's chunks; return the chunks elsewhere that were their duplicates."""
        orphans = [
            row[0]
            for row in self.db.execute(
                """
                SELECT dup.id FROM chunks dup JOIN chunks c ON dup.duplicate_of = c.id
                JOIN documents d ON d.id = c.document_id
                WHERE d.path = ? AND dup.document_id != d.id ORDER BY dup.id
                """,
                (path,),
            )
        ]
        self.db.execute(
            "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE path = ?)",
            (path,),
        )
        return orphans

    def _recheck(self, chunk_ids: list[int]) -> None:
        """Chunks whose original went away are duplicates of something else, or originals now."""
        for chunk_id in chunk_ids:
            norm_hash, blob = self.db.execute(
                "SELECT norm_hash, signature FROM chunks WHERE id = ?", (chunk_id,)
            ).fetchone()
            # Mark it as not-an-original while searching, so that it cannot match itself.
            self.db.execute("UPDATE chunks SET duplicate_of = -1 WHERE id = ?", (chunk_id,))
            duplicate_of = self._find_duplicate(norm_hash, dedupe.from_blob(blob))
            self.db.execute(
                "UPDATE chunks SET duplicate_of = ? WHERE id = ?", (duplicate_of, chunk_id)
            )
            if duplicate_of is None:
                self._index(chunk_id, dedupe.from_blob(blob))

    # -- reading -----------------------------------------------------------------------------

    def chunks_of(self, path: str) -> list[tuple[int, str, int, str, int | None]]:
        """(order, text, tokens, split, duplicate_of) for one document's chunks."""
        return list(
            self.db.execute(
                """
                SELECT c.ord, c.text, c.tokens, c.split, c.duplicate_of FROM chunks c
                JOIN documents d ON d.id = c.document_id WHERE d.path = ? ORDER BY c.ord
                """,
                (path,),
            )
        )

    def live_chunks(self) -> list[LiveChunk]:
        """Every chunk that is not a duplicate, by document path and order."""
        rows = self.db.execute(
            """
            SELECT c.hash, c.text, c.tokens, c.split, d.path, c.ord FROM chunks c
            JOIN documents d ON d.id = c.document_id
            WHERE c.duplicate_of IS NULL ORDER BY d.path, c.ord
            """
        )
        return [LiveChunk(*row) for row in rows]

    # -- prompt cache ------------------------------------------------------------------------

    def cached_prompts(self, kind: str, generator_key: str) -> dict[str, CachedPrompt]:
        """Generated text for one kind and generator, by chunk hash."""
        rows = self.db.execute(
            "SELECT chunk_hash, output, accepted, reason FROM prompt_cache "
            "WHERE kind = ? AND generator_key = ?",
            (kind, generator_key),
        )
        return {row[0]: CachedPrompt(row[1], bool(row[2]), row[3]) for row in rows}

    def cache_prompt(
        self,
        chunk_hash: str,
        kind: str,
        generator_key: str,
        output: str,
        *,
        accepted: bool,
        reason: str | None = None,
    ) -> None:
        self.db.execute(
            """
            INSERT INTO prompt_cache (chunk_hash, kind, generator_key, output, accepted, reason,
                                      created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(chunk_hash, kind, generator_key) DO UPDATE SET output = excluded.output,
                accepted = excluded.accepted, reason = excluded.reason,
                created_at = excluded.created_at
            """,
            (chunk_hash, kind, generator_key, output, int(accepted), reason, time.time()),
        )

    def forget_prompt(self, chunk_hash: str, kind: str, generator_key: str) -> None:
        """Drop a cached request, so that it is written again (asked for by the person)."""
        self.db.execute(
            "DELETE FROM prompt_cache WHERE chunk_hash = ? AND kind = ? AND generator_key = ?",
            (chunk_hash, kind, generator_key),
        )

    # -- exclusions ----------------------------------------------------------------------------

    def set_excluded(self, kind: str, target: str, excluded: bool) -> None:
        """Leave an example (kind 'example', a chunk hash) or a document (its path) out of
        training, or take it back in."""
        if excluded:
            self.db.execute(
                "INSERT OR IGNORE INTO exclusions (kind, target, created_at) VALUES (?, ?, ?)",
                (kind, target, time.time()),
            )
        else:
            self.db.execute("DELETE FROM exclusions WHERE kind = ? AND target = ?", (kind, target))

    def exclusions(self) -> Exclusions:
        found = Exclusions()
        for kind, target in self.db.execute("SELECT kind, target FROM exclusions"):
            (found.examples if kind == "example" else found.documents).add(target)
        return found

    def stats(self) -> Stats:
        stats = Stats()
        for status, count in self.db.execute(
            "SELECT status, COUNT(*) FROM documents GROUP BY status"
        ):
            if status == "ok":
                stats.documents_ok = count
            else:
                stats.documents_skipped = count
        for split, count, tokens in self.db.execute(
            "SELECT split, COUNT(*), SUM(tokens) FROM chunks WHERE duplicate_of IS NULL "
            "GROUP BY split"
        ):
            stats.chunks += count
            if split == "val":
                stats.tokens_val = tokens
            else:
                stats.tokens_train += tokens
        stats.val_documents = self.db.execute(
            "SELECT COUNT(DISTINCT document_id) FROM chunks "
            "WHERE split = 'val' AND duplicate_of IS NULL"
        ).fetchone()[0]
        stats.chats = self.db.execute("SELECT COUNT(*) FROM chats").fetchone()[0]
        stats.messages, stats.val_messages = self.db.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE split = 'val') FROM messages"
        ).fetchone()
        stats.duplicates_removed = self.db.execute(
            "SELECT COUNT(*) FROM chunks WHERE duplicate_of IS NOT NULL"
        ).fetchone()[0]
        for fmt, documents, chunks, tokens in self.db.execute(
            """
            SELECT d.format, COUNT(DISTINCT d.id), COUNT(c.id), COALESCE(SUM(c.tokens), 0)
            FROM documents d LEFT JOIN chunks c
              ON c.document_id = d.id AND c.duplicate_of IS NULL
            WHERE d.status = 'ok' GROUP BY d.format ORDER BY d.format
            """
        ):
            stats.per_format[fmt] = {"documents": documents, "chunks": chunks, "tokens": tokens}
        stats.skipped = [
            {"path": path, "reason": reason}
            for path, reason in self.db.execute(
                "SELECT path, reason FROM documents WHERE status = 'skipped' ORDER BY path"
            )
        ]
        return stats
