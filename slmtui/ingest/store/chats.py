"""Chat exports as stored: chats, the files that hold them, and their messages.

A message is one row per identity (chat, time, sender, text), owned by its chat and not by a
file, so a re-export adds only what is new. Its `split` and `conversation` are decided once,
at ingest (`ingest/split_policy.py`), and read by everything after.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


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
    """A stored message: its conversation is the id of that conversation's first message
    (None only while an ingest pass is still cutting it)."""

    time: float
    sender: str
    text: str
    tokens: int
    split: str
    key: str
    conversation: int | None = None


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


class ChatTables:
    """The `chats`, `chat_files` and `messages` tables (a part of `Store`)."""

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
                # rowcount counts the rows this statement inserted (total_changes would also
                # count the recall index's rows its trigger writes).
                added += self.db.executemany(
                    "INSERT OR IGNORE INTO messages (chat_id, time, sender, text, tokens, key) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(chat_id, m.time, m.sender, m.text, m.tokens, m.key) for m in part.messages],
                ).rowcount
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
        """A chat's messages in time order, each with its conversation."""
        rows = self.db.execute(
            "SELECT m.time, m.sender, m.text, m.tokens, m.split, m.key, m.conversation "
            "FROM messages m "
            "JOIN chats c ON c.id = m.chat_id WHERE c.key = ? ORDER BY m.time, m.id",
            (chat_key,),
        )
        return [StoredMessage(*row) for row in rows]
