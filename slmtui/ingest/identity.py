"""Who "you" are in chat exports: matching `[identity] names`, and proposing a name when none
is set.

The likeliest you is the sender present in every chat (the exporter's owner is in all of their
own chats; a friend is in one or two); among several, the one with the most messages. A Telegram
account export names its owner, which wins when it is among the senders. When no sender is in
every chat, nothing is proposed: `candidates` lists who might be you, for `slmtui status`.
A chat may give a sender other names (a Discord account name beside the nickname shown); a
name in `[identity] names` matches the sender by any of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def _fold(name: str) -> str:
    return name.strip().lstrip("@").casefold()


def matcher(names: Iterable[str], aliases: Mapping[str, Iterable[str]] | None = None):
    """A function telling whether a sender is you; `aliases` maps a sender to other names."""
    wanted = {_fold(name) for name in names if name.strip()}
    wanted |= {
        _fold(sender)
        for sender, others in (aliases or {}).items()
        if any(_fold(other) in wanted for other in others)
    }
    return lambda sender: _fold(sender) in wanted


def aliases_of(chats: Iterable) -> dict[str, list[str]]:
    """Every chat's other names for its senders, together."""
    merged: dict[str, list[str]] = {}
    for chat in chats:
        for sender, others in chat.aliases.items():
            known = merged.setdefault(sender, [])
            known.extend(other for other in others if other not in known)
    return merged


def propose(participants: Iterable[Mapping[str, int]], owners: Iterable[str] = ()) -> str | None:
    """The likeliest name of the person whose exports these are: a sender in every chat (None
    without chats, or when no sender is in every chat)."""
    chats = [dict(p) for p in participants if p]
    everywhere = _everywhere(chats)
    if not everywhere:
        return None
    owner_names = {_fold(o) for o in owners}
    for sender in everywhere:
        if _fold(sender) in owner_names:
            return sender
    messages: Counter = Counter()
    for chat in chats:
        messages.update(chat)
    return max(everywhere, key=lambda s: (messages[s], s))


def candidates(participants: Iterable[Mapping[str, int]], limit: int = 5) -> list[str]:
    """Who might be you when nobody is in every chat: the senders of the most chats first."""
    chats = [dict(p) for p in participants if p]
    present: Counter = Counter(sender for chat in chats for sender in chat)
    messages: Counter = Counter()
    for chat in chats:
        messages.update(chat)
    ranked = sorted(present, key=lambda s: (-present[s], -messages[s], s))
    return ranked[:limit]


def _everywhere(chats: list[dict[str, int]]) -> list[str]:
    present = Counter(sender for chat in chats for sender in chat)
    return [sender for sender, count in present.items() if count == len(chats)]


def describe_participants(participants: Mapping[str, int], limit: int = 6) -> str:
    """'Ana (120), Ben (80), ...' for messages and skip reasons."""
    items = sorted(participants.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{name} ({count})" for name, count in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
