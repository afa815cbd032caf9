"""Telling slmtui about a reply in chat: your own version of it, or good, or bad.

The Chat screen and `slmtui chat` share this: the plain chat's commands (`/fix TEXT`, `/good`,
`/bad`) are read here, every kind is kept in the store's `feedback` table with what the model
had been given, and "waiting" counts what the next training run would learn that the newest
finished run did not (the dataset turns it into examples: `dataset/feedback.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slmtui import runs
from slmtui.ingest.store import Feedback, Store
from slmtui.workspace import Workspace

COMMANDS = {"/fix": "correction", "/good": "good", "/bad": "bad"}
HELP = "/fix TEXT: what you would have said instead; /good, /bad: mark the last reply"


@dataclass(frozen=True)
class FeedbackCommand:
    """A chat line that is feedback on the last reply, not a message to the model."""

    kind: str  # "correction", "good" or "bad"
    text: str | None = None  # a correction's text


class FeedbackError(ValueError):
    """A feedback command that cannot be kept; the message says what to do."""


def parse_command(line: str) -> FeedbackCommand | None:
    """The command a chat line is (None when it is a message for the model)."""
    word, _, rest = line.strip().partition(" ")
    kind = COMMANDS.get(word.lower())
    if kind is None:
        return None
    if kind == "correction":
        text = rest.strip().replace("\\n", "\n")
        if not text:
            raise FeedbackError("/fix needs what you would have said: /fix Sure, see you at 8.")
        return FeedbackCommand(kind, text)
    return FeedbackCommand(kind)


def keep_feedback(
    db_path: Path,
    kind: str,
    messages: list[dict],
    *,
    model: str,
    text: str | None = None,
    session_id: int | None = None,
    model_reply: str | None = None,
) -> str:
    """Keep feedback on the last reply of `messages` (the conversation ending in that reply);
    `model_reply` is what the model wrote there when your correction has since replaced it, so
    that feedback is always about the model's words. Returns the line that confirms it."""
    if not messages or messages[-1]["role"] != "assistant":
        raise FeedbackError("There is no reply to correct or mark yet.")
    before = messages[:-1]
    reply = model_reply if model_reply is not None else messages[-1]["content"]
    with Store(db_path) as store:
        store.add_feedback(kind, before, reply, model=model, text=text, session_id=session_id)
    if kind == "correction":
        return "kept your version beside the model's: the next training run learns it"
    return f"marked {kind}: the next training run prefers good replies over bad ones"


def waiting(workspace: Workspace) -> list[Feedback]:
    """Corrections and marks made since the newest finished run started."""
    newest = runs.latest_finished(workspace)
    since = newest.read_plan().created if newest is not None else 0.0
    if not workspace.db_path.is_file():
        return []
    with Store(workspace.db_path) as store:
        return store.feedback(since)


def waiting_words(items: list[Feedback]) -> str:
    """'3 corrections and 1 mark since the last run', as the chat shows it ('' for none)."""
    corrections = sum(item.kind == "correction" for item in items)
    marks = len(items) - corrections
    parts = [
        f"{count} {word}{'s' * (count != 1)}"
        for count, word in ((corrections, "correction"), (marks, "mark"))
        if count
    ]
    return f"{' and '.join(parts)} since the last run" if parts else ""
