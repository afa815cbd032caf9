"""Which exporter wrote a file, found by its content (a name alone never decides), and reading it.

`read_chats` returns None for a file that is not a chat export (it is then read as writing, or
skipped as an unsupported format), a `ChatExport` for one that is, and raises `SkipFile` with a
reason a person can act on for one that looks like an export but cannot be read.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from slmtui.ingest.chats import discord, messenger, slack, telegram, whatsapp
from slmtui.ingest.chats.model import ChatExport, ChatLog
from slmtui.ingest.chats.tail import Since
from slmtui.ingest.extract import SkipFile, cut_last_character, decode_text

CHAT_EXPORT_SUFFIXES = (".json", ".zip")
TEXT_SUFFIXES = ("", ".txt", ".text")
_CUT_NOTE = "its last character was cut in half (a copy that stopped early) and is left out"


def read_chats(
    path: Path, data: bytes, since: Since | None = None, known: whatsapp.Known | None = None
) -> ChatExport | None:
    """Read a chat export; None when the file is not one. `since` and `known` let a re-export
    of a chat the store holds read only what is new, and continue that chat."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return _read_whatsapp(data, _whatsapp_name(path), since, known)
    if suffix == ".zip":
        return _read_zip(path, data, since, known)
    if suffix != ".json":
        return None
    if path.name.lower() in slack.METADATA_FILES and path.parent.name:
        raise SkipFile(f"Slack workspace list ({path.name}); read with each channel's day files")
    return _read_json(path, _parse_json(path.name, data), since)


def _read_whatsapp(
    data: bytes, name: str | None, since: Since | None, known: whatsapp.Known | None
) -> ChatExport | None:
    """A WhatsApp export, when the evidence of its lines says so; None for other text."""
    try:
        text = decode_text(data)
    except SkipFile:
        return None  # not text: the caller says why
    evidence = whatsapp.survey(text.splitlines())
    if not evidence.is_chat:
        if evidence.refusal:
            raise SkipFile(evidence.refusal)
        return None
    notes = (_CUT_NOTE,) if cut_last_character(data) else ()
    return whatsapp.read(text, name, evidence=evidence, since=since, known=known, notes=notes)


def _whatsapp_name(path: Path) -> str | None:
    """An unzipped iOS export is a folder "WhatsApp Chat - Ana" holding _chat.txt; a loose
    _chat.txt says nothing, and its chat is named from its content."""
    if path.stem == "_chat":
        named = whatsapp.chat_name(path.parent.name)
        return named if named != path.parent.name else None
    return whatsapp.chat_name(path.stem)


def _parse_json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise SkipFile(
            f"damaged or truncated JSON ({exc.msg} at line {exc.lineno}); "
            f"export it again or replace {name} with a complete copy"
        ) from None
    except UnicodeDecodeError:
        raise SkipFile("JSON that is not UTF-8 text; export it again") from None


def _read_json(path: Path, value: Any, since: Since | None) -> ChatExport:
    if telegram.looks_like(value):
        return telegram.read(value, since)
    if discord.looks_like(value):
        return discord.read(value, since)
    if messenger.looks_like(value):
        return messenger.read(
            value, since, fallback_name=_thread_name(PurePosixPath(path.as_posix()))
        )
    if slack.looks_like(value):
        channel = path.parent.name or "channel"
        chat = slack.new_chat(channel)
        names = _slack_users(path.parent.parent / "users.json")
        # A day file is read only when it is new or changed: all of it counts.
        slack.read_day(chat, value, names, None)
        export = slack.export_of({channel: chat})
        export.partial = True
        return export
    raise SkipFile(
        "a JSON file in no layout slmtui reads (chat exports read: Telegram result.json, "
        "DiscordChatExporter JSON, Messenger or Instagram message_N.json, Slack day files)"
    )


def _thread_name(path: PurePosixPath) -> str:
    """'instagram:inbox/ana_123' style name from where a message_N.json lies."""
    parts = path.parts
    prefix = "instagram:" if any("instagram" in p.lower() for p in parts) else ""
    return prefix + "/".join(parts[-3:-1])


_USERS: dict[tuple[str, int], dict[str, str]] = {}


