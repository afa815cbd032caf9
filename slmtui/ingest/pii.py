"""Optional scrubbing of personal details before text is stored (off by default).

Patterns are deliberately conservative: a false positive costs a word of the author's prose,
a false negative keeps an address the author may not want in a model.
"""

from __future__ import annotations

import re

PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "emails": (
        re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
        "[email]",
    ),
    "urls": (
        re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']+[^\s<>()\"'.,;:!?]"),
        "[url]",
    ),
    "phones": (
        # Seven to fifteen digits with phone-style separators; ISO dates are not phones.
        re.compile(
            r"(?<![\w+-])(?!\d{4}-\d{1,2}-\d{1,2}\b)[+(]?\d(?:[ ().-]{0,2}\d){6,14}(?![\w-])"
        ),
        "[phone]",
    ),
    "addresses": (
        # A house number, one to three capitalised words and a street word: "14 Quay Street".
        re.compile(
            r"\b\d{1,5}[a-z]?,? (?:[A-Z][a-z]+ ){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|"
            r"Drive|Quay|Terrace|Place|Crescent|Close|Court|Square|Row|Way|Gardens|Parade)\b\.?"
        ),
        "[address]",
    ),
}


def scrub(text: str, kinds: list[str] | tuple[str, ...]) -> tuple[str, dict[str, int]]:
    """Replace each kind of detail with a placeholder; return the text and counts per kind."""
    counts: dict[str, int] = {}
    # URLs before emails so that user@host inside a URL is one URL, not an email.
    for kind in sorted(kinds, key=lambda k: k != "urls"):
        pattern, placeholder = PATTERNS[kind]
        text, n = pattern.subn(placeholder, text)
        counts[kind] = n
    return text, counts
