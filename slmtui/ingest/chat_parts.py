"""A chat export's chats on their way into the store: the messages the store lacks, cleaned and
counted in tokens, what streamed past, and whether the export is refused.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tokenizers import Tokenizer

from slmtui.config import Config
from slmtui.ingest.chats import ChatExport
from slmtui.ingest.identity import describe_participants, matcher
from slmtui.ingest.normalize import normalize_message
from slmtui.ingest.pii import scrub
from slmtui.ingest.store import ChatPart, NewMessage, Store


@dataclass
class ExportSeen:
    """What an export's chats held, gathered as they stream past into the store."""

    participants: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)

    @property
    def chats(self) -> int:
        return len(self.keys)

    def part(self, make_part):
        def seen(chat):
            self.participants.update(chat.participants())
            self.dropped.update(chat.dropped)
            self.keys.append(chat.key)
            self.notes.extend(note for note in chat.notes if note not in self.notes)
            for sender, others in chat.aliases.items():
                self.aliases.setdefault(sender, []).extend(others)
            return make_part(chat)

        return seen


def chat_part(store: Store, config: Config, tokenizer: Tokenizer, chat) -> ChatPart:
    """A chat's messages that the store does not hold yet, cleaned and counted in tokens."""
    settings = config.ingest
    earliest = min((m.time for m in chat.messages), default=0.0)
    stored = store.message_keys(chat.key, earliest)
    fresh: dict[str, tuple] = {}
    for message in chat.messages:
        key = message.key(chat.key)
        if key in stored or key in fresh:
            continue
        text = normalize_message(message.text)
        if settings.scrub_pii:
            text, _ = scrub(text, settings.scrub)
        if text:
            fresh[key] = (message.time, message.sender, text)
    encoded = tokenizer.encode_batch(
        [text for _, _, text in fresh.values()], add_special_tokens=False
    )
    messages = [
        NewMessage(key, when, sender, text, len(encoding.ids))
        for (key, (when, sender, text)), encoding in zip(fresh.items(), encoded, strict=True)
    ]
    return ChatPart(
        chat.key,
        chat.name,
        chat.format,
        chat.members,
        dict(chat.dropped),
        messages,
        list(chat.notes),
        dict(chat.aliases),
    )


def refusal(store: Store, config: Config, export: ChatExport, seen: ExportSeen) -> str | None:
    """Why an export is not stored: it has no messages, or none from you. What the store
    already holds of its chats counts too (a re-export reads only the new part)."""
    parsed = seen.participants
    is_me = matcher(config.identity.names, seen.aliases)
    names = config.identity.names
    if export.partial:
        return None  # a day of a channel: the channel, not the day, has you in it
    if parsed and (not names or any(map(is_me, parsed))):
        return None  # the common case, decided without reading the store
    # The parsed messages are in the store already (inside the savepoint), with what
    # earlier exports of these chats brought.
    participants = store.participants(seen.keys)
    if not participants:
        what = ", ".join(f"{n} {r}" for r, n in sorted(seen.dropped.items())) or "nothing"
        return f"a {export.format} export with no messages to learn from (dropped: {what})"
    if names and not any(map(is_me, participants)):
        return (
            "no messages from you: set [identity] names in slmtui.toml; participants are "
            + describe_participants(participants)
        )
    return None
