"""A WhatsApp "Export chat" text file read into one chat of messages.

The file's header layout comes from `layout.py`, its date order from `dates.py`, and what a
line is when it is not writing from `lines.py`. A line that does not start a header of the
file's layout continues the message before it, blank lines included. Text is kept as written:
direction marks go, joiners and emoji sequences stay (normalisation happens at ingest).

The export has no chat id. A chat is known by its first lines (their times, senders and
words), not by the file's name: two different chats saved one after the other as `_chat.txt`
are two chats, and a re-export of one chat, under any name, is the same chat; when the store
already holds some of the export's first messages (a re-export that lost its oldest messages
to WhatsApp's length limit), the chat that holds them is the one continued. The name shown is
the file's ("WhatsApp Chat with Ana.txt", the zip or folder it came in), else the chat name iOS
writes on its own lines, else the senders'.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from slmtui.ingest.chats.model import ChatExport, ChatLog, keep
from slmtui.ingest.chats.tail import Since
from slmtui.ingest.chats.whatsapp import dates, lines
from slmtui.ingest.chats.whatsapp.layout import AM_WORDS, PM_WORDS, Evidence, Layout, survey

FORMAT = "whatsapp"
HEAD_LINES = 400  # the first lines, where a chat's identity and name are read

# known(format, [(time, sender), ...]): the key of a stored chat holding these messages, or None.
Known = Callable[[str, list[tuple[float, str]]], str | None]

_NAME = re.compile(
    r"^(?:WhatsApp[- ]Chat (?:with|mit|met|med|z|con|-)|Chat de WhatsApp con"
    r"|Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con|Чат WhatsApp с"
    r"|WhatsApp-chat met|Keskustelu WhatsAppissa) (?P<name>.+?)(?: \(\d+\))?$",
    re.I,
)
_GENERIC_STEMS = {"_chat", "chat", "whatsapp chat", "whatsapp", ""}
_DIRECTION_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_QUOTES = set('«»“”„"')
_AM = {w.casefold() for w in AM_WORDS}
_PM = {w.casefold() for w in PM_WORDS}


def chat_name(stem: str) -> str | None:
    """The chat's name from a file, folder or zip name; None for a name that says nothing."""
    stem = stem.strip()
    match = _NAME.match(stem)
    if match:
        return match.group("name")
    return None if stem.casefold() in _GENERIC_STEMS else stem


@dataclass(slots=True)
class _Entry:
    """One header line and what follows it, before anything is decided about it."""

    date: dates.Triple
    seconds: int  # into the day
    sender: str | None  # None: the header names no sender (a system line)
    marked: bool  # iOS's mark starts the text: WhatsApp wrote it, not a person
    body: list[str]


def read(
    text: str,
    name: str | None,
    *,
    evidence: Evidence | None = None,
    since: Since | None = None,
    known: Known | None = None,
    notes: tuple[str, ...] = (),
) -> ChatExport:
    """Read an export; `since(chat_key, oldest)` is the newest time already stored for the chat,
    and messages before it are passed over (a re-export repeats them)."""
    from slmtui.ingest.extract import SkipFile

    all_lines = text.splitlines()
    evidence = evidence or survey(all_lines)
    layout = evidence.layout
    if layout is None:
        raise SkipFile("a WhatsApp export with no message lines")
    order = _date_order(all_lines, layout)
    if order is None:
        raise SkipFile(
            f"a WhatsApp export whose dates (lines like '{layout.example}') are no calendar "
            "date in any day, month and year order; export it again"
        )
    days: dict[dates.Triple, float] = {}
    # The chat's identity and name come from its first lines, the same on every re-export.
    head = _entries(all_lines[:HEAD_LINES], layout)
    head_times = [_day(days, e.date, order) + e.seconds for e in head]
    head_kinds = _kinds(head)
    first = [
        (when, entry.sender or "")
        for entry, when, kind in zip(head, head_times, head_kinds, strict=True)
        if kind is None
    ][:5]
    key = known(FORMAT, first) if known and first else None
    key = key or f"{FORMAT}:{_fingerprint(head, head_times)}"
    chat = ChatLog(key=key, name=name or _content_name(head, head_kinds), format=FORMAT)
    chat.notes.extend(notes)
    if order.ambiguous:
        reading = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day",
                   "ydm": "year/day/month"}[order.order]  # fmt: skip
        chat.notes.append(
            f"dates read as {reading}, a guess: nothing in the file tells the order apart "
            f"(lines like '{layout.example}')"
        )
    newest = since(key, head_times[0]) if since and head_times else None
    # A re-export repeats what the store holds: start at the first line of the newest stored
    # time (a binary search over the lines), and read only from there.
    start = _first_line_from(all_lines, layout, order, days, newest) if newest is not None else 0
    if start:
        chat.skipped_before = newest
    entries = _entries(all_lines[start:], layout)
    times = [_day(days, e.date, order) + e.seconds for e in entries]
    kinds = _kinds(entries)
    for entry, when, kind in zip(entries, times, kinds, strict=True):
        if kind is not None:
            chat.dropped[kind] += 1
            continue
        body = lines.without_attachment(entry.body)
        message = lines.edited_removed(_DIRECTION_MARKS.sub("", "\n".join(body))).strip()
        if not message and len(body) < len(entry.body):
            chat.dropped["media"] += 1
            continue
        placeholder = lines.placeholder(message)
        if placeholder:
            chat.dropped[placeholder] += 1
            continue
        keep(chat, when, entry.sender or "", message)
    return ChatExport(FORMAT, [chat])


