"""Build the style dataset: turn the store's chunks into training examples.

See docs/ARCHITECTURE.md, "The path of the data".

Every training chunk becomes exactly one example, of one of four kinds:

- raw: the text itself, for plain continuation;
- backtranslate: a chat pair whose request the base model wrote for the passage (instruction
  backtranslation), answered by the passage;
- continue: "continue this in my voice" with the first third or so of the passage, answered by
  the rest;
- rewrite: "rewrite this in my voice" with the base model's plain paraphrase, answered by the
  passage.

Which kind a chunk gets is a stable hash of its text hash and the seed against the configured
ratios, so adding writing never changes what older chunks became. Generated text is cached per
chunk, kind and generator in the store, so only new chunks cost generation time; what the model
writes goes through a filter, and a rejected generation falls back to a "continue" example.
Validation examples are every validation chunk as raw text, for perplexity on held-out writing.

The request prompt is shaped for the bundled SmolLM2-135M: asked directly for "the request this
passage answers", it talks about the passage ("A person might have asked...") nearly every time;
asked what the text is about, in the form of a request, most replies are usable, and the ones
phrased as descriptions ("The text is about X") are turned into the request they imply.

A build writes train.jsonl, val.jsonl and manifest.json (each atomically, manifest last) and has a
hash over its example lines: the identity of the snapshot a training run used.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from slmtui.config import DatasetConfig
from slmtui.dataset.dialogue import (
    DialogueSettings,
    dialogue_examples,
    identity_examples,
    system_prompt,
)
from slmtui.files import read_json_if_valid, write_json_atomic, write_text_atomic
from slmtui.ingest.store import CachedPrompt, LiveChunk, Store

# A generator takes a prompt and returns the model's reply (see slmtui.dataset.generator).
Generator = Callable[[str], str]

# Bump when the prompts below change, so cached generations from old prompts are not reused;
# generators put it into their key (LlamaGenerator.key does).
PROMPT_VERSION = 1
# Bump when the layout of an example line changes.
FORMAT_VERSION = 1

KINDS = ("raw", "backtranslate", "continue", "rewrite")  # what a chunk of writing becomes
# ... a reply of yours in a conversation, and your name when asked for it
EXAMPLE_KINDS = (*KINDS, "dialogue", "identity")
GENERATED_KINDS = ("backtranslate", "rewrite")

CONTINUE_INSTRUCTIONS = (
    "Continue this in my voice:",
    "Keep writing from here, the way I would:",
    "Finish this in my style:",
    "Pick up where this leaves off, in my voice:",
    "Carry on with this as I would write it:",
)
REWRITE_INSTRUCTION = "Rewrite this in my voice:"

# SmolLM2-135M loses the thread in long prompts: the passage shown to it is cut to this
# (characters too, for text without spaces between words).
PROMPT_WORDS = 250
PROMPT_CHARS = 2000
MIN_WORDS = 3
MAX_WORDS = 80

BACKTRANSLATE_PROMPT = """\
{passage}

---
What is the text above about? Reply with one short request for it, such as "Write about ..." \
or "Describe ...", and nothing else."""

REWRITE_PROMPT = """\
{passage}

---
Retell the text above in a few plain, simple sentences, in your own words. Reply with the \
retelling only."""

PROMPTS = {"backtranslate": BACKTRANSLATE_PROMPT, "rewrite": REWRITE_PROMPT}


class DatasetError(RuntimeError):
    """A dataset file cannot be read."""


@dataclass(frozen=True)
class DatasetBuild:
    """One written dataset snapshot: its folder, its identity and what it holds."""

    path: Path
    hash: str
    stats: dict

    @property
    def train_path(self) -> Path:
        return self.path / "train.jsonl"

    @property
    def val_path(self) -> Path:
        return self.path / "val.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"


# -- which kind ---------------------------------------------------------------------------------


def _unit(key: str) -> float:
    """A stable number in [0, 1) for a string."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2**64


