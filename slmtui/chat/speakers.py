"""Replies in your name only.

In a group chat the request names each speaker: a line of someone else's is written
`[name] text` (`speaker_line`, used by dataset/dialogue.py). The brackets keep a transcript's
speaker apart from a reply that addresses someone: `mhwood: yes, merged` is how many people
answer in IRC, Slack and Discord, and it is your voice; `[mhwood] yes, merged` is the model
going on with the transcript in mhwood's name. Generation stops where a new line opens in
someone else's bracketed name, and a reply that opens with one loses that opening.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A speaker's mark at the start of a line: a name in brackets (no newline, at most 40
# characters) and a space.
_SPEAKER = re.compile(r"^\[([^\]\n]{1,40})\] ", re.MULTILINE)


def speaker_line(name: str, text: str) -> str:
    """A line of someone else's in a group chat's request."""
    return f"[{name}] {text}"


def others_in(messages: Iterable[dict]) -> tuple[str, ...]:
    """The names that mark lines of the user's messages, in order of first appearance."""
    found: dict[str, None] = {}
    for message in messages:
        if message.get("role") == "user":
            for match in _SPEAKER.finditer(message.get("content") or ""):
                found.setdefault(match.group(1), None)
    return tuple(found)


def speaker_stops(names: Iterable[str]) -> list[str]:
    """Stop strings for llama.cpp: a new line opening in one of these names."""
    return [f"\n[{name}]" for name in names]


def without_leading_speaker(text: str, names: Iterable[str]) -> str:
    """The reply without an opening `[name] ` in someone else's name."""
    for name in names:
        if text.startswith(f"[{name}]"):
            return text[len(name) + 2 :].lstrip(" \t")
    return text


def speaks_for_others(reply: str, names: Iterable[str]) -> bool:
    """Whether a line of the reply opens in one of these names."""
    wanted = set(names)
    return any(match.group(1) in wanted for match in _SPEAKER.finditer(reply))
