"""Chat exports written in the layouts their exporters write, for tests and the ingest benchmark.

Each writer takes `(time, sender, text)` messages (seconds since the epoch, UTC) and returns the
bytes (or writes the files) that WhatsApp, Telegram Desktop, DiscordChatExporter, Facebook's
"Download your information" and Slack's workspace export produce, quirks included: iOS direction
marks and narrow no-break spaces, Telegram entity lists, Messenger's Latin-1-escaped UTF-8 and
newest-first order, Slack's per-day files.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

Msg = tuple[float, str, str]


def _dt(when: float) -> datetime:
    return datetime.fromtimestamp(when, UTC)


def whatsapp_android(messages: list[Msg], *, order: str = "dmy", clock24: bool = True) -> bytes:
    """Android: `12/03/2026, 14:05 - Ana: text`, with the encryption notice first."""
    lines = []
    for index, (when, sender, text) in enumerate(messages):
        d = _dt(when)
        date = {"dmy": f"{d:%d/%m/%Y}", "mdy": f"{d.month}/{d.day}/{d:%y}", "ymd": f"{d:%Y-%m-%d}"}[
            order
        ]
        clock = (
            f"{d:%H:%M}"
            if clock24
            else f"{d.hour % 12 or 12}:{d:%M} {'AM' if d.hour < 12 else 'PM'}"
        )
        if index == 0:
            lines.append(
                f"{date}, {clock} - Messages and calls are end-to-end encrypted. No one outside "
                "of this chat, not even WhatsApp, can read or listen to them. Tap to learn more."
            )
        lines.append(f"{date}, {clock} - {sender}: {text}")
    return ("\n".join(lines) + "\n").encode()


def whatsapp_ios(messages: list[Msg]) -> bytes:
    """iOS: `[12.03.26, 14:05:33] Ana: text`, 12-hour clock with a narrow no-break space before
    AM/PM, and a left-to-right mark before attachment lines."""
    lines = []
    for when, sender, text in messages:
        d = _dt(when)
        clock = f"{d.hour % 12 or 12}:{d:%M:%S}\u202f{'AM' if d.hour < 12 else 'PM'}"
        mark = "\u200e" if text.startswith("<attached:") or text.endswith("omitted") else ""
        lines.append(f"{mark}[{d.month}/{d.day}/{d:%y}, {clock}] {sender}: {mark}{text}")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class WhatsAppLayout:
    """How one phone writes a header: `date` and `clock` are templates over {d} {dd} {m} {mm}
    {yy} {yyyy} and {H} {HH} {h} {M} {S} {ampm}; `header` puts them around the sender."""

    date: str
    clock: str
    header: str  # "{date}, {clock} - " (Android), "[{date}, {clock}] " (iOS) ...
    am: str = "AM"
    pm: str = "PM"
    newline: str = "\n"
    ios: bool = False  # iOS: its own lines under the chat's name, and the U+200E mark

    def stamp(self, when: float) -> str:
        d = _dt(when)
        fields = {
            "d": d.day, "dd": f"{d.day:02}", "m": d.month, "mm": f"{d.month:02}",
            "yy": f"{d.year % 100:02}", "yyyy": d.year, "H": d.hour, "HH": f"{d.hour:02}",
            "h": d.hour % 12 or 12, "M": f"{d.minute:02}", "S": f"{d.second:02}",
            "ampm": self.am if d.hour < 12 else self.pm,
        }  # fmt: skip
        return self.header.format(
            date=self.date.format(**fields), clock=self.clock.format(**fields)
        )


# A line WhatsApp writes itself: (time, SYSTEM, text) in a message list.
SYSTEM = None


def whatsapp_text(messages: list, layout: WhatsAppLayout, *, chat_name: str = "Ana") -> bytes:
    """A WhatsApp export in `layout`. A message whose sender is SYSTEM is a line WhatsApp wrote
    (Android: no sender; iOS: the chat's name as sender and the mark); a text of several lines
    runs over several lines, as exports write it."""
    lines = []
    for when, sender, text in messages:
        stamp = layout.stamp(when)
        if sender is SYSTEM:
            lines.append(f"{stamp}{chat_name}: \u200e{text}" if layout.ios else f"{stamp}{text}")
        elif layout.ios and (text.startswith("<attached:") or text.endswith("omitted")):
            lines.append(f"\u200e{stamp}{sender}: \u200e{text}")
        else:
            lines.append(f"{stamp}{sender}: {text}")
    return (layout.newline.join(lines) + layout.newline).encode()


def alternating(them: str, you: str, start: float, text: str, count: int = 10) -> list[Msg]:
    """`count` messages a minute apart, `them` and `you` in turn, numbered: "text 0", ..."""
    return [(start + i * 60, s, f"{text} {i}") for i, s in enumerate([them, you] * (count // 2))]


def telegram_chat(messages: list[Msg], *, name: str, chat_id: int, owner_id: str = "user1") -> dict:
    """One chat as Telegram Desktop writes it; text with formatting becomes an entity list."""
    raw = []
    for index, (when, sender, text) in enumerate(messages, 1):
        d = _dt(when)
        entry = {
            "id": index,
            "type": "message",
            "date": f"{d:%Y-%m-%dT%H:%M:%S}",
            "date_unixtime": str(int(when)),
            "from": sender,
            "from_id": f"user{abs(hash(sender)) % 1000}",
            "text": text,
            "text_entities": [{"type": "plain", "text": text}],
        }
        if "*" in text:  # "a *bold* word" -> entity list
            before, bold, after = text.split("*", 2)
            entry["text"] = [before, {"type": "bold", "text": bold}, after]
        raw.append(entry)
    return {"name": name, "type": "personal_chat", "id": chat_id, "messages": raw}


def telegram_account(chats: list[dict], *, first_name: str, username: str) -> bytes:
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {
            "user_id": 1,
            "first_name": first_name,
            "last_name": "",
            "username": f"@{username}",
        },
        "chats": {"about": "This page lists all chats from this export.", "list": chats},
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


def discord_channel(messages: list[Msg], *, channel_id: str = "99", name: str = "general") -> bytes:
    raw = []
    for index, (when, sender, text) in enumerate(messages):
        raw.append(
            {
                "id": str(10**17 + index),
                "type": "Default",
                "timestamp": _dt(when).isoformat(timespec="milliseconds"),
                "timestampEdited": None,
                "isPinned": False,
                "content": text,
                "author": {
                    "id": str(hash(sender) % 10**6),
                    "name": sender,
                    "discriminator": "0000",
                    "nickname": sender.title(),
                    "isBot": False,
                },
                "attachments": [],
                "embeds": [],
                "stickers": [],
                "reactions": [],
                "mentions": [],
            }
        )
    data = {
        "guild": {"id": "1", "name": "Friends", "iconUrl": ""},
        "channel": {"id": channel_id, "type": "GuildTextChat", "category": "Text", "name": name},
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2026-12-01T10:00:00+00:00",
        "messages": raw,
        "messageCount": len(raw),
    }
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


def _latin1_escaped(text: str) -> str:
    """What Facebook writes: each UTF-8 byte as its own \\u00XX character."""
    return text.encode("utf-8").decode("latin-1")


def messenger_thread(messages: list[Msg], *, title: str, thread: str = "inbox/ana_123") -> bytes:
    people = sorted({sender for _, sender, _ in messages})
    data = {
        "participants": [{"name": _latin1_escaped(p)} for p in people],
        "messages": [
            {
                "sender_name": _latin1_escaped(sender),
                "timestamp_ms": int(when * 1000),
                "content": _latin1_escaped(text),
                "is_geoblocked_for_viewer": False,
            }
            for when, sender, text in sorted(messages, reverse=True)
        ],
        "title": _latin1_escaped(title),
        "is_still_participant": True,
        "thread_path": thread,
        "magic_words": [],
    }
    # ensure_ascii: every non-ASCII character as \\u00XX, as Facebook writes it.
    return json.dumps(data, ensure_ascii=True, indent=2).encode()


def slack_files(
    messages_by_channel: dict[str, list[Msg]], users: dict[str, str]
) -> dict[str, bytes]:
    """A Slack workspace export as {relative path: bytes}: users.json, channels.json and one
    file per channel and day."""
    ids = {name: f"U{index:05d}" for index, name in enumerate(sorted(users))}
    files = {
        "users.json": json.dumps(
            [
                {
                    "id": ids[n],
                    "name": n.lower(),
                    "real_name": users[n],
                    "profile": {"display_name": n, "real_name": users[n]},
                }
                for n in sorted(users)
            ]
        ).encode(),
        "channels.json": json.dumps(
            [{"id": f"C{i}", "name": c} for i, c in enumerate(messages_by_channel)]
        ).encode(),
    }
    for channel, messages in messages_by_channel.items():
        days: dict[str, list] = defaultdict(list)
        for when, sender, text in messages:
            days[f"{_dt(when):%Y-%m-%d}"].append(
                {"type": "message", "user": ids[sender], "text": text, "ts": f"{when:.6f}"}
            )
        for day, entries in days.items():
            files[f"{channel}/{day}.json"] = json.dumps(entries, indent=4).encode()
    return files


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
