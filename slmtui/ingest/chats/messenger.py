"""Facebook Messenger and Instagram messages from "Download your information" in JSON.

`message_1.json` (and `message_2.json` ... for long threads) of a thread folder:
`{"participants": [{"name"}], "messages": [{"sender_name", "timestamp_ms", "content", ...}],
"title", "thread_path"}`, newest message first. Every string is UTF-8 written byte by byte as
`\\u00XX` escapes, so "café" arrives as "cafÃ©": `repair` undoes it. Newer Messenger exports
(`"senderName"`, `"text"`, `"timestamp"`, `"threadName"`) are read too. Photos, stickers,
shares, calls, unsent messages, the "You sent a photo." lines beside attachments (in the
languages the exports are written in) and the "reacted to your message" lines are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep
from slmtui.ingest.chats.tail import Since, start_index

FORMAT = "messenger"
_MEDIA_KEYS = ("photos", "videos", "gifs", "audio_files", "files", "sticker", "share", "media")
_REACTION_LINE = re.compile(r"^(?:Reacted .+ to your message|.+ reacted .+ to your message)$")
# The line Messenger and Instagram write beside (or instead of) an attachment, in the account's
# language: "You sent a photo.", "Ana sent 3 photos.", "Du hast ein Foto gesendet."
_SENT_MEDIA = re.compile(
    r"^(?:.{1,80} sent (?:an? |\d+ )?(?:photos?|videos?|GIFs?|stickers?|attachments?"
    r"|voice messages?|audio clips?|files?|links?|a location)"
    r"|.{1,80} shared (?:a |an )?(?:story|post|reel|link|location)"
    r"|Enviaste (?:una|un|\d+) (?:fotos?|vídeos?|videos?|GIF|sticker|archivo adjunto"
    r"|mensaje de voz)"
    r"|.{1,80} envió (?:una|un|\d+) (?:fotos?|vídeos?|videos?|GIF|sticker|archivo adjunto)"
    r"|(?:Du hast|.{1,80} hat) (?:ein|einen|\d+) (?:Fotos?|Videos?|GIF|Sticker|Anhang"
    r"|Sprachnachricht)"
    r" gesendet|Vous avez envoyé (?:une|un|\d+) (?:photos?|vidéos?|GIF|autocollant|pièce jointe)"
    r"|.{1,80} a envoyé (?:une|un|\d+) (?:photos?|vidéos?|GIF|autocollant|pièce jointe)"
    r"|Você enviou (?:uma|um|\d+) (?:fotos?|vídeos?|GIF|figurinha|anexo)"
    r"|Hai inviato (?:una|un|\d+) (?:foto|video|GIF|adesivo|allegato))\.?$"
)


# Words one of those lines must hold: one quick search spares most messages the pattern.
_SENT_WORD = re.compile(" sent | shared |Enviaste | envió | gesendet| envoyé | enviou | inviato ")


def _sent_media(text: str) -> bool:
    return len(text) <= 160 and bool(_SENT_WORD.search(text)) and bool(_SENT_MEDIA.match(text))


def looks_like(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return False
    return "participants" in data and (
        "thread_path" in data or "threadName" in data or "title" in data
    )


def repair(text: str) -> str:
    """UTF-8 bytes read as Latin-1, back to the text they were ("cafÃ©" -> "café")."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def read(data: dict, since: Since | None = None, *, fallback_name: str = "") -> ChatExport:
    modern = "threadName" in data
    thread = str(data.get("thread_path") or data.get("threadName") or fallback_name)
    title = str(data.get("title") or data.get("threadName") or thread)
    fix = (lambda s: s) if modern else repair
    instagram = "instagram" in thread.lower() or fallback_name.lower().startswith("instagram")
    fmt = "instagram" if instagram else FORMAT
    chat = ChatLog(key=f"{fmt}:{thread}", name=fix(title), format=fmt)
    for person in data.get("participants") or []:
        name = person.get("name") if isinstance(person, dict) else person
        if isinstance(name, str):
            chat.members.append(fix(name))
    raw = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    time_of = _modern_time if modern else _time
    newest = since(chat.key, time_of(raw[-1])) if since and raw else None
    stop = start_index(raw, time_of, newest, newest_first=True)
    if stop < len(raw):
        chat.skipped_before = newest
    for message in reversed(raw[:stop]):
        if message.get("is_unsent") or message.get("isUnsent"):
            chat.dropped["deleted"] += 1
            continue
        kind = message.get("type", "Generic")
        text = fix(str(message.get("content") or message.get("text") or ""))
        if kind not in ("Generic", "text") or (not text and any(k in message for k in _MEDIA_KEYS)):
            chat.dropped["system" if kind in ("Call", "Subscribe", "Unsubscribe") else "media"] += 1
            continue
        if _sent_media(text):
            chat.dropped["media"] += 1
            continue
        if _REACTION_LINE.match(text):
            chat.dropped["reaction"] += 1
            continue
        sender = fix(str(message.get("sender_name") or message.get("senderName") or ""))
        keep(chat, time_of(message), sender, text)
    return ChatExport(fmt, [chat])


def _time(message: dict) -> float:
    try:
        return float(message.get("timestamp_ms", 0)) / 1000
    except (TypeError, ValueError):
        return 0.0


def _modern_time(message: dict) -> float:
    try:
        return float(message.get("timestamp", 0)) / 1000
    except (TypeError, ValueError):
        return 0.0