def kind_for(chunk_hash: str, config: DatasetConfig) -> str:
    """The kind of example a chunk becomes: a stable function of its hash, the seed, the ratios.

    With every ratio at zero, everything is raw text.
    """
    weights = [max(0.0, float(getattr(config, f"{kind}_ratio"))) for kind in KINDS]
    total = sum(weights)
    if total <= 0:
        return "raw"
    point = _unit(f"kind:{config.seed}:{chunk_hash}") * total
    for kind, weight in zip(KINDS, weights, strict=True):
        if point < weight:
            return kind
        point -= weight
    return [kind for kind, weight in zip(KINDS, weights, strict=True) if weight > 0][-1]


def continue_instruction(chunk_hash: str, seed: int = 0) -> str:
    """One of the fixed phrasings, picked by the chunk so a rebuild picks the same one."""
    index = int(_unit(f"instruction:{seed}:{chunk_hash}") * len(CONTINUE_INSTRUCTIONS))
    return CONTINUE_INSTRUCTIONS[index]


# -- continue: where to cut ---------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n\s*")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*(\s+)(?=[\"“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_WORD_BREAK = re.compile(r"\s+")


def split_for_continue(text: str, low: float = 0.3, high: float = 0.4) -> tuple[str, str] | None:
    """(head, tail) of a passage, cut on whitespace near low..high of its length.

    A paragraph break inside the window wins, then a sentence end or line break; failing both,
    the nearest such boundary within a wider window, and last the nearest space. The text between
    head and tail is whitespace only, so head + that + tail is the passage. None when the passage
    has no place to cut.
    """
    size = len(text)
    target = size * (low + high) / 2

    def cuts(pattern: re.Pattern, group: int = 0) -> list[tuple[int, int]]:
        spans = [match.span(group) for match in pattern.finditer(text)]
        return [(start, end) for start, end in spans if start > 0 and end < size]

    paragraphs = cuts(_PARAGRAPH_BREAK)
    sentences = cuts(_SENTENCE_BREAK, 1) + cuts(_LINE_BREAK)
    for candidates, (lo, hi) in (
        (paragraphs, (low, high)),
        (sentences, (low, high)),
        (paragraphs + sentences, (0.2, 0.6)),
        (cuts(_WORD_BREAK), (0.0, 1.0)),
    ):
        inside = [span for span in candidates if lo * size <= span[0] <= hi * size]
        if inside:
            start, end = min(inside, key=lambda span: (abs(span[0] - target), span[0]))
            head, tail = text[:start], text[end:]
            if head.strip() and tail.strip():
                return head, tail
    return None


# -- prompts and the filter ---------------------------------------------------------------------


def truncate_words(text: str, limit: int = PROMPT_WORDS, max_chars: int = PROMPT_CHARS) -> str:
    """The text cut after `limit` words or `max_chars` characters, with an ellipsis if cut."""
    text = text.strip()
    matches = list(re.finditer(r"\S+", text))
    end = matches[limit - 1].end() if len(matches) > limit else len(text)
    if end > max_chars:
        end = max_chars
        space = text.rfind(" ", 0, end)
        if space > max_chars // 2:
            end = space
    return text if end >= len(text) else text[:end].strip() + " …"


def prompt_for(kind: str, passage: str) -> str:
    """The prompt the generator gets for a passage."""
    return PROMPTS[kind].format(passage=truncate_words(passage))


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


# -- building -----------------------------------------------------------------------------------


def _chat(kind: str, user: str, assistant: str, chunk_hash: str) -> dict:
    return {
        "kind": kind,
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ],
        "chunk": chunk_hash,
    }


def raw_example(chunk: LiveChunk) -> dict:
    return {"kind": "raw", "text": chunk.text, "chunk": chunk.hash}


