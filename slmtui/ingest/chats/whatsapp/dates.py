"""Which order a WhatsApp export writes its dates in, decided from the whole file.

`03/04/25` may be day-month-year, month-day-year, year-month-day or year-day-month; the export
never says which. The file itself usually does, in three ways, tried in turn:

1. a reading that makes any date impossible (a month over 12, a 31 April, a two-digit year
   before WhatsApp existed) is ruled out: one "25/04/2024" anywhere decides for day first;
2. attachment names carry the date they were sent (`IMG-20241202-WA0001.jpg`,
   `00000042-PHOTO-2024-12-02-15-00-45.jpg`): the reading that agrees with them wins;
3. messages are written oldest first: the reading that keeps the dates ascending wins, and
   between a year-first and a year-last reading, the one whose days do not jump by years.

Only when none of these tells the readings apart is the order ambiguous; then the clock decides
as the phone's locale most likely would (12-hour: month first, as in the US; 24-hour: day
first), and the reader says so.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

ORDERS = ("dmy", "mdy", "ymd", "ydm")
FIRST_WHATSAPP_YEAR = 2009
ATTACHMENT_DATE = re.compile(
    r"(?:IMG|VID|AUD|PTT|DOC|STK)-(?P<a>\d{4})(?P<b>\d{2})(?P<c>\d{2})-WA\d+"
    r"|(?:PHOTO|VIDEO|AUDIO|GIF|STICKER|DOCUMENT)-(?P<x>\d{4})-(?P<y>\d{2})-(?P<z>\d{2})-\d{2}"
)

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class DateOrder:
    order: str  # one of ORDERS
    decided_by: str  # what told the readings apart, for the person
    two_digit_year: bool
    ambiguous: bool = False


def calendar_date(triple: Triple, order: str, two_digit_year: bool) -> dt.date | None:
    """The date a header's three numbers mean in `order`, or None when they cannot."""
    a, b, c = triple
    year, month, day = {"dmy": (c, b, a), "mdy": (c, a, b), "ymd": (a, b, c), "ydm": (a, c, b)}[
        order
    ]
    if two_digit_year:
        if year >= 100:
            return None
        year += 2000
        if year < FIRST_WHATSAPP_YEAR:
            return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def attachment_date(text: str) -> dt.date | None:
    match = ATTACHMENT_DATE.search(text)
    if match is None:
        return None
    y, m, d = (int(match.group(g)) for g in ("abc" if match.group("a") else "xyz"))
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def decide(
    dates: list[Triple],
    *,
    year_digits: tuple[int, int],
    attachments: list[tuple[Triple, dt.date]],
    twelve_hour: bool,
) -> DateOrder | None:
    """The order of a file's header dates (in file order), or None when no order reads them all.

    `year_digits` is the widest first and last field seen: a four-digit field is the year."""
    first_width, last_width = year_digits
    if first_width == 4:
        candidates = ["ymd", "ydm"]
    elif last_width == 4:
        candidates = ["dmy", "mdy"]
    else:
        candidates = list(ORDERS)
    two_digit = first_width != 4 and last_width != 4
    distinct = list(dict.fromkeys(dates))
    readings = {}
    for order in candidates:
        read = [calendar_date(t, order, two_digit) for t in distinct]
        if all(read):
            readings[order] = dict(zip(distinct, read, strict=True))
    if not readings:
        return None
    if first_width == 4 and "ymd" in readings:
        # A four-digit year first is ISO order; year-day-month is read only when ISO cannot be.
        return DateOrder("ymd", "a four-digit year first", two_digit)
    if len(readings) == 1:
        return DateOrder(next(iter(readings)), "impossible dates in the other readings", two_digit)
    remaining = list(readings)
    if attachments:
        agree = {
            order: sum(
                abs(readings[order][t] - when) <= dt.timedelta(days=1) for t, when in attachments
            )
            for order in remaining
        }
        best = max(agree.values())
        if best and list(agree.values()).count(best) < len(agree):
            remaining = [o for o in remaining if agree[o] == best]
            if len(remaining) == 1:
                return DateOrder(remaining[0], "the dates in attachment names", two_digit)
    sequence = [t for i, t in enumerate(dates) if i == 0 or t != dates[i - 1]]
    descents = {o: _descents(sequence, readings[o]) for o in remaining}
    fewest = min(descents.values())
    if list(descents.values()).count(fewest) < len(descents):
        remaining = [o for o in remaining if descents[o] == fewest]
        if len(remaining) == 1:
            return DateOrder(remaining[0], "the order of the messages", two_digit)
    if {o[0] == "y" for o in remaining} == {True, False}:
        spans = {o: _span(readings[o]) for o in remaining}
        first = min(spans[o] for o in remaining if o[0] == "y")
        last = min(spans[o] for o in remaining if o[0] != "y")
        if first != last:
            year_first = first < last
            remaining = [o for o in remaining if (o[0] == "y") == year_first]
            if len(remaining) == 1:
                return DateOrder(remaining[0], "the order of the messages", two_digit)
    if any(o[0] == "y" for o in remaining):
        fallback = "ymd" if "ymd" in remaining else remaining[0]
    else:
        fallback = "mdy" if twelve_hour and "mdy" in remaining else remaining[0]
        fallback = "dmy" if not twelve_hour and "dmy" in remaining else fallback
    return DateOrder(fallback, "the clock (nothing in the file decides)", two_digit, ambiguous=True)


def _descents(sequence: list[Triple], reading: dict) -> int:
    days = [reading[t].toordinal() for t in sequence]
    return sum(later < earlier for earlier, later in itertools.pairwise(days))


def _span(reading: dict) -> int:
    days = [date.toordinal() for date in reading.values()]
    return max(days) - min(days)
