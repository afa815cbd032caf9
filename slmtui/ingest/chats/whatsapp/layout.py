"""Which header layout a WhatsApp export uses, found from evidence across the whole file.

A message starts with a header: its date, its time, then the sender. The layouts differ by
phone, system and locale: `12/03/2026, 14:05 - ` (Android), `[12/03/2026, 14:05:33] ` (iOS),
`13.6.2018 klo 21.25.15 - ` (Finnish), `13.06.18 21.25.15: ` (older iOS), `13. 6. 2018. 21:25 - `
and `2018. 06. 13. 21:25 - ` (spaced dates), two-digit years first or last, 12-hour clocks with
the AM/PM words of many languages before or after the time. One pattern reads them all; a
file's layout is the pattern's *shape* (brackets, separators, seconds, clock) that most of its
header lines share. A file is a chat when enough lines, anywhere in it, are headers of one
shape that name a sender; a file whose lines start like headers in a shape the pattern does not
read is a near miss, reported rather than stored as writing.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from slmtui.ingest.chats.whatsapp.lines import MARK

# Attachment names that carry the day they were sent (dates.attachment_date reads them).
ATTACHMENT_NAME = (
    r"(?:IMG|VID|AUD|PTT|DOC|STK)-\d{8}-WA\d+|(?:PHOTO|VIDEO|AUDIO|GIF|STICKER|DOCUMENT)"
    r"-\d{4}-\d{2}-\d{2}-\d{2}"
)
_ATTACHMENT = re.compile(ATTACHMENT_NAME)

_SPACE = "[ \u202f\u00a0]"
# AM/PM in the languages WhatsApp writes them in, longest first; folded to lower case.
AM_WORDS = ("a. m.", "a.m.", "am", "vorm.", "π.μ.", "上午", "午前", "오전", "ص", "ap.",
            "f.m.", "fm", "de.", "sa", "ق.ظ", "πμ")  # fmt: skip
PM_WORDS = ("p. m.", "p.m.", "pm", "nachm.", "μ.μ.", "下午", "午後", "오후", "م", "ip.",
            "e.m.", "em", "du.", "ch", "ب.ظ", "μμ")  # fmt: skip
_AMPM = "|".join(
    re.escape(w).replace("\\ ", _SPACE)
    for w in sorted({*AM_WORDS, *PM_WORDS}, key=len, reverse=True)
)
_DATE = r"(?P<d1>\d{1,4})(?P<ds>[./-]|\.[ ])(?P<d2>\d{1,2})(?P=ds)(?P<d3>\d{1,4})(?P<dend>\.)?"
_TIME = (
    rf"(?P<pre>(?:{_AMPM}){_SPACE}?)?(?P<h>\d{{1,2}})(?P<ts>[:.])(?P<mi>\d{{2}})"
    rf"(?:(?P=ts)(?P<s>\d{{2}}))?(?:{_SPACE}?(?P<post>{_AMPM}))?"
)
HEADER = re.compile(
    rf"^(?P<open>\[)?{_DATE}(?P<between>,?{_SPACE}(?:klo{_SPACE}|kl\.{_SPACE})?){_TIME}"
    rf"(?(open)\]{_SPACE}|(?P<close>{_SPACE}[-–]{_SPACE}|:{_SPACE}))(?P<rest>.*)$",
    re.I,
)
# What a header of a layout we do not read still looks like: a date, soon a time, a separator.
_LOOSE = re.compile(
    r"^\[?\d{1,4}[./-] ?\d{1,2}[./-] ?\d{2,4}\.?,?\s\D{0,12}\d{1,2}[:.h]\d{2}[^\n]{0,16}?"
    r"(?:\]|\s[-–]\s|:\s)"
)
_SAMPLE_HEAD = 2000
_SAMPLE_SPREAD = 4000
_LEADING_MARKS = "\u200e\u200f\ufeff\u202a\u202b\u202c\u202d\u202e"


def header(line: str) -> re.Match | None:
    """The header at the start of a line (direction marks before it are passed over)."""
    return HEADER.match(line.lstrip(_LEADING_MARKS))


# A header's digits as one letter: headers of one layout then read the same ("dd/dd/dddd, dd:dd
# - "), so a layout's shape is worked out once per such template, not once per line.
_DIGITS = str.maketrans("0123456789", "dddddddddd")
_SHAPES: dict[str, tuple] = {}


def shape(match: re.Match) -> tuple:
    """What one layout's headers share: brackets, separators, seconds, where AM/PM stands."""
    template = match.string[: match.start("rest")].translate(_DIGITS)
    found = _SHAPES.get(template)
    if found is None:
        found = _SHAPES[template] = _shape(match)
    return found


def _shape(match: re.Match) -> tuple:
    clock = "pre" if match.group("pre") else "post" if match.group("post") else "24h"
    between = match.group("between").replace("\u202f", " ").replace("\u00a0", " ")
    close = (match.group("close") or "]").strip().replace("–", "-")
    return (
        bool(match.group("open")), match.group("ds"), bool(match.group("dend")), between.strip(),
        match.group("ts"), match.group("s") is not None, clock, close,
    )  # fmt: skip


