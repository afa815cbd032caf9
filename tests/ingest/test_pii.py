"""Optional scrubbing of personal details."""

from __future__ import annotations

import pytest

from slmtui.ingest.pii import PATTERNS, scrub

ALL = ("emails", "urls", "phones")  # the default
KINDS = (*ALL, "addresses")


def test_emails():
    text, counts = scrub("Write to ann.example+tag@mail.example.co.uk or bob@example.com.", ALL)
    assert text == "Write to [email] or [email]."
    assert counts == {"emails": 2, "urls": 0, "phones": 0}


def test_urls():
    text, counts = scrub(
        "See https://example.com/a/b?x=1, http://example.org. Or www.example.net/page!", ALL
    )
    assert text == "See [url], [url]. Or [url]!"
    assert counts == {"urls": 3, "emails": 0, "phones": 0}


def test_url_in_parentheses():
    text, _ = scrub("(see https://example.com/page)", ["urls"])
    assert text == "(see [url])"


def test_email_inside_url_counts_as_url():
    text, counts = scrub(
        "Profile at https://user@example.com/profile and mailto-free ann@example.com.", ALL
    )
    assert text == "Profile at [url] and mailto-free [email]."
    assert counts == {"urls": 1, "emails": 1, "phones": 0}


def test_email_inside_url_regardless_of_requested_order():
    text, counts = scrub("https://example.com/?to=ann@example.com", ["emails", "urls"])
    assert text == "[url]"
    assert counts == {"urls": 1, "emails": 0}


@pytest.mark.parametrize(
    "phone",
    [
        "+44 1234 567890",
        "(0131) 496-0000",
        "555-123-4567",
        "555.123.4567",
        "+1 (555) 123-4567",
        "07700 900123",
        "+33 1 23 45 67 89",
        "0131 496 0000",
    ],
)
def test_phone_styles(phone):
    text, counts = scrub(f"Call me on {phone} tomorrow.", ["phones"])
    assert text == "Call me on [phone] tomorrow."
    assert counts == {"phones": 1}


def test_several_phones_counted():
    text, counts = scrub("Home +44 1234 567890, work (0131) 496-0000, cell 555-123-4567.", ALL)
    assert text == "Home [phone], work [phone], cell [phone]."
    assert counts == {"urls": 0, "emails": 0, "phones": 3}


@pytest.mark.parametrize(
    "text",
    [
        "We met on 2024-03-05 and again on 2023-11-30.",
        "In 1999 there were 12345 of them, and 2,000,000 more by 2010.",
        "Chapter 12, page 345, verse 6.",
        "It cost £1,234.56 in 1987-88.",
        "Version 3.11.4 was released.",
        "Between 1914 and 1918.",
        "Order number ABC-1234567 shipped.",
    ],
)
def test_dates_years_and_numbers_kept(text):
    scrubbed, counts = scrub(text, ALL)
    assert scrubbed == text
    assert counts == {"urls": 0, "emails": 0, "phones": 0}


def test_only_requested_kinds():
    source = "Mail ann@example.com or call 555-123-4567, see https://example.com."
    text, counts = scrub(source, ["phones"])
    assert text == "Mail ann@example.com or call [phone], see https://example.com."
    assert counts == {"phones": 1}


def test_no_kinds_is_identity():
    assert scrub("ann@example.com", []) == ("ann@example.com", {})


def test_unknown_kind_raises():
    with pytest.raises(KeyError):
        scrub("text", ["passports"])


def test_patterns_cover_the_documented_kinds():
    assert set(PATTERNS) == set(KINDS)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Hamish lives at 14 Quay Street, above the chandlery.", "14 Quay Street"),
        ("Send it to 3a Harbour Road.", "3a Harbour Road."),
        ("We had 14 Quay days of rain.", None),
        ("In 1998 Street lights came to the island.", None),
    ],
)
def test_street_addresses(text, found):
    match = PATTERNS["addresses"][0].search(text)
    assert (match.group(0) if match else None) == found