def _entries(all_lines: list[str], layout: Layout) -> list[_Entry]:
    entries: list[_Entry] = []
    clocks: dict[str, int] = {}  # a clock as written -> seconds into the day
    for line in all_lines:
        match = layout.header(line)
        if match is None:
            if entries:
                entries[-1].body.append(line)
            continue
        rest = match.group("rest")
        sender, sep, first = rest.partition(": ")
        start = match.start("pre") if match.group("pre") else match.start("h")
        clock = match.string[start : match.start("rest")]
        seconds = clocks.get(clock)
        if seconds is None:
            seconds = clocks[clock] = _seconds(match)
        date = (int(match.group("d1")), int(match.group("d2")), int(match.group("d3")))
        if not sep or sender.startswith(lines.MARK):
            entries.append(_Entry(date, seconds, None, rest.startswith(lines.MARK), [rest]))
        else:
            marked = first.lstrip(" ").startswith(lines.MARK)
            entries.append(_Entry(date, seconds, sender.strip(), marked, [first]))
    return entries


def _seconds(match: re.Match) -> int:
    hour, minute = int(match.group("h")), int(match.group("mi"))
    second = int(match.group("s") or 0)
    word = (match.group("pre") or match.group("post") or "").casefold()
    word = re.sub(r"\s+", " ", word.replace("\u202f", " ")).strip()
    if word in _PM and hour < 12:
        hour += 12
    elif word in _AM and hour == 12:
        hour = 0
    return hour * 3600 + minute * 60 + second


def _date_order(all_lines: list[str], layout: Layout) -> dates.DateOrder | None:
    triples, widths, named = layout.dates(all_lines)
    attachments = [(triple, dates.attachment_date(name)) for triple, name in named[:200]]
    return dates.decide(
        triples,
        year_digits=widths,
        attachments=[(t, when) for t, when in attachments if when is not None],
        twelve_hour=layout.twelve_hour,
    )


def _first_line_from(
    all_lines: list[str], layout: Layout, order: dates.DateOrder, days: dict, newest: float
) -> int:
    """Index of the first header line at or after `newest`: lines are in time order, so a
    binary search reads a few dozen of them instead of all."""
    low, high = 0, len(all_lines)
    while low < high:
        middle = (low + high) // 2
        index = middle
        while index < high and (match := layout.header(all_lines[index])) is None:
            index += 1
        if index >= high:
            high = middle
            continue
        triple = (int(match.group("d1")), int(match.group("d2")), int(match.group("d3")))
        if _day(days, triple, order) + _seconds(match) < newest:
            low = index + 1
        else:
            high = middle
    while low < len(all_lines) and layout.header(all_lines[low]) is None:
        low += 1
    return low


def _day(cache: dict, triple: dates.Triple, order: dates.DateOrder) -> float:
    day = cache.get(triple)
    if day is None:
        date = dates.calendar_date(triple, order.order, order.two_digit_year)
        day = cache[triple] = (
            calendar.timegm((date.year, date.month, date.day, 0, 0, 0)) if date else 0.0
        )
    return day


def _kinds(entries: list[_Entry]) -> list[str | None]:
    """Each entry's reason for not being writing (None: a message of a person).

    A header's "sender" is whatever stands before the first ": ", so a system line with a colon
    in it ("Ivan changed the subject from "Old: name" to "New"") seems to have one. Such a
    sender writes once, and reads as a real sender's name followed by more words, or holds
    quotation marks or WhatsApp's words for group events: those lines are system lines."""
    counts = Counter(e.sender for e in entries if e.sender and not e.marked)
    regular = {s for s, n in counts.items() if n > 1}
    kinds: list[str | None] = []
    for entry in entries:
        if entry.sender is None:
            kinds.append("system")
        elif entry.marked:
            kinds.append(lines.marked_kind(entry.body[0]))
        elif lines.is_notice(entry.body[0]) or (
            counts[entry.sender] == 1 and _reads_as_event(entry, regular)
        ):
            kinds.append("system")
        else:
            kinds.append(None)
    return kinds


def _reads_as_event(entry: _Entry, regular: set[str]) -> bool:
    sender = entry.sender or ""
    if _QUOTES & set(sender) or lines.is_event_text(f"{sender}: {entry.body[0]}"):
        return True
    return any(sender.startswith(name + " ") for name in regular)


def _content_name(entries: list[_Entry], kinds: list[str | None]) -> str:
    """iOS writes its own lines under the chat's name (in a private chat, the other person's);
    else the senders name the chat."""
    named = [e.sender for e, k in zip(entries, kinds, strict=True) if e.marked and k == "system"]
    writers = Counter(e.sender for e, k in zip(entries, kinds, strict=True) if k is None)
    for sender in named:
        if sender and sender not in writers:
            return sender
    if named and named[0]:
        return named[0]
    return " & ".join(s for s, _ in writers.most_common(3) if s) or "WhatsApp chat"


def _fingerprint(entries: list[_Entry], times: list[float]) -> str:
    """The chat's identity from its first lines: when, who, and their first words."""
    head = "\x1f".join(
        f"{when:.0f}|{entry.sender or ''}|{entry.body[0][:40]}"
        for entry, when in zip(entries[:3], times[:3], strict=False)
    )
    return hashlib.blake2b(head.encode(), digest_size=8).hexdigest()
