"""Plain-text clean-up shared by every format: what the model should learn from is the prose.

Extractors return text with paragraphs separated by blank lines; these functions make that text
uniform (Unicode NFC, tidy whitespace, hard-wrapped lines joined) and strip the parts of emails
and Markdown files that the author did not write as prose.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

_FRONT_MATTER = re.compile(
    r"\A(?:---|\+\+\+)[ \t]*\r?\n.*?\r?\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")
# In a message, only the invisible characters that carry nothing: joiners (U+200C, U+200D)
# build emoji sequences and spell Persian and Indic words, so they stay.
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff]")
_BLANK_LINES = re.compile(r"\n\s*\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
_ATTRIBUTION = re.compile(
    r"^(On .{4,200}wrote:|.{1,120} <[^>]+> (?:wrote|a écrit|schrieb):"
    r"|-{2,} ?Original Message ?-{2,}|-{2,} ?Forwarded message ?-{2,}|From: .+)$",
    re.I,
)

# A line is treated as hard-wrapped when it is at least this long and the next line continues
# the sentence: typical of text typed at 72-80 columns or quoted from email.
_WRAP_MIN = 50


def normalize_text(text: str) -> str:
    """NFC, tidy line ends and spaces, hard wraps joined, paragraphs split by one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text)
    paragraphs = []
    for block in _BLANK_LINES.split(text):
        lines = [_INLINE_SPACE.sub(" ", line).strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            paragraphs.append(_join_wrapped(lines))
    return "\n\n".join(paragraphs)


def normalize_message(text: str) -> str:
    """A chat message's text as written: NFC, tidy spaces, its line breaks and blank lines kept
    (a run of blank lines as one), joiners and emoji sequences intact."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    lines = (_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def _join_wrapped(lines: list[str]) -> str:
    """Join lines that were wrapped for width; keep deliberate breaks (verse, lists, addresses)."""
    out = [lines[0]]
    # Judge each break by the line as typed, not by the joined text so far: a short line ends
    # the wrapped run, and the break after it was meant.
    for previous, line in itertools.pairwise(lines):
        wrapped = len(previous) >= _WRAP_MIN and not _starts_item(line)
        out[-1:] = [f"{out[-1]} {line}"] if wrapped else [out[-1], line]
    return "\n".join(out)


def _starts_item(line: str) -> bool:
    return bool(re.match(r"([-*+•]|\d+[.)])\s", line))


def strip_front_matter(text: str) -> str:
    """Remove a YAML (---) or TOML (+++) front matter block at the top of a Markdown file."""
    return _FRONT_MATTER.sub("", text.lstrip("\ufeff"), count=1)


def strip_quoted_reply(text: str) -> str:
    """Drop quoted lines ('> ...') and the attribution line that introduces them."""
    kept: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        following = next((item for item in lines[index + 1 :] if item.strip()), "")
        if _ATTRIBUTION.match(line.strip()) and following.lstrip().startswith(">"):
            continue
        if re.match(r"^-{2,} ?(Original|Forwarded) (Message|message) ?-{2,}$", line.strip()):
            break
        kept.append(line)
    return "\n".join(kept)


def strip_signature(text: str) -> str:
    """Cut an email signature: everything after the standard '-- ' line."""
    lines = text.replace("\r\n", "\n").split("\n")
    for index in range(len(lines) - 1, -1, -1):
        if lines[index] in ("-- ", "--"):
            return "\n".join(lines[:index])
    return text


def comparison_key(text: str) -> str:
    """The text as compared for exact duplicates: case and spacing do not count."""
    return " ".join(text.casefold().split())
