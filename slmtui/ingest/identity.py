"""Who "you" are in chat exports: matching `[identity] names`, and proposing a name when none
is set.

The likeliest you is the sender present in every chat (the exporter's owner is in all of their
own chats; a friend is in one or two); among several, the one with the most messages. A Telegram
account export names its owner, which wins when it is among the senders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def _fold(name: str) -> str:
    return name.strip().lstrip("@").casefold()


def matcher(names: Iterable[str]):
    """A function telling whether a sender is you."""
    wanted = {_fold(name) for name in names if name.strip()}
    return lambda sender: _fold(sender) in wanted


def propose(participants: Iterable[Mapping[str, int]], owners: Iterable[str] = ()) -> str | None:
    """The likeliest name of the person whose exports these are (None without chats)."""
    chats = [dict(p) for p in participants if p]
    if not chats:
        return None
    present = Counter(sender for chat in chats for sender in chat)
    messages: Counter = Counter()
    for chat in chats:
        messages.update(chat)
    everywhere = [sender for sender, count in present.items() if count == len(chats)]
    owner_names = {_fold(o) for o in owners}
    for sender in everywhere or list(present):
        if _fold(sender) in owner_names:
            return sender
    candidates = everywhere or list(present)
    return max(candidates, key=lambda s: (messages[s], s))


def describe_participants(participants: Mapping[str, int], limit: int = 6) -> str:
    """'Ana (120), Ben (80), ...' for messages and skip reasons."""
    items = sorted(participants.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{name} ({count})" for name, count in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
