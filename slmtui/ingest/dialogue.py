"""Messages into conversations and turns: the shape of a chat that examples are built from.

A silence longer than the conversation gap starts a new conversation; consecutive messages from
one sender with less than the turn gap between them are one turn. Both are plain functions of
time-ordered messages, shared by the store (which gives each conversation its split) and the
dataset (which turns your turns into answers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_GAP_SECONDS = 7200.0  # `[ingest] conversation_gap_minutes`' default, for migrations


def split_conversations(
    messages: Iterable[T], time_of: Callable[[T], float], gap_seconds: float
) -> Iterator[list[T]]:
    """Time-ordered messages cut wherever the silence between two is longer than the gap."""
    current: list[T] = []
    last = None
    for message in messages:
        when = time_of(message)
        if current and last is not None and when - last > gap_seconds:
            yield current
            current = []
        current.append(message)
        last = when
    if current:
        yield current


def conversation_labels(
    rows: Iterable[tuple[int, float]], gap_seconds: float
) -> list[tuple[int, int]]:
    """(label, id) for time-ordered (id, time) rows: a conversation is labelled by the id of
    its first message, so a label is unique in the store and stable while the cut stays."""
    return [
        (conversation[0][0], row[0])
        for conversation in split_conversations(rows, lambda row: row[1], gap_seconds)
        for row in conversation
    ]


@dataclass(frozen=True)
class Turn:
    """Consecutive messages of one sender: their texts joined by newlines."""

    sender: str
    text: str
    tokens: int
    start: float
    end: float
    split: str


def merge_turns(messages: Iterable, turn_gap_seconds: float) -> list[Turn]:
    """Bursts of one sender (each message within the gap of the one before) as one turn each.

    `messages` have time, sender, text, tokens and split (`StoredMessage`); a turn is held out
    when any of its messages is."""
    turns: list[Turn] = []
    for message in messages:
        last = turns[-1] if turns else None
        if last and last.sender == message.sender and message.time - last.end <= turn_gap_seconds:
            split = "val" if "val" in (last.split, message.split) else last.split
            turns[-1] = Turn(
                last.sender,
                f"{last.text}\n{message.text}",
                last.tokens + message.tokens + 1,
                last.start,
                message.time,
                split,
            )
        else:
            turns.append(
                Turn(
                    message.sender,
                    message.text,
                    message.tokens,
                    message.time,
                    message.time,
                    message.split,
                )
            )
    return turns
