"""What every chat reader returns: chats of time-ordered messages, and what was dropped."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# Messages whose whole text is one of these are attachments, not writing.
_LINK_ONLY = re.compile(r"^\s*(?:<?https?://\S+>?|www\.\S+)\s*$")


@dataclass(frozen=True, slots=True)
class Message:
    """One message: seconds since the epoch (local clock time for WhatsApp, which has no zone),
    the sender's name as the export writes it, and the text."""

    time: float
    sender: str
    text: str

    def key(self, chat_key: str) -> str:
        """The message's identity across re-exports: chat, time, sender and text."""
        raw = f"{chat_key}\x1f{self.time:.3f}\x1f{self.sender}\x1f{self.text}"
        return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


@dataclass
class ChatLog:
    """One conversation thread of an export: a private chat, a group or a channel."""

    key: str  # stable across re-exports of the same chat: exporter and its chat id or name
    name: str
    format: str
    messages: list[Message] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)  # reason -> messages not kept
    members: list[str] = field(default_factory=list)  # names the export lists, if any
    skipped_before: float | None = None  # messages older than this were known and not read
    notes: list[str] = field(default_factory=list)  # what a person should know of this read
    # sender as the export shows them -> the other names the export gives them (an account
    # name beside a nickname), so that `[identity] names` may say either
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def participants(self) -> Counter:
        """Messages kept per sender."""
        return Counter(message.sender for message in self.messages)

    @property
    def is_group(self) -> bool:
        people = set(self.members) | set(self.participants())
        return len(people) > 2


@dataclass
class ChatExport:
    """Everything one file (or zip) held: its chats, and who the exporter says the owner is."""

    format: str
    # A list, or for a file of many chats (an account export, a zip) an iterator that reads
    # them one at a time, so that memory holds the chat being stored and not all of them.
    chats: Iterable[ChatLog] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)  # the account's own names, where written
    # One day of a Slack channel (a file of an unpacked export), not a whole chat: a day you
    # did not speak in is still part of your conversations.
    partial: bool = False


def drop_reason(text: str) -> str | None:
    """Why a message's text is not the author's writing (None: it is)."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if len(stripped) <= 1:
        return "one character"
    if _LINK_ONLY.match(stripped):
        return "bare link"
    return None


def keep(chat: ChatLog, time: float, sender: str, text: str) -> None:
    """Add a message to the chat, or count why it is dropped."""
    reason = drop_reason(text)
    if reason is None:
        chat.messages.append(Message(time, sender.strip() or "unknown", text.strip()))
    else:
        chat.dropped[reason] += 1
