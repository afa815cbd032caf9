"""Text cut into the units stylometry counts: paragraphs, sentences and words.

Paragraphs split on blank lines; sentences with a regex splitter that knows ., !, ?, …,
closing quotes and brackets, and common abbreviations; words are letter/digit runs with inner
apostrophes or hyphens, lowercased, curly apostrophes folded to straight ones. Also the
moving-window vocabulary measures, which need the words in order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

MATTR_WINDOW = 100

_WORD = re.compile(r"[^\W_]+(?:['’\-‐][^\W_]+)*")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v]*\n")
_CLOSERS = "\"'”’)]»"
_OPENERS = "\"'“‘([«"
_TERMINATOR = re.compile(r"[.!?…]+[\"'”’)\]»]*(?=\s|$)")
_NEVER_END = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "fr", "st", "mt", "capt", "col", "gen", "lt",
        "sgt", "hon", "gov", "sen", "e.g", "i.e", "cf", "vs", "viz", "approx", "ca",
    }
)  # fmt: skip
_MAYBE_END = frozenset({"etc", "inc", "ltd", "co", "corp", "jr", "sr", "esq", "al"})
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")
_CONTRACTION_SUFFIXES = ("n't", "'re", "'ve", "'ll", "'d", "'m")
_S_CONTRACTIONS = frozenset(
    {"it's", "that's", "he's", "she's", "there's", "here's", "what's", "who's", "where's",
     "how's", "when's", "why's", "let's"}
)  # fmt: skip

PUNCTUATION_PATTERNS: dict[str, re.Pattern[str]] = {
    "comma": re.compile(r"(?<!\d),|,(?!\d)"),  # not the thousands comma in 1,000
    "semicolon": re.compile(r";"),
    "colon": re.compile(r"(?<!\d):|:(?!\d)"),  # not the colon in 12:30
    "dash": re.compile(r"—+|(?<!\d)–|–(?!\d)|(?<!-)-{2,3}(?!-)|(?<=\S)[ \t]+-[ \t]+(?=\S)"),
    "exclamation": re.compile(r"!+"),
    "question": re.compile(r"\?+"),
    "ellipsis": re.compile(r"…|\.{3,}|\.(?: \.){2,}"),
    "parenthesis": re.compile(r"[(\[]"),
    "double_quote": re.compile(r"[\"“”„]"),
    "single_quote": re.compile(r"‘|(?:(?<=^)|(?<=[\s(\[—]))'(?=[^\W_])", re.MULTILINE),
}


def normalize_word(word: str) -> str:
    """The counting form of a word: lowercased, curly apostrophe and Unicode hyphen made ASCII."""
    return word.lower().replace("’", "'").replace("‐", "-")


def words_of(text: str) -> list[str]:
    """Words as written (case kept): letter/digit runs with inner apostrophes or hyphens."""
    return _WORD.findall(text)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs on blank lines, with inner whitespace collapsed; empty ones dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(text))
    return [p for p in paragraphs if p]


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph.

    A sentence ends at ., !, ?, … (or a run of them), plus any closing quotes or brackets, before
    whitespace. Exceptions keep the usual false ends together: titles and Latin abbreviations
    (Mr., Dr., e.g.) never end a sentence, a single capital (an initial) neither; "etc.", "Inc."
    and dotted initialisms (U.S., p.m.) end one only before a word that is not lowercase; an
    ellipsis or a mark inside closing quotes ("Why?" he asked) ends one only before a word that is
    not lowercase either.
    """
    text = " ".join(paragraph.split())
    sentences: list[str] = []
    start = 0
    for match in _TERMINATOR.finditer(text):
        if _ends_sentence(text, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    rest = text[match.end() :].lstrip()
    if not rest:
        return True
    next_is_lower = rest[0].islower()
    mark = match.group()
    core = mark.rstrip(_CLOSERS)
    if "…" in core or ".." in core or len(core) < len(mark):
        return not next_is_lower
    if core != ".":
        return True
    before = re.search(r"\S+$", text[: match.start()])
    if before is None:
        return True
    token = before.group().lstrip(_OPENERS)
    low = token.lower()
    if low in _NEVER_END:
        return False
    if len(token) == 1 and token.isalpha() and token.isupper():
        return False
    if low in _MAYBE_END or _DOTTED.fullmatch(low):
        return not next_is_lower
    return True


def is_contraction(word: str) -> bool:
    """A contraction in counting form (see `normalize_word`): don't, we're, it's, I'd, ..."""
    return word.endswith(_CONTRACTION_SUFFIXES) or word in _S_CONTRACTIONS


def is_i_word(word: str) -> bool:
    low = normalize_word(word)
    return low == "i" or low.startswith("i'")


def moving_window_ratios(words: Sequence[str], window: int = MATTR_WINDOW) -> tuple[float, float]:
    """(type-token ratio, hapax/types), each averaged over every window of `window` words.

    One pass: the window's counts, types and hapax are updated as it slides. A sequence shorter
    than the window is one window of its own length (plain ratios). Empty gives (0, 0).
    """
    n = len(words)
    if n == 0:
        return 0.0, 0.0
    size = min(window, n)
    counts = Counter(words[:size])
    types = len(counts)
    hapax = sum(1 for c in counts.values() if c == 1)
    ttr_sum, hapax_sum = types / size, hapax / types
    for i in range(size, n):
        old, new = words[i - size], words[i]
        c = counts[old]
        if c == 1:
            del counts[old]
            types -= 1
            hapax -= 1
        else:
            counts[old] = c - 1
            if c == 2:
                hapax += 1
        c = counts.get(new, 0)
        if c == 0:
            types += 1
            hapax += 1
        elif c == 1:
            hapax -= 1
        counts[new] = c + 1
        ttr_sum += types / size
        hapax_sum += hapax / types
    windows = n - size + 1
    return ttr_sum / windows, hapax_sum / windows
