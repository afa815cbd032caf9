"""WhatsApp "Export chat" text files, as Android and iOS write them.

Android: `12/03/2026, 14:05 - Ana: text`; iOS: `[12/03/2026, 14:05:33] Ana: text`, with
invisible direction marks before some lines and a narrow no-break space before AM/PM. The date
order (day, month or year first) is read off the file itself: a first field over 12 means
day-first, a second field over 12 month-first; a file that never says follows the clock (12-hour:
month-first, as in the US; 24-hour: day-first, as in most locales). A line that does not start a
message continues the one before it. The export has no chat id, so the chat is named by the
file ("WhatsApp Chat with Ana.txt", or the zip it came in).
"""

from __future__ import annotations

import calendar
import re

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep
from slmtui.ingest.chats.tail import Since

FORMAT = "whatsapp"

# Direction marks iOS puts before some lines.
_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
_TIME = r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?[AaPp]\.?\s?[Mm]\.?)?"
HEADER = re.compile(
    rf"^(?:\[(?P<idate>{_DATE}),? (?P<itime>{_TIME})\] "
    rf"|(?P<adate>{_DATE}),? (?P<atime>{_TIME}) [-–] )(?P<rest>.*)$"
)
_MEDIA = re.compile(
    r"^(?:<Media omitted>|<Medien ausgeschlossen>|<Multimedia omitido>|<Médias omis>"
    r"|<attached: [^>]+>|(?:image|video|audio|sticker|GIF|document|Contact card) omitted"
    r"|.+\.(?:jpg|jpeg|png|webp|mp4|opus|pdf|vcf) \(file attached\)|null)$",
    re.I,
)
_DELETED = re.compile(
    r"^(?:This message was deleted\.?|You deleted this message\.?|Waiting for this message.*)$",
    re.I,
)
_EDITED = re.compile(r"\s*<This message was edited>$", re.I)
_NAME = re.compile(r"^WhatsApp Chat (?:with|-) (?P<name>.+?)(?: \(\d+\))?$", re.I)


def looks_like(text: str) -> bool:
    """True when the first lines of a text are WhatsApp message lines."""
    lines = [line for line in text[:4000].splitlines()[:12] if line.strip()]
    return sum(bool(_header(line)) for line in lines) >= max(1, len(lines) // 2)


def chat_name(stem: str) -> str:
    match = _NAME.match(stem.strip())
    return match.group("name") if match else stem


def read(text: str, name: str, since: Since | None = None) -> ChatExport:
    """Parse an export's text; `since(chat_key)` is the newest time already stored for a chat,
    and lines before that time are passed over unread (a re-export repeats them)."""
    lines = text.splitlines()
    headers = [m for m in map(_header, lines[:2000]) if m]
    clock = _Clock.detect([*headers, *_sample(lines)])
    chat = ChatLog(key=f"{FORMAT}:{name}", name=name, format=FORMAT)
    start = 0
    newest = since(chat.key, clock.parse(headers[0])) if since and headers else None
    if newest is not None:
        start = _first_line_from(lines, clock, newest)
        if start:
            chat.skipped_before = newest
    sender = body = None
    when = 0.0
    for line in map(_clean, lines[start:]):
        match = HEADER.match(line)
        if match is None:
            if body is not None:
                body.append(line)
            continue
        if body is not None:
            _finish(chat, when, sender, body)
        when = clock.parse(match)
        rest = match.group("rest")
        sender, sep, first = rest.partition(": ")
        if not sep:
            chat.dropped["system"] += 1
            sender = body = None
            continue
        body = [first]
    if body is not None:
        _finish(chat, when, sender, body)
    return ChatExport(FORMAT, [chat])


def _clean(line: str) -> str:
    """A line without direction marks and with plain spaces (an ASCII line is left alone:
    cleaning line by line lets a re-export's unread head go uncleaned)."""
    if line.isascii():
        return line
    return _MARKS.sub("", line).replace("\u202f", " ").replace("\u00a0", " ")


def _header(line: str) -> re.Match | None:
    return HEADER.match(_clean(line))


def _finish(chat: ChatLog, when: float, sender: str, body: list[str]) -> None:
    text = _EDITED.sub("", "\n".join(body)).strip()
    if _MEDIA.match(text):
        chat.dropped["media"] += 1
    elif _DELETED.match(text):
        chat.dropped["deleted"] += 1
    else:
        keep(chat, when, sender, text)


def _sample(lines: list[str]) -> list[re.Match]:
    """Header lines from across the file, for the date order (early days may all be <= 12)."""
    step = max(1, len(lines) // 500)
    return [m for m in map(_header, lines[::step]) if m]


def _first_line_from(lines: list[str], clock: _Clock, newest: float) -> int:
    """Index of the first message line at or after `newest`: lines are in time order, so a
    binary search over them reads a few dozen lines instead of all."""
    low, high = 0, len(lines)
    while low < high:
        middle = (low + high) // 2
        index = middle
        while index < high and (match := _header(lines[index])) is None:
            index += 1
        if index >= high:
            high = middle
        elif clock.parse(match) < newest:
            low = index + 1
        else:
            high = middle
    return low


class _Clock:
    """Reads a header's date and time in the file's own order and clock."""

    def __init__(self, order: str):
        self.order = order  # "dmy", "mdy" or "ymd"
        self._days: dict[str, int] = {}
        self._clocks: dict[str, int] = {}

    @classmethod
    def detect(cls, matches: list[re.Match]) -> _Clock:
        twelve_hour = False
        first_big = second_big = year_first = False
        for match in matches:
            date = match.group("idate") or match.group("adate")
            clock = match.group("itime") or match.group("atime")
            parts = [int(p) for p in re.split(r"[./-]", date)]
            year_first |= parts[0] > 31
            first_big |= parts[0] > 12 and parts[0] <= 31
            second_big |= parts[1] > 12
            twelve_hour |= bool(re.search(r"[AaPp]\.?\s?[Mm]", clock))
        if year_first:
            return cls("ymd")
        if first_big:
            return cls("dmy")
        if second_big:
            return cls("mdy")
        return cls("mdy" if twelve_hour else "dmy")

    def parse(self, match: re.Match) -> float:
        date = match.group("idate") or match.group("adate")
        clock = match.group("itime") or match.group("atime")
        day = self._days.get(date)
        if day is None:
            a, b, c = (int(p) for p in re.split(r"[./-]", date))
            year, month, dom = {"dmy": (c, b, a), "mdy": (c, a, b), "ymd": (a, b, c)}[self.order]
            year += 2000 if year < 100 else 0
            try:
                day = calendar.timegm((year, month, dom, 0, 0, 0))
            except (ValueError, OverflowError):
                day = 0
            self._days[date] = day
        seconds = self._clocks.get(clock)
        if seconds is None:
            seconds = self._clocks[clock] = _seconds(clock)
        return day + seconds


def _seconds(clock: str) -> int:
    digits = re.findall(r"\d+", clock)
    hour, minute = int(digits[0]), int(digits[1])
    second = int(digits[2]) if len(digits) > 2 else 0
    lower = clock.lower()
    if "p" in lower and hour < 12:
        hour += 12
    elif "a" in lower and hour == 12:
        hour = 0
    return hour * 3600 + minute * 60 + second
