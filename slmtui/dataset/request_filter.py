"""The filter on what the base model writes: tidy it, then judge whether it is a usable request.

A rejected request falls back to a "continue" example; its reason is kept with it in the store
and counted in the snapshot's manifest. The verdict is taken again at every build, so a better
filter needs no new generations.
"""

from __future__ import annotations

import re
from collections import Counter

from slmtui.dataset.kinds import truncate_words

MIN_WORDS = 3
MAX_WORDS = 80

_LABEL = re.compile(
    r"^\W{0,3}(?:(?:the|my|your|a)\s+)?(?:request|prompt|instruction|question|retelling|"
    r"paraphrase|answer)(?:\s+(?:is|was|would be|could be))?\W{0,3}:\W{0,3}\s*",
    re.IGNORECASE,
)
_REQUEST_IS_TO = re.compile(
    r"^(?:the|my|a|their)\s+request\s+(?:is|was|would be|could be|might be)\s+(?:to\s+)?(\w)",
    re.IGNORECASE,
)
_SUBJECT = r"^\W*(?:the|this)\s+(?:text|passage|piece|excerpt|story|writing)(?:\s+above)?\s+"
# Small models answer "what is this about" more readily than they write a request: turn their
# description into the request it implies ("The text is about X" -> "Write about X").
_DESCRIPTIONS = (
    (
        re.compile(_SUBJECT + r"(?:is|was)\s+(?:mainly\s+|mostly\s+|all\s+)?about\s+", re.I),
        "Write about ",
    ),
    (
        re.compile(
            _SUBJECT
            + r"(?:is|was)\s+(an?\s+[^,.;:]{1,50}?\s+(?:about|of|on|from|to|describing)\s+)",
            re.I,
        ),
        "Write {0}",
    ),
    (re.compile(_SUBJECT + r"(describes|tells|recounts|explains)\s+", re.I), "{0} "),
)
# "Write about a story about X" reads better as "Write a story about X".
_FORM_ABOUT = re.compile(
    r"^Write about ((?:a|an|the)\s+(?:short\s+)?(?:story|scene|tale|letter|poem|journal entry|"
    r"diary entry|account|moment|day|note)\s+(?:about|of|in|where|from|to|on))\s+"
)
_NOT_A_SENTENCE_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Mt|vs|etc|e\.g|i\.e)\.$", re.IGNORECASE)
_VERBS = {"describes": "Describe", "tells": "Tell", "recounts": "Recount", "explains": "Explain"}
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»"}


def _first_sentence(text: str) -> str:
    for match in re.finditer(r"[.!?](?=\s)", text):
        if not _NOT_A_SENTENCE_END.search(text[: match.end()]):
            return text[: match.end()]
    return text


def clean_generation(text: str, kind: str = "backtranslate") -> str:
    """What a model wrote, tidied: labels ("Request:"), wrapping quotes and extra spaces go.

    A request that came back as a description ("The text is about X") becomes the request it
    implies ("Write about X"); a retelling cut off by the token limit loses its unfinished
    last sentence.
    """
    text = (text or "").strip()
    text = _LABEL.sub("", text, count=1).strip()
    if kind == "backtranslate":
        for pattern, replacement in _DESCRIPTIONS:
            match = pattern.match(text)
            if match:
                words = [_VERBS.get(group.lower(), group) for group in match.groups()]
                rest = _first_sentence(text[match.end() :])
                text = _FORM_ABOUT.sub(r"Write \1 ", replacement.format(*words) + rest, count=1)
                break
        match = _REQUEST_IS_TO.match(text)
        if match:
            text = match.group(1).upper() + text[match.end() :]
    if len(text) >= 2 and text[0] in _QUOTES:
        close = _QUOTES[text[0]]
        body = text[1:]
        if body.endswith(close) and close not in body[:-1]:
            text = body[:-1].strip()
        elif len(body) >= 2 and body[-2] == close and body[-1] in ".!?" and close not in body[:-2]:
            text = body[:-2].strip()
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if kind == "rewrite" and not re.search(r"[.!?…][\"'”’)]*$", text):
        ends = [m.end() for m in re.finditer(r"[.!?…][\"'”’)]*(?=\s)", text)]
        if ends:
            text = text[: ends[-1]]
    return text


_SPECIAL_TOKENS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|</?s>|\[/?INST\]|<start_of_turn>|<end_of_turn>", re.IGNORECASE
)
_BOILERPLATE = re.compile(
    r"^\W*(?:here\s+is|here's|here\s+are|sure\b|certainly\b|of\s+course\b|as\s+an\s+ai\b|"
    r"as\s+a\s+(?:large\s+)?language\s+model\b|i'm\s+sorry|i\s+am\s+sorry|i\s+apologi[sz]e|"
    r"i\s+cannot\b|i\s+can't\b|i\s+can\s+not\b)",
    re.IGNORECASE,
)
_ABOUT_THE_PASSAGE = re.compile(
    r"^\W*(?:the|this|that)\s+(?:text|passage|excerpt|writer|author|story|piece)\b"
    r"|^\W*(?:a|the)\s+(?:person|reader|user|writer)\s+(?:might|would|could|may)\b"
    r"|^\W*(?:someone|they)\s+(?:might|would|could|may)\s+have\b"
    r"|\b(?:the|this|that|above|following|given)\s+(?:text|passage|excerpt)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[\w']+")
