"""Replies in your name only: a model tuned on group chats has read transcripts, where every
line names its speaker, and left alone it may go on with the transcript, a line in someone
else's name after (or instead of) its own reply.

The others in a conversation are the names that begin lines of the user's messages (a group
chat's request is written `name: text`, dataset/dialogue.py). Generation stops where a new line
starts with one of them, and a reply that opens in one of their names loses that opening.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A speaker's name at the start of a line: no spaces at its ends, no colon, at most 40 characters.
_SPEAKER = re.compile(r"^(\S[^:\n]{0,38}\S|\S):[ \t]", re.MULTILINE)


def others_in(messages: Iterable[dict]) -> tuple[str, ...]:
    """The names that begin lines of the user's messages, in order of first appearance."""
    found: dict[str, None] = {}
    for message in messages:
        if message.get("role") == "user":
            for match in _SPEAKER.finditer(message.get("content") or ""):
                found.setdefault(match.group(1), None)
    return tuple(found)


def speaker_stops(names: Iterable[str]) -> list[str]:
    """Stop strings for llama.cpp: a new line opening in one of these names."""
    return [f"\n{name}:" for name in names]


def without_leading_speaker(text: str, names: Iterable[str]) -> str:
    """The reply without an opening `name: ` in someone else's name."""
    for name in names:
        if text.startswith(f"{name}:"):
            return text[len(name) + 1 :].lstrip(" \t")
    return text


def speaks_for_others(reply: str, names: Iterable[str]) -> bool:
    """Whether a line of the reply opens in one of these names."""
    wanted = set(names)
    return any(match.group(1) in wanted for match in _SPEAKER.finditer(reply))
