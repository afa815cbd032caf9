"""Every schema change of slmtui's two SQLite files, and the one runner that applies them.

A file's schema version is SQLite's `user_version`; `STATE_MIGRATIONS[n]` takes the workspace
store (`state.db`) from version n to n+1, `SESSION_MIGRATIONS[n]` the saved chats (`chat.db`).
Each step runs in one transaction with the version bump, so an old workspace opens in a new
slmtui without losing anything, and a step is never half applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from slmtui.ingest.dialogue import DEFAULT_GAP_SECONDS, conversation_labels

Migration = Callable[[sqlite3.Connection], None]


class StoreError(RuntimeError):
    """The database is from a newer slmtui or is damaged."""


def _run(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one: executescript() would commit the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _state_v1(db: sqlite3.Connection) -> None:
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


def _state_v2(db: sqlite3.Connection) -> None:
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


def _state_v3(db: sqlite3.Connection) -> None:
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


def _state_v4(db: sqlite3.Connection) -> None:
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


def _state_v5(db: sqlite3.Connection) -> None:
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


def _state_v6(db: sqlite3.Connection) -> None:
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


def _state_v7(db: sqlite3.Connection) -> None:
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


def _state_v8(db: sqlite3.Connection) -> None:
    """The base model's written requests are "requests" everywhere: the cache table too."""
    db.execute("ALTER TABLE prompt_cache RENAME TO requests")


def _state_v9(db: sqlite3.Connection) -> None:
    """Conversations cut once: each message names the first message of its conversation, so
    the dataset, the Library and evaluation read the cut that decided the splits instead of
    cutting again with today's setting. Filled here with the default gap (two hours); the
    ingestor re-cuts every chat when `[ingest] conversation_gap_minutes` says otherwise."""
    db.execute("ALTER TABLE messages ADD COLUMN conversation INTEGER")
    db.execute("CREATE INDEX messages_conversation ON messages(chat_id, conversation)")
    chat_ids = [row[0] for row in db.execute("SELECT id FROM chats")]
    for chat_id in chat_ids:
        rows = db.execute(
            "SELECT id, time FROM messages WHERE chat_id = ? ORDER BY time, id", (chat_id,)
        ).fetchall()
        db.executemany(
            "UPDATE messages SET conversation = ? WHERE id = ?",
            conversation_labels(rows, DEFAULT_GAP_SECONDS),
        )
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('conversation_gap_seconds', ?)",
        (repr(DEFAULT_GAP_SECONDS),),
    )


def _state_v10(db: sqlite3.Connection) -> None:
    """Full-text indexes over the stored passages and messages (recall/): FTS5 tables that read
    their text from `chunks` and `messages`, kept in step by triggers, so a passage or message
    is searchable in the same transaction that stores it and gone in the one that deletes it
    (a removed file, a chat whose last export went). Filled here from what is stored. Words
    are indexed without their positions (`detail=column`): recall asks for words, never for
    phrases, and positions made ingest with the index about 1.7 times as slow."""
    for table, columns in (("chunks", "text"), ("messages", "sender, text")):
        index = f"{table}_text"
        values = ", ".join(f"new.{c.strip()}" for c in columns.split(","))
        old_values = ", ".join(f"old.{c.strip()}" for c in columns.split(","))
        db.execute(
            f"CREATE VIRTUAL TABLE {index} USING fts5({columns}, content='{table}', "
            f"content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', "
            f"detail=column)"
        )
        db.execute(
            f"CREATE TRIGGER {table}_indexed AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {index} (rowid, {columns}) VALUES (new.id, {values}); END"
        )
        db.execute(
            f"CREATE TRIGGER {table}_unindexed AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {index} ({index}, rowid, {columns}) "
            f"VALUES ('delete', old.id, {old_values}); END"
        )
        db.execute(
            f"CREATE TRIGGER {table}_reindexed AFTER UPDATE OF {columns} ON {table} BEGIN "
            f"INSERT INTO {index} ({index}, rowid, {columns}) "
            f"VALUES ('delete', old.id, {old_values}); "
            f"INSERT INTO {index} (rowid, {columns}) VALUES (new.id, {values}); END"
        )
        db.execute(f"INSERT INTO {index} ({index}) VALUES ('rebuild')")


def _state_v11(db: sqlite3.Connection) -> None:
    """What the person told slmtui about a reply in chat: their own version of it (a
    correction) or a mark (good, bad), kept with what the model had been given (the system
    prompt and the conversation before the reply, as JSON messages) and which model wrote it.
    It lives in the store, not with a model, so deleting a version loses none of it."""
    _run(
        db,
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('correction', 'good', 'bad')),
            messages TEXT NOT NULL,
            reply TEXT NOT NULL,
            text TEXT,
            model TEXT NOT NULL,
            session_id INTEGER,
            created_at REAL NOT NULL
        );
        CREATE INDEX feedback_time ON feedback(created_at)
        """,
    )


STATE_MIGRATIONS: list[Migration] = [
    _state_v1, _state_v2, _state_v3, _state_v4, _state_v5, _state_v6, _state_v7, _state_v8,
    _state_v9, _state_v10, _state_v11,
]  # fmt: skip


def _sessions_v1(db: sqlite3.Connection) -> None:
    """Saved chats with the model: one row per session, one per message in it."""
    _run(
        db,
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            system_prompt TEXT NOT NULL,
            temperature REAL NOT NULL,
            top_p REAL NOT NULL,
            max_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, id)
        """,
    )


def _sessions_v2(db: sqlite3.Connection) -> None:
    """A saved chat is a "session" and its lines "session messages": apart from the chat
    exports' conversations and messages in state.db."""
    _run(
        db,
        """
        ALTER TABLE conversations RENAME TO sessions;
        ALTER TABLE messages RENAME TO session_messages;
        ALTER TABLE session_messages RENAME COLUMN conversation_id TO session_id;
        DROP INDEX messages_conversation;
        CREATE INDEX session_messages_session ON session_messages(session_id, id)
        """,
    )


def _sessions_v3(db: sqlite3.Connection) -> None:
    """The sources recall gave a reply (JSON: kind, source, date, path, chat key), shown under
    it when the session is reopened."""
    db.execute("ALTER TABLE session_messages ADD COLUMN sources TEXT NOT NULL DEFAULT '[]'")


SESSION_MIGRATIONS: list[Migration] = [_sessions_v1, _sessions_v2, _sessions_v3]


def migrate(
    db: sqlite3.Connection,
    migrations: Sequence[Migration],
    path: Path,
    target: int | None = None,
) -> None:
    """Apply the steps `db` lacks, each with its version bump in one write transaction.

    The version is read again under the write lock (another connection may have migrated in
    the meantime). A file newer than this slmtui is refused, not touched."""
    target = len(migrations) if target is None else target
    current = _version(db)
    if current > len(migrations):
        raise StoreError(
            f"{path} has schema version {current}, newer than this slmtui "
            f"({len(migrations)}); upgrade slmtui to open it."
        )
    while current < target:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = _version(db)
            if current < target:
                migrations[current](db)
                db.execute(f"PRAGMA user_version = {current + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        current = _version(db)


def _version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]
