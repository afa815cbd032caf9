"""Discord channels as DiscordChatExporter writes them in JSON.

`{"guild": ..., "channel": {"id", "name", ...}, "messages": [{"timestamp", "content",
"author": {"name", "nickname", ...}, "type", "attachments", ...}]}`. Only ordinary messages and
replies are writing; joins, pins, calls and the like are system messages; a message that is only
an attachment or a sticker is media. A sender is named as the export shows them (the nickname),
with the account name kept beside it, so `[identity] names` may hold either.
"""

from __future__ import annotations

from typing import Any

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep
from slmtui.ingest.chats.tail import Since, iso_seconds, unread

FORMAT = "discord"
_WRITING = {"Default", "Reply", "0", "19"}


def looks_like(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("channel"), dict)
        and isinstance(data.get("messages"), list)
        and "guild" in data
    )


def read(data: dict, since: Since | None = None) -> ChatExport:
    channel = data.get("channel") or {}
    guild = (data.get("guild") or {}).get("name") or ""
    name = str(channel.get("name") or channel.get("id") or "channel")
    if guild and guild != "Direct Messages":
        name = f"{guild} #{name}"
    chat = ChatLog(key=f"{FORMAT}:{channel.get('id', name)}", name=name, format=FORMAT)
    raw = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    for message in unread(chat, raw, _time, since):
        if str(message.get("type", "Default")) not in _WRITING:
            chat.dropped["system"] += 1
            continue
        content = str(message.get("content") or "")
        if not content.strip() and (
            message.get("attachments") or message.get("stickers") or message.get("embeds")
        ):
            chat.dropped["media"] += 1
            continue
        author = message.get("author") or {}
        account = str(author.get("name") or "")
        shown = str(author.get("nickname") or account)
        if account and account != shown and account not in chat.aliases.setdefault(shown, []):
            chat.aliases[shown].append(account)
        keep(chat, _time(message), shown, content)
    return ChatExport(FORMAT, [chat])


def _time(message: dict) -> float:
    return iso_seconds(message.get("timestamp"))
