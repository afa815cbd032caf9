"""Telegram Desktop's "Export chat history" / "Export Telegram data" in JSON (`result.json`).

One chat's export is the chat object itself; the whole account's holds `chats.list` (and
`left_chats.list`) and `personal_information`, which names the owner. Text is a string or a list
of strings and entity objects (`{"type": "bold", "text": ...}`). Service messages, media without
a caption, forwarded messages and chats that are not conversations (channels, bots, saved
messages) are dropped.
"""

from __future__ import annotations

from typing import Any

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep
from slmtui.ingest.chats.tail import Since, iso_seconds, unread

FORMAT = "telegram"
_NOT_CONVERSATIONS = {"public_channel", "private_channel", "bot_chat", "saved_messages"}


def looks_like(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("chats"), dict) and "list" in data["chats"]:
        return True
    return isinstance(data.get("messages"), list) and "type" in data and "id" in data


def read(data: dict, since: Since | None = None) -> ChatExport:
    export = ChatExport(FORMAT)
    info = data.get("personal_information") or {}
    full = " ".join(str(info.get(k) or "") for k in ("first_name", "last_name")).strip()
    export.owner = [name for name in (full, info.get("username")) if name]
    if "chats" in data:
        chats = [
            *((data.get("chats") or {}).get("list") or []),
            *((data.get("left_chats") or {}).get("list") or []),
        ]
    else:
        chats = [data]
    export.chats = (
        _chat(raw_chat, since)
        for raw_chat in chats
        if isinstance(raw_chat, dict) and raw_chat.get("type") not in _NOT_CONVERSATIONS
    )
    return export


def _chat(raw_chat: dict, since: Since | None) -> ChatLog:
    name = str(raw_chat.get("name") or raw_chat.get("id") or "unnamed chat")
    chat = ChatLog(key=f"{FORMAT}:{raw_chat.get('id', name)}", name=name, format=FORMAT)
    raw = [m for m in raw_chat.get("messages") or [] if isinstance(m, dict)]
    for message in unread(chat, raw, _time, since):
        if message.get("type") != "message":
            chat.dropped["system"] += 1
            continue
        if message.get("forwarded_from") or message.get("via_bot"):
            chat.dropped["forwarded"] += 1
            continue
        text = text_of(message.get("text", ""))
        if not text.strip() and (
            message.get("media_type") or message.get("photo") or message.get("file")
        ):
            chat.dropped["media"] += 1
            continue
        keep(chat, _time(message), str(message.get("from") or message.get("from_id") or ""), text)
    return chat


def text_of(value: Any) -> str:
    """A message's text from a string or a list of strings and entities."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in value
            if isinstance(part, (str, dict))
        )
    return ""


def _time(message: dict) -> float:
    unix = message.get("date_unixtime")
    if unix is not None:
        try:
            return float(unix)
        except (TypeError, ValueError):
            pass
    return iso_seconds(message.get("date"))