def _continue(chunk: LiveChunk, seed: int) -> dict | None:
    parts = split_for_continue(chunk.text)
    if parts is None:
        return None
    head, tail = parts
    instruction = continue_instruction(chunk.hash, seed)
    return _chat("continue", f"{instruction}\n\n{head}", tail, chunk.hash)


def build_dataset(
    store: Store,
    out_dir: Path,
    config: DatasetConfig,
    generator: Generator | None,
    generator_key: str,
    *,
    chunk_filter: Callable[[LiveChunk], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    generate: bool = True,
    dialogue: DialogueSettings | None = None,
) -> DatasetBuild:
    """Write the style dataset for the store's current chunks into out_dir.

    Four steps: select the chunks, generate what the cache lacks, assemble one example per
    chunk, write the snapshot. chunk_filter, if given, sees every live chunk (training and
    validation: look at `chunk.split`) and keeps those it returns True for. progress(done, total)
    is called before the first and after every generation; total is the number of chunks not in
    the cache. Without a generator, chunks meant for generated kinds become "continue" examples.
    With `generate` off, only the generator's cached requests are used and the chunks still
    waiting for one ("pending") become "continue" examples: the same fallback, counted apart.
    Conversations from chat exports add one "dialogue" example per reply of yours
    (`dataset/dialogue.py`); `dialogue` carries who you are and how replies are cut.
    """
    train, val = select_chunks(store, chunk_filter)
    planned = [(chunk, kind_for(chunk.hash, config)) for chunk in train]
    generated = Generated()
    if generator is not None:
        writer = generator if generate else None
        generated = generate_missing(store, planned, writer, generator_key, progress)
    examples, stats = assemble(planned, generated, config.seed)
    val_examples = [raw_example(chunk) for chunk in val]
    chats = dialogue_examples(store, dialogue or DialogueSettings(seed=config.seed))
    names = chats.names if dialogue else ()
    system = system_prompt(dialogue, names) if dialogue else ""
    if system:
        # The writing's chat pairs say who is answering, as the conversations do.
        for example in examples:
            if "messages" in example:
                example["messages"].insert(0, {"role": "system", "content": system})
    identity = identity_examples(names, system)
    examples += chats.train + identity
    val_examples += chats.val
    stats["kinds"]["dialogue"] = len(chats.train)
    stats["kinds"]["identity"] = len(identity)
    stats["dialogue"] = chats.stats
    stats.update(
        planned={kind: sum(k == kind for _, k in planned) for kind in KINDS},
        train=len(examples),
        val=len(val_examples),
        tokens=sum(chunk.tokens for chunk in train) + sum(chunk.tokens for chunk in val),
        train_tokens=sum(chunk.tokens for chunk in train),
        val_tokens=sum(chunk.tokens for chunk in val),
    )
    key = generator_key if generator is not None else None
    return write_snapshot(Path(out_dir), examples, val_examples, stats, config, key)


def select_chunks(
    store: Store, chunk_filter: Callable[[LiveChunk], bool] | None, *, excluded: bool = False
) -> tuple[list[LiveChunk], list[LiveChunk]]:
    """The live chunks, each text once, that the filter keeps: (training, validation).

    What the person excluded (an example, a whole document) is left out, in both splits, so
    that its text never reaches a snapshot; `excluded=True` keeps it, for listing.
    """
    train: list[LiveChunk] = []
    val: list[LiveChunk] = []
    seen: set[str] = set()
    exclusions = store.exclusions()
    for chunk in store.live_chunks():
        if chunk.split == "new":  # an ingest pass is deciding its split right now
            continue
        if chunk.hash in seen or (chunk_filter is not None and not chunk_filter(chunk)):
            continue
        if not excluded and exclusions.excludes(chunk):
            continue
        seen.add(chunk.hash)
        (val if chunk.split == "val" else train).append(chunk)
    return train, val


@dataclass
class Generated:
    """What the base model wrote, per generated kind and chunk, and which of it is new."""

    cache: dict[str, dict[str, CachedPrompt]] = field(
        default_factory=lambda: {kind: {} for kind in GENERATED_KINDS}
    )
    fresh: set[tuple[str, str]] = field(default_factory=set)
    keyed: bool = False  # a generator was named: a chunk missing from the cache is pending


def generate_missing(
    store: Store,
    planned: list[tuple[LiveChunk, str]],
    generator: Generator | None,
    generator_key: str,
    progress: Callable[[int, int], None] | None,
) -> Generated:
    """Read the cache for the planned generated kinds, and generate (and cache) what it lacks.

    Without a generator only the cache is read (the app's retrain: what is not ready is pending).
    """
    generated = Generated(keyed=True)
    needed = {kind for _, kind in planned if kind in GENERATED_KINDS}
    generated.cache.update({kind: store.cached_prompts(kind, generator_key) for kind in needed})
    todo = [
        (chunk, kind)
        for chunk, kind in planned
        if kind in GENERATED_KINDS and chunk.hash not in generated.cache[kind]
    ]
    if generator is None:
        return generated
    if progress is not None:
        progress(0, len(todo))
    for done, (chunk, kind) in enumerate(todo, 1):
        prompt = prompt_for(kind, chunk.text)
        output = str(generator(prompt) or "")
        reason = check_generation(
            clean_generation(output, kind), chunk.text, kind=kind, prompt=prompt
        )
        store.cache_prompt(
            chunk.hash, kind, generator_key, output, accepted=reason is None, reason=reason
        )
        generated.cache[kind][chunk.hash] = CachedPrompt(output, reason is None, reason)
        generated.fresh.add((chunk.hash, kind))
        if progress is not None:
            progress(done, len(todo))
    return generated


@dataclass(frozen=True)
class RequestStatus:
    """How far the requests of generated chat pairs are: ready, rejected, still pending."""

    total: int
    ready: int
    rejected: int

    @property
    def pending(self) -> int:
        return self.total - self.ready - self.rejected

    def describe(self) -> str:
        """'chat pairs: 41 of 69 ready, 3 rejected' for the Library and `slmtui watch`."""
        text = f"chat pairs: {self.ready} of {self.total} ready"
        return text + (f", {self.rejected} rejected" if self.rejected else "")

    def as_dict(self) -> dict:
        return {**asdict(self), "pending": self.pending}


def planned_requests(store: Store, config: DatasetConfig) -> list[tuple[LiveChunk, str]]:
    """The training chunks whose kind needs a generated request, with that kind."""
    train, _ = select_chunks(store, None)
    planned = ((chunk, kind_for(chunk.hash, config)) for chunk in train)
    return [(chunk, kind) for chunk, kind in planned if kind in GENERATED_KINDS]


def request_status(
    store: Store,
    config: DatasetConfig,
    generator_key: str,
    planned: list[tuple[LiveChunk, str]] | None = None,
) -> RequestStatus:
    """Count the planned requests the cache holds for this generator, accepted or rejected.

    `planned` (from planned_requests) spares reading every chunk again when it is known.
    """
    planned = planned_requests(store, config) if planned is None else planned
    cache = {kind: store.cached_prompts(kind, generator_key) for kind in GENERATED_KINDS}
    entries = [cache[kind].get(chunk.hash) for chunk, kind in planned]
    ready = sum(1 for entry in entries if entry is not None and entry.accepted)
    rejected = sum(1 for entry in entries if entry is not None and not entry.accepted)
    return RequestStatus(len(planned), ready, rejected)


def assemble(
    planned: list[tuple[LiveChunk, str]], generated: Generated, seed: int
) -> tuple[list[dict], dict]:
    """One example per planned chunk, falling back to "continue", then raw; and the counts."""
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    cached = rejected = 0
    examples: list[dict] = []
    for chunk, kind in planned:
        example = None
        if kind in GENERATED_KINDS:
            entry = generated.cache[kind].get(chunk.hash)
            if entry is None:
                fallbacks["pending" if generated.keyed else "no generator"] += 1
            else:
                cached += (chunk.hash, kind) not in generated.fresh
                # The verdict is taken again, so a better filter needs no new generations.
                prompt = prompt_for(kind, chunk.text)
                text = clean_generation(entry.output, kind)
                reason = check_generation(text, chunk.text, kind=kind, prompt=prompt)
                if reason is None:
                    user = text if kind == "backtranslate" else f"{REWRITE_INSTRUCTION}\n\n{text}"
                    example = _chat(kind, user, chunk.text, chunk.hash)
                else:
                    rejected += 1
                    reasons[reason] += 1
                    fallbacks[f"rejected {kind}"] += 1
            kind = "continue" if example is None else kind
        if kind == "continue":
            example = _continue(chunk, seed)
            if example is None:
                fallbacks["no place to cut"] += 1
        if example is None:
            example = raw_example(chunk)
        kinds[example["kind"]] += 1
        examples.append(example)
    stats = {
        "kinds": {kind: kinds.get(kind, 0) for kind in KINDS},
        "generated": len(generated.fresh),
        "cached": cached,
        "rejected": rejected,
        "rejected_reasons": dict(sorted(reasons.items())),
        "fallbacks": dict(sorted(fallbacks.items())),
        "pending": fallbacks.get("pending", 0),
    }
    return examples, stats


def write_snapshot(
    out_dir: Path,
    examples: list[dict],
    val_examples: list[dict],
    stats: dict,
    config: DatasetConfig,
    generator_key: str | None,
) -> DatasetBuild:
    """train.jsonl, val.jsonl, then manifest.json (each atomically, the manifest last), hashed."""
    train_lines = [json.dumps(example, ensure_ascii=False) for example in examples]
    val_lines = [json.dumps(example, ensure_ascii=False) for example in val_examples]
    digest = hashlib.sha256()
    tagged = [f"train\t{line}" for line in train_lines] + [f"val\t{line}" for line in val_lines]
    for line in sorted(tagged):
        digest.update(line.encode())
        digest.update(b"\n")
    order = ("kinds", "planned", "train", "val", "generated", "cached", "rejected",
             "rejected_reasons", "fallbacks", "pending", "tokens", "train_tokens",
             "val_tokens", "dialogue")  # fmt: skip
    build = DatasetBuild(
        out_dir, digest.hexdigest(), {key: stats[key] for key in order if key in stats}
    )
    manifest = {
        "format": FORMAT_VERSION,
        "hash": build.hash,
        "created_at": time.time(),
        "generator_key": generator_key,
        "config": asdict(config),
        "stats": build.stats,
        "files": {"train": "train.jsonl", "val": "val.jsonl"},
    }
    write_text_atomic(build.train_path, "".join(line + "\n" for line in train_lines))
    write_text_atomic(build.val_path, "".join(line + "\n" for line in val_lines))
    write_json_atomic(build.manifest_path, manifest)
    return build


def read_manifest(folder: Path) -> dict:
    """A snapshot's manifest ({} when it has none or it is damaged)."""
    return read_json_if_valid(Path(folder) / "manifest.json") or {}


def read_examples(path: Path) -> Iterator[dict]:
    """The examples of one JSON-lines file (train.jsonl or val.jsonl), in order."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
            if not isinstance(example, dict):
                raise DatasetError(f"{path}:{number}: an example must be a JSON object")
            yield example


__all__ = [
    "CONTINUE_INSTRUCTIONS",
    "EXAMPLE_KINDS",
    "GENERATED_KINDS",
    "KINDS",
    "PROMPT_VERSION",
    "REWRITE_INSTRUCTION",
    "DatasetBuild",
    "DatasetError",
    "Generator",
    "build_dataset",
    "check_generation",
    "clean_generation",
    "continue_instruction",
    "kind_for",
    "prompt_for",
    "read_examples",
    "split_for_continue",
]