def _slack_users(users_path: Path) -> dict[str, str]:
    """users.json beside a Slack export's channel folders, read once per version of it."""
    try:
        stamp = (str(users_path), users_path.stat().st_mtime_ns)
    except OSError:
        return {}
    if stamp not in _USERS:
        try:
            _USERS[stamp] = slack.user_names(json.loads(users_path.read_bytes()))
        except (OSError, ValueError):
            _USERS[stamp] = {}
    return _USERS[stamp]


def _read_zip(
    path: Path, data: bytes, since: Since | None, known: whatsapp.Known | None
) -> ChatExport:
    """A zipped export, one member and one chat at a time."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise SkipFile(f"damaged zip ({exc}); download or export it again") from None
    for name in (n for n in names if n.lower().endswith(".txt")):
        member = PurePosixPath(name)
        chat_name = whatsapp.chat_name(path.stem if member.stem == "_chat" else member.stem)
        export = _read_whatsapp(_member(archive, name), chat_name, since, known)
        if export is not None:
            return export
    export = ChatExport("zip")
    if any(PurePosixPath(n).name == "users.json" for n in names):
        export.format = slack.FORMAT
        chats = _slack_zip_chats(archive, names, since)
    else:
        chats = _json_zip_chats(archive, names, since, export)
    first = next(chats, None)
    if first is None:
        listed = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        if export.format == slack.FORMAT:
            raise SkipFile("a Slack export with no channel messages in it")
        raise SkipFile(f"a zip with no chat export slmtui reads (it holds {listed or 'nothing'})")
    export.chats = itertools.chain([first], chats)
    return export


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    """One member's bytes; a member that cannot be unpacked makes the zip damaged."""
    try:
        return archive.read(name)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise SkipFile(f"damaged zip ({name}: {exc}); download or export it again") from None


def _json_zip_chats(
    archive: zipfile.ZipFile, names: list[str], since: Since | None, export: ChatExport
) -> Iterator[ChatLog]:
    """The chats of the zip's JSON members, in name order. Messenger splits a long thread
    over message_1.json, message_2.json... of one folder: those come in a row, and are merged
    into one chat before it is handed on. The first member read names the format and owner."""
    pending: ChatLog | None = None
    for name in sorted(n for n in names if n.lower().endswith(".json")):
        try:
            value = json.loads(_member(archive, name))
        except (ValueError, zipfile.BadZipFile):
            continue
        if telegram.looks_like(value):
            part = telegram.read(value, since)
        elif discord.looks_like(value):
            part = discord.read(value, since)
        elif messenger.looks_like(value):
            part = messenger.read(value, since, fallback_name=_thread_name(PurePosixPath(name)))
        else:
            continue
        export.format = part.format if export.format == "zip" else export.format
        export.owner = export.owner or part.owner
        for chat in part.chats:
            if pending is not None and pending.key == chat.key:
                pending.messages.extend(chat.messages)
                pending.dropped.update(chat.dropped)
                continue
            if pending is not None:
                yield _in_order(pending)
            pending = chat
    if pending is not None:
        yield _in_order(pending)


def _in_order(chat: ChatLog) -> ChatLog:
    chat.messages.sort(key=lambda m: m.time)
    return chat


def _slack_zip_chats(
    archive: zipfile.ZipFile, names: list[str], since: Since | None
) -> Iterator[ChatLog]:
    """A Slack zip's channels, each from its day files (which sort together), one at a time."""
    users = next(n for n in names if PurePosixPath(n).name == "users.json")
    try:
        user_names = slack.user_names(json.loads(_member(archive, users)))
    except ValueError:
        user_names = {}
    chat: ChatLog | None = None
    for name in sorted(names):
        member = PurePosixPath(name)
        if member.suffix.lower() != ".json" or member.name in slack.METADATA_FILES:
            continue
        try:
            value = json.loads(_member(archive, name))
        except ValueError:
            continue
        if not slack.looks_like(value):
            continue
        channel = member.parent.name or "channel"
        if chat is not None and chat.key != slack.new_chat(channel).key:
            yield _in_order(chat)
            chat = None
        chat = chat or slack.new_chat(channel)
        first = _first_time(value)
        slack.read_day(chat, value, user_names, since(chat.key, first) if since else None)
    if chat is not None:
        yield _in_order(chat)


def _first_time(day: list) -> float:
    try:
        return float(day[0].get("ts", 0))
    except (TypeError, ValueError, AttributeError):
        return 0.0