# How a request or question opens; a backtranslation that opens otherwise is not a request.
_REQUEST_OPENERS = frozenset((
    "write", "draft", "compose", "create", "make", "pen", "jot", "put", "give", "tell", "share",
    "describe", "explain", "recount", "recall", "remember", "imagine", "picture", "summarise",
    "summarize", "list", "suggest", "send", "reply", "respond", "answer", "help", "show", "let",
    "walk", "talk", "paint", "sketch", "capture", "finish", "continue", "start", "begin", "note",
    "please", "kindly", "can", "could", "would", "will", "should", "may", "might", "shall", "do",
    "does", "did", "is", "are", "was", "were", "have", "has", "what", "how", "why", "when",
    "where", "who", "whom", "whose", "which",
))  # fmt: skip
_FIRST_PERSON_REQUEST = re.compile(
    r"^\W*i(?:'d|\s+would|\s+want|\s+need|\s+wish|\s+am\s+looking|'m\s+looking)\b", re.IGNORECASE
)
# Words every request may use; a request must share some other word with its passage.
_REQUEST_WORDS = frozenset((
    "write", "draft", "compose", "create", "make", "tell", "share", "describe", "explain", "about",
    "what", "how", "why", "when", "where", "who", "which", "that", "this", "with", "from", "your",
    "their", "there", "them", "they", "have", "been", "were", "would", "could", "should", "please",
    "some", "something", "anything", "everything", "piece", "short", "long", "letter", "note",
    "entry", "journal", "diary", "story", "essay", "post", "blog", "poem", "paragraph", "page",
    "text", "passage", "question", "answer", "request", "words", "sentence", "reply", "email",
    "message", "account", "describing", "explaining", "telling", "writing", "day", "life", "time",
    "thing", "things", "best", "good", "like", "into", "over", "just", "more", "most", "very",
    "much", "many", "also", "even", "only", "then", "than", "what's",
    "the", "and", "for", "you", "but", "not", "are", "was", "his", "her", "she", "him", "has",
    "had", "who", "any", "all", "can", "our", "its", "one", "out", "how", "why", "get", "got",
    "let", "may", "say", "see", "use", "way", "new", "too", "two", "way", "did", "does", "off",
))  # fmt: skip


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _shingles(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _longest_shared_run(words: list[str], other: set[tuple[str, ...]], n: int) -> int:
    """Length in words of the longest run of `words` whose n-grams all occur in `other`."""
    best = run = 0
    for shingle in _shingles(words, n):
        run = run + 1 if shingle in other else 0
        best = max(best, run)
    return best + n - 1 if best else 0


def check_generation(
    text: str, passage: str, *, kind: str = "backtranslate", prompt: str = ""
) -> str | None:
    """Why a (cleaned) generation is unusable, or None when it is fine.

    Rejects empty, too short or long, looping, copied (from the passage or the prompt), chatbot
    boilerplate and chat special tokens; a request must also open like a request or question,
    not talk about "the text", and share at least one content word with its passage (tiny models
    otherwise answer with an unrelated stock request).
    """
    if not text.strip():
        return "empty"
    if _SPECIAL_TOKENS.search(text):
        return "contains chat special tokens"
    if _BOILERPLATE.match(text):
        return "starts with assistant boilerplate"
    words = _words(text)
    if len(words) < MIN_WORDS:
        return f"too short (under {MIN_WORDS} words)"
    if len(words) > MAX_WORDS:
        return f"too long (over {MAX_WORDS} words)"
    trigrams = Counter(_shingles(words, 3))
    fourgrams = Counter(_shingles(words, 4))
    if (trigrams and trigrams.most_common(1)[0][1] >= 3) or (
        fourgrams and fourgrams.most_common(1)[0][1] >= 2
    ):
        return "repeats itself"
    counts = Counter(words)
    for word, count in counts.most_common(3):
        if (
            (count >= 3 and count >= 0.5 * len(words))
            or (len(word) >= 4 and count >= 4 and count >= 0.15 * len(words))
            or (count >= 6 and count >= 0.3 * len(words))
        ):
            return f"repeats '{word}'"
    n = min(4, len(words))
    own = _shingles(words, n)
    source = set(_shingles(_words(passage), n))
    shared = sum(shingle in source for shingle in own) / len(own)
    if kind == "backtranslate":
        # A request may name the passage's title; it may not be a stretch of the passage.
        copied = _longest_shared_run(words, source, n) >= 10 or (len(words) >= 8 and shared >= 0.8)
    else:
        copied = shared >= 0.5
    if copied:
        return "copies the passage"
    if prompt:
        instructions = set(_shingles(_words(prompt.replace(truncate_words(passage), "")), n))
        if sum(shingle in instructions for shingle in own) / len(own) >= 0.5:
            return "copies the prompt"
    if kind == "backtranslate":
        if _ABOUT_THE_PASSAGE.search(text):
            return "describes the passage instead of asking for it"
        opener = words[0].split("'")[0]
        if opener not in _REQUEST_OPENERS and not _FIRST_PERSON_REQUEST.match(text):
            return "does not read as a request"
        passage_words = {_stem(word) for word in _words(passage)}
        content = [word for word in words if len(word) >= 3 and word not in _REQUEST_WORDS]
        if not any(_stem(word) in passage_words for word in content):
            return "not about the passage"
    return None


def _stem(word: str) -> str:
    """A crude stem, so that 'bees' matches 'bee' and 'hives' matches 'hive'."""
    word = word.removesuffix("'s")
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
