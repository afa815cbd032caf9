"""Chat conversations kept between sessions, in their own SQLite file next to the state database.

A separate file (`.slmtui/chat.db`) keeps chat history apart from the ingest store: the watcher
thread writes state.db constantly, and a conversation should survive a user deleting state.db to
re-ingest. The schema version is SQLite's `user_version`; `MIGRATIONS[n]` takes the file from
version n to n+1, the same pattern as the ingest store. One `Conversations` belongs to one thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
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
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX messages_conversation ON messages(conversation_id, id)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]


@dataclass
class ChatSettings:
    """What a conversation asks of the model; stored per conversation."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 256


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    content: str
    model: str = ""  # which model wrote an assistant turn


@dataclass
class Conversation:
    id: int
    title: str
    settings: ChatSettings = field(default_factory=ChatSettings)
    turns: list[Turn] = field(default_factory=list)
    updated_at: float = 0.0

    def messages(self) -> list[dict]:
        """The chat-completion messages: the system prompt, then every turn."""
        system = [{"role": "system", "content": self.settings.system_prompt}]
        return system + [{"role": t.role, "content": t.content} for t in self.turns]


class Conversations:
    """The chat history of one workspace."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA journal_mode = WAL")
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, len(MIGRATIONS)):
            with self.db:
                MIGRATIONS[step](self.db)
                self.db.execute(f"PRAGMA user_version = {step + 1}")

    def __enter__(self) -> Conversations:
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
                "INSERT INTO conversations (title, system_prompt, temperature, top_p, max_tokens,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, s.system_prompt, s.temperature, s.top_p, s.max_tokens, now, now),
            )
        return int(cursor.lastrowid)

    def add_turn(self, conversation_id: int, turn: Turn) -> None:
        """Append a turn; the first user turn names an untitled conversation."""
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO messages (conversation_id, role, content, model, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (conversation_id, turn.role, turn.content, turn.model, now),
            )
            self.db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
            if turn.role == "user":
                self.db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                    (_title_from(turn.content), conversation_id, "New conversation"),
                )

    def update_settings(self, conversation_id: int, s: ChatSettings) -> None:
        with self.db:
            self.db.execute(
                "UPDATE conversations SET system_prompt = ?, temperature = ?, top_p = ?,"
                " max_tokens = ? WHERE id = ?",
                (s.system_prompt, s.temperature, s.top_p, s.max_tokens, conversation_id),
            )

    def get(self, conversation_id: int) -> Conversation | None:
        row = self.db.execute(
            "SELECT id, title, system_prompt, temperature, top_p, max_tokens, updated_at"
            " FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            return None
        turns = [
            Turn(role, content, model)
            for role, content, model in self.db.execute(
                "SELECT role, content, model FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]
        return Conversation(
            id=row[0],
            title=row[1],
            settings=ChatSettings(row[2], row[3], row[4], row[5]),
            turns=turns,
            updated_at=row[6],
        )

    def list(self) -> list[Conversation]:
        """Every conversation, newest first, without its turns."""
        rows = self.db.execute(
            "SELECT id, title, system_prompt, temperature, top_p, max_tokens, updated_at"
            " FROM conversations ORDER BY updated_at DESC, id DESC"
        ).fetchall()
        return [
            Conversation(id=r[0], title=r[1], settings=ChatSettings(*r[2:6]), updated_at=r[6])
            for r in rows
        ]

    def delete(self, conversation_id: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def _title_from(text: str, width: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def chat_db_path(state: Path) -> Path:
    """Where a workspace keeps its conversations, given its `.slmtui/` folder."""
    return state / "chat.db"