def has_sender(match: re.Match) -> bool:
    sender, sep, _ = match.group("rest").partition(": ")
    return bool(sep) and 0 < len(sender) <= 80 and not sender.startswith(MARK)


@dataclass(frozen=True)
class Layout:
    """One file's header layout: its shape, and how a header of it reads in the file."""

    shape: tuple
    example: str  # the first header as written, e.g. "[02/12/2024, 3:00:45 PM]"

    @property
    def twelve_hour(self) -> bool:
        return self.shape[6] != "24h"

    def header(self, line: str) -> re.Match | None:
        match = header(line)
        return match if match is not None and shape(match) == self.shape else None

    def dates(self, lines: list[str]) -> tuple[list[tuple[int, int, int]], tuple[int, int], list]:
        """Every header's date in file order, the widest first and last field, and (header
        date, attachment name) pairs: one short pattern over every line, so the date order is
        decided from all of the file without reading each line as a header."""
        open_, separator = self.shape[0], self.shape[1]
        sep = re.escape(separator)
        bracket = re.escape("[") if open_ else ""
        date = re.compile(rf"[{_LEADING_MARKS}]*{bracket}(\d{{1,4}}{sep}\d{{1,2}}{sep}\d{{1,4}})")
        # Consecutive headers mostly share their day: one entry per run of the same date, and
        # each distinct date read once.
        found = (match[1] for match in map(date.match, lines) if match)
        runs = [day for day, _ in itertools.groupby(found)]
        fields = {day: re.split(sep, day) for day in set(runs)}
        first = max((len(parts[0]) for parts in fields.values()), default=0)
        last = max((len(parts[2]) for parts in fields.values()), default=0)
        numbers = {day: (int(a), int(b), int(c)) for day, (a, b, c) in fields.items()}
        attachments = []
        for line in lines:  # a substring test first: few lines name an attachment
            if not ("-WA" in line or "-20" in line):
                continue
            name, header = _ATTACHMENT.search(line), date.match(line)
            if name is not None and header is not None:
                attachments.append((numbers[header[1]], name[0]))
                if len(attachments) >= 200:
                    break
        return [numbers[day] for day in runs], (first, last), attachments


@dataclass(frozen=True)
class Evidence:
    """What a look over a text's lines found: the layout most headers share, and how many."""

    layout: Layout | None
    headers: int  # sampled lines that are headers of that layout
    with_sender: int  # of those, how many name a sender
    other_headers: int  # sampled header lines of other shapes
    lines: int  # sampled non-empty lines
    near: int  # sampled lines that start like a header of a layout not read
    near_example: str

    @property
    def is_chat(self) -> bool:
        if self.layout is None or self.with_sender == 0:
            return False
        if self.lines <= 3:
            return True
        return (
            self.headers >= 2
            and self.headers >= 0.02 * self.lines
            and self.with_sender >= 0.3 * self.headers
            and self.headers >= 0.6 * (self.headers + self.other_headers)
        )

    @property
    def refusal(self) -> str | None:
        """Why a text that looks like a chat export is not read as one (None: it does not)."""
        if self.is_chat:
            return None
        if self.layout is not None and self.headers >= 3 and self.with_sender == 0:
            return (
                f"looks like a WhatsApp export ({self.headers} lines start like "
                f"'{self.layout.example}') but no line names a sender; if this is your own "
                "writing, save it as .md and it is read as writing"
            )
        near = self.near + (self.headers if self.layout and self.with_sender else 0)
        example = self.near_example or (self.layout.example if self.layout else "")
        if near >= 3 and near >= 0.05 * self.lines:
            return (
                f"looks like a WhatsApp export ({near} lines start like "
                f"'{example}') in a date and time layout slmtui does not read; "
                "export it again with the phone's language set to English, or report the layout"
            )
        return None


def survey(lines: list[str]) -> Evidence:
    """Look at the head and at lines spread over the whole text."""
    sample = lines
    if len(lines) > _SAMPLE_HEAD + _SAMPLE_SPREAD:
        step = (len(lines) - _SAMPLE_HEAD) // _SAMPLE_SPREAD
        sample = lines[:_SAMPLE_HEAD] + lines[_SAMPLE_HEAD::step]
    shapes: Counter = Counter()
    senders: Counter = Counter()
    examples: dict[tuple, str] = {}
    count = near = 0
    near_example = ""
    for line in sample:
        if not line.strip():
            continue
        count += 1
        match = header(line)
        if match is not None:
            key = shape(match)
            shapes[key] += 1
            senders[key] += has_sender(match)
            examples.setdefault(key, match.group(0)[: match.start("rest")].strip())
            continue
        loose = _LOOSE.match(line.lstrip(_LEADING_MARKS))
        if loose:
            near += 1
            near_example = near_example or loose.group(0).strip()
    if not shapes:
        return Evidence(None, 0, 0, 0, count, near, near_example)
    top, headers = max(shapes.items(), key=lambda item: (senders[item[0]], item[1]))
    layout = Layout(top, examples[top])
    others = sum(shapes.values()) - headers
    return Evidence(layout, headers, senders[top], others, count, near, near_example)
