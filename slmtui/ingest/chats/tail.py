"""Passing over what a re-export repeats, for the JSON readers.

Exports hold a chat's whole history each time. When the store already holds a chat's messages
up to some time, a reader starts at the first raw message of that time (a binary search: a few
comparisons, not a pass over every message); the overlap at that time is removed later by
message identity. When the export reaches further back than the store (an older history
appeared), everything is read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from slmtui.ingest.chats.model import ChatLog

# since(chat_key, oldest): the newest time the store holds for the chat, or None to read
# everything (nothing stored, or the export reaches back before the oldest stored message).
Since = Callable[[str, float], float | None]


def start_index(
    raw: Sequence[Any], time_of: Callable[[Any], float], newest: float | None, *, newest_first=False
) -> int:
    """Oldest first: the index of the first message at or after `newest` (0 when nothing is
    known). Newest first (`newest_first`): how many messages from the front are at or after it
    (all of them when nothing is known)."""
    if newest_first:
        if newest is None:
            return len(raw)
        return len(raw) - bisect_left(_Reversed(raw, time_of), newest)
    if newest is None or not raw:
        return 0
    return bisect_left(raw, newest, key=time_of)


class _Reversed:
    """A newest-first list seen oldest first, without copying it."""

    def __init__(self, raw: Sequence[Any], time_of: Callable[[Any], float]):
        self.raw, self.time_of = raw, time_of

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> float:
        return self.time_of(self.raw[len(self.raw) - 1 - index])


def unread(chat: ChatLog, raw: list, time_of: Callable[[Any], float], since: Since | None) -> list:
    """The raw messages (oldest first) from the newest one the store holds on."""
    newest = since(chat.key, time_of(raw[0])) if since and raw else None
    start = start_index(raw, time_of, newest)
    if start:
        chat.skipped_before = newest
    return raw[start:]


def iso_seconds(value: Any) -> float:
    """An ISO 8601 time (UTC when it names no zone) in seconds; 0 when it is not one."""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return 0.0
    return stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp()
