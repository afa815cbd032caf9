"""Saved chats with the model ("sessions"), in their own SQLite file next to the state database.

A separate file (`.slmtui/chat.db`) keeps chat history apart from the ingest store: the watcher
thread writes state.db constantly, and a session should survive a user deleting state.db to
re-ingest. Its schema changes are in `ingest/store/migrations.py` (`SESSION_MIGRATIONS`), applied
by the same runner as the store's. One `Sessions` belongs to one thread.

A session is not a chat export's conversation (`ingest/store/chats.py`) nor a held-out one
(`eval/conversations.py`): it is what a person said to the model, and what it answered.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from slmtui.ingest.store.migrations import SESSION_MIGRATIONS, migrate

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass
class ChatSettings:
    """What a session asks of the model; stored per session."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 256


@dataclass
class SessionMessage:
    """One line of a session: the person's (`user`) or the model's (`assistant`)."""

    role: str  # "user" or "assistant"
    content: str
    model: str = ""  # which model wrote an assistant turn
    # What recall gave the model for this reply (recall/notes.py: `source_of`); empty when
    # recall was off or found nothing.
    sources: list[dict] = field(default_factory=list)


@dataclass
class Session:
    """A saved chat: its title, its settings and, when read whole, its messages."""

    id: int
    title: str
    settings: ChatSettings = field(default_factory=ChatSettings)
    messages: list[SessionMessage] = field(default_factory=list)
    updated_at: float = 0.0

    def chat_messages(self) -> list[dict]:
        """The chat-completion messages: the system prompt, then every turn."""
        system = [{"role": "system", "content": self.settings.system_prompt}]
        return system + [{"role": t.role, "content": t.content} for t in self.messages]


class Sessions:
    """The saved chats of one workspace."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA journal_mode = WAL")
        migrate(self.db, SESSION_MIGRATIONS, path)

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def create(self, title: str = "New conversation", settings: ChatSettings | None = None) -> int:
        s = settings or ChatSettings()
        now = time.time()
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO sessions (title, system_prompt, temperature, top_p, max_tokens,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, s.system_prompt, s.temperature, s.top_p, s.max_tokens, now, now),
            )
        return int(cursor.lastrowid)

    def add_message(self, session_id: int, message: SessionMessage) -> None:
        """Append a message; the person's first one names an untitled session."""
        now = time.time()
        sources = json.dumps(message.sources, ensure_ascii=False)
        with self.db:
            self.db.execute(
                "INSERT INTO session_messages (session_id, role, content, model, sources,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, message.role, message.content, message.model, sources, now),
            )
            self.db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))
            if message.role == "user":
                self.db.execute(
                    "UPDATE sessions SET title = ? WHERE id = ? AND title = ?",
                    (_title_from(message.content), session_id, "New conversation"),
                )

    def correct_last_reply(self, session_id: int, text: str) -> None:
        """Your version in place of the session's last reply, so the conversation goes on from
        it (the model's own stays in the store's feedback table, beside yours)."""
        with self.db:
            self.db.execute(
                "UPDATE session_messages SET content = ? WHERE id = (SELECT max(id) FROM "
                "session_messages WHERE session_id = ? AND role = 'assistant')",
                (text, session_id),
            )
            self.db.execute(
                "UPDATE sessions SET updated_at = ? WHERE id = ?", (time.time(), session_id)
            )

    def update_settings(self, session_id: int, s: ChatSettings) -> None:
        with self.db:
            self.db.execute(
                "UPDATE sessions SET system_prompt = ?, temperature = ?, top_p = ?,"
                " max_tokens = ? WHERE id = ?",
                (s.system_prompt, s.temperature, s.top_p, s.max_tokens, session_id),
            )

    def get(self, session_id: int) -> Session | None:
        row = self.db.execute(
            "SELECT id, title, system_prompt, temperature, top_p, max_tokens, updated_at"
            " FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        messages = [
            SessionMessage(role, content, model, json.loads(sources))
            for role, content, model, sources in self.db.execute(
                "SELECT role, content, model, sources FROM session_messages WHERE session_id = ? "
                "ORDER BY id",
                (session_id,),
            )
        ]
        return Session(
            id=row[0],
            title=row[1],
            settings=ChatSettings(row[2], row[3], row[4], row[5]),
            messages=messages,
            updated_at=row[6],
        )

    def list(self) -> list[Session]:
        """Every session, newest first, without its messages."""
        rows = self.db.execute(
            "SELECT id, title, system_prompt, temperature, top_p, max_tokens, updated_at"
            " FROM sessions ORDER BY updated_at DESC, id DESC"
        ).fetchall()
        return [
            Session(id=r[0], title=r[1], settings=ChatSettings(*r[2:6]), updated_at=r[6])
            for r in rows
        ]

    def delete(self, session_id: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


def _title_from(text: str, width: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def chat_db_path(state: Path) -> Path:
    """Where a workspace keeps its saved chats, given its `.slmtui/` folder."""
    return state / "chat.db"
