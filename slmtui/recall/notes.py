"""Notes for a reply: what recall found, put before the model with its sources.

Chat asks `Recaller.recall(messages)` before each reply and sends `with_notes(messages, found)`
to the model: the conversation unchanged, the system prompt followed by the notes, each
labelled with its source and date, and the instruction to say it does not remember rather than
make up a fact about your life (given too when nothing matched). The notes go with one reply
only; the saved conversation keeps the person's words and the model's, and the names of the
sources each reply was given.

The query is the person's newest message; a short follow-up ("and what colour was it?") says
too little alone, so the message before it is searched with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slmtui.config import RecallConfig
from slmtui.ingest.store import Store
from slmtui.recall.search import Recalled, query_terms, recall

FOLLOW_UP_TERMS = 3  # a message with fewer words worth searching is read with the one before

NOTES_HEADER = (
    "Notes from your own writing and chats. Use them only where they answer the message. If "
    "they do not hold the answer, say that you do not remember; never make up a fact about "
    "your life."
)
# With recall on and nothing found, the model is still told not to make your life up.
NO_NOTES = (
    "Nothing in your own writing or chats matches this message. If it asks about your life, "
    "say that you do not remember; never make up a fact about it."
)


def recall_query(messages: list[dict]) -> str:
    """The text to search for: the newest user message, with the user message before it when
    the newest alone has fewer than FOLLOW_UP_TERMS words to search for."""
    asked = [m["content"] for m in messages if m["role"] == "user"]
    if not asked:
        return ""
    if len(query_terms(asked[-1])) >= FOLLOW_UP_TERMS or len(asked) == 1:
        return asked[-1]
    return f"{asked[-1]}\n{asked[-2]}"


def notes_text(found: list[Recalled]) -> str:
    """The notes as the model reads them: a header, then each note under its source (when
    there are none, that there are none)."""
    if not found:
        return NO_NOTES
    blocks = [f"[{n}] {item.label}\n{item.text.strip()}" for n, item in enumerate(found, 1)]
    return "\n\n".join([NOTES_HEADER, *blocks])


def with_notes(messages: list[dict], found: list[Recalled]) -> list[dict]:
    """The messages the model is sent: the notes after the system prompt (or as one)."""
    notes = notes_text(found)
    if messages and messages[0]["role"] == "system":
        system = {"role": "system", "content": f"{messages[0]['content']}\n\n{notes}"}
        return [system, *messages[1:]]
    return [{"role": "system", "content": notes}, *messages]


@dataclass
class Recaller:
    """Recall over one workspace's store with its `[recall]` settings; opens the store for each
    search, so any thread may call it (a SQLite connection belongs to the thread that made it)."""

    db_path: Path
    settings: RecallConfig

    def notes(self, messages: list[dict]) -> tuple[list[dict], list[dict]]:
        """The messages with their notes, and the notes' sources (`source_of`)."""
        found = self.recall(messages)
        return with_notes(messages, found), [source_of(item) for item in found]

    def recall(self, messages: list[dict]) -> list[Recalled]:
        query = recall_query(messages)
        if not query:
            return []
        with Store(self.db_path) as store:
            return recall(
                store.db,
                query,
                limit=self.settings.passages,
                tokens=self.settings.tokens,
                turns=self.settings.turns,
            )


def source_of(item: Recalled) -> dict:
    """What a reply keeps of a note: enough to name its source and open it."""
    return {"kind": item.kind, "source": item.source, "date": item.date, "path": item.path,
            "chat_key": item.chat_key}  # fmt: skip


def source_name(source: dict) -> str:
    """'journal/2025-03-31.txt (2025-03-31)', or 'chat with Ana Lopes (2026-01-01)'."""
    name = source["source"] if source["kind"] == "writing" else f"chat {source['source']}"
    return f"{name} ({source['date']})" if source.get("date") else name


def sources_line(sources: list[dict]) -> str:
    """The sources a reply was given, in a line."""
    if not sources:
        return "from: nothing you wrote matched"
    return "from: " + " · ".join(source_name(source) for source in sources)
