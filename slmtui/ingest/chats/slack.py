"""Slack workspace exports: a folder (or zip) with `users.json`, `channels.json` and one folder
per channel holding a JSON list of messages per day (`general/2026-03-12.json`).

Each day file is read as part of its channel (the folder's name); a sender is named by the
message's `user_profile`, else by `users.json` beside the channel folders, else by user id.
Joins, leaves, bot posts and other subtypes are system messages; files without text are media.
Mentions (`<@U123>`) become the person's name and links their label.
"""

from __future__ import annotations

import re
from typing import Any

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep

FORMAT = "slack"
METADATA_FILES = {"users.json", "channels.json", "groups.json", "dms.json", "mpims.json",
                  "integration_logs.json", "canvases.json"}  # fmt: skip
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]+))?>")
# Links of any scheme (`<https://…|label>`, `<mailto:…>`, `<tel:…|…>`, `<slack://…>`).
_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>|]+)(?:\|([^>]+))?>", re.I)
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
# `<!here>`, `<!channel>`, `<!subteam^S1|@team>`, `<!date^1392734382^{date}|Feb 18th>`.
_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^>|]*)?(?:\|([^>]*))?>")
_WRITING_SUBTYPES = {None, "thread_broadcast", "me_message"}


def looks_like(data: Any) -> bool:
    """A day file: a list of message objects with Slack's `ts`."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(m, dict) for m in data[:5])
        and all("ts" in m and m.get("type") == "message" for m in data[:5])
    )


def user_names(users: Any) -> dict[str, str]:
    """users.json as id -> the name people see."""
    names: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and user.get("id"):
            profile = user.get("profile") or {}
            names[user["id"]] = (
                profile.get("display_name") or user.get("real_name") or profile.get("real_name")
                or user.get("name") or user["id"]
            )  # fmt: skip
    return names


def read_day(chat: ChatLog, messages: list, names: dict[str, str], newest: float | None) -> None:
    """Add one day file's messages to its channel's log."""
    for message in messages:
        if not isinstance(message, dict):
            continue
        try:
            when = float(message.get("ts", 0))
        except (TypeError, ValueError):
            when = 0.0
        if newest is not None and when < newest:
            continue
        if message.get("subtype") not in _WRITING_SUBTYPES or message.get("bot_id"):
            chat.dropped["system"] += 1
            continue
        text = str(message.get("text") or "")
        if not text.strip() and message.get("files"):
            chat.dropped["media"] += 1
            continue
        profile = message.get("user_profile") or {}
        user = str(message.get("user") or "")
        sender = profile.get("display_name") or profile.get("real_name") or names.get(user) or user
        keep(chat, when, sender, clean(text, names))


def clean(text: str, names: dict[str, str]) -> str:
    text = _MENTION.sub(lambda m: "@" + (m.group(2) or names.get(m.group(1), m.group(1))), text)
    text = _LINK.sub(lambda m: m.group(2) or _bare(m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(1) or "channel"), text)
    text = _SPECIAL.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _bare(target: str) -> str:
    """A link without its label, as a person would write it (`tel:+44…` -> `+44…`)."""
    for scheme in ("mailto:", "tel:", "sms:"):
        if target.lower().startswith(scheme):
            return target[len(scheme) :]
    return target


def new_chat(channel: str) -> ChatLog:
    return ChatLog(key=f"{FORMAT}:{channel}", name=f"#{channel}", format=FORMAT)


def export_of(chats: dict[str, ChatLog]) -> ChatExport:
    for chat in chats.values():
        chat.messages.sort(key=lambda m: m.time)
    return ChatExport(FORMAT, list(chats.values()))
