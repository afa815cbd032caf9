"""What the person said about the model's replies in chat: a correction (their own version of a
reply) or a mark (good or bad).

Each row keeps what the model had been given (the system prompt and the conversation before the
reply, as chat messages), the reply, the person's version, which model wrote it and when, so
that the dataset can turn it into training (`dataset/feedback.py`) long after that model is
gone. A reply carries at most one mark: marking it again replaces the mark.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

FEEDBACK_KINDS = ("correction", "good", "bad")


@dataclass(frozen=True)
class Feedback:
    """One correction or mark, as stored."""

    id: int
    kind: str  # "correction", "good" or "bad"
    messages: list[dict]  # the system prompt and the conversation before the reply
    reply: str  # what the model wrote
    text: str | None  # the person's version (a correction), else None
    model: str  # the model that wrote the reply: a version, a run, or "base"
    created_at: float
    session_id: int | None = None

    @property
    def request_key(self) -> str:
        """The conversation before the reply, as one string: replies to the same request share
        it, so a good and a bad one make a pair."""
        return json.dumps(self.messages, sort_keys=True, ensure_ascii=False)


class FeedbackTable:
    """The `feedback` table (a part of `Store`)."""

    def add_feedback(
        self,
        kind: str,
        messages: list[dict],
        reply: str,
        *,
        model: str,
        text: str | None = None,
        session_id: int | None = None,
    ) -> int:
        """Keep a correction (with `text`, the person's version) or a mark; a new mark on the
        same reply to the same conversation replaces the old one. Returns the row's id."""
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"feedback is one of {', '.join(FEEDBACK_KINDS)}, not {kind!r}")
        if kind == "correction" and not (text or "").strip():
            raise ValueError("a correction needs the text you would have written")
        stored = json.dumps(
            [{"role": m["role"], "content": m["content"]} for m in messages], ensure_ascii=False
        )
        with self.transaction():
            if kind != "correction":
                self.db.execute(
                    "DELETE FROM feedback WHERE kind IN ('good', 'bad') AND messages = ? "
                    "AND reply = ?",
                    (stored, reply),
                )
            cursor = self.db.execute(
                "INSERT INTO feedback (kind, messages, reply, text, model, session_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, stored, reply, text, model, session_id, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def feedback(self, since: float = 0.0) -> list[Feedback]:
        """Every correction and mark (made after `since`, a Unix time), oldest first."""
        rows = self.db.execute(
            "SELECT id, kind, messages, reply, text, model, created_at, session_id "
            "FROM feedback WHERE created_at > ? ORDER BY created_at, id",
            (since,),
        )
        return [
            Feedback(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6], row[7])
            for row in rows
        ]
