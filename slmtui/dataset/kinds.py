"""What a chunk of writing becomes, and what the base model is asked to write for it.

Every training chunk becomes exactly one example, of one of four kinds:

- raw: the text itself, for plain continuation;
- backtranslate: a chat pair whose request the base model wrote for the passage (instruction
  backtranslation), answered by the passage;
- continue: "continue this in my voice" with the first third or so of the passage, answered by
  the rest;
- rewrite: "rewrite this in my voice" with the base model's plain paraphrase, answered by the
  passage.

Which kind a chunk gets is a stable hash of its text hash and the seed against the configured
ratios, so adding writing never changes what older chunks became.

The generator prompt is shaped for the bundled SmolLM2-135M: asked directly for "the request
this passage answers", it talks about the passage ("A person might have asked...") nearly every
time; asked what the text is about, in the form of a request, most replies are usable, and the
ones phrased as descriptions ("The text is about X") are turned into the request they imply
(`request_filter.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from slmtui.config import DatasetConfig

# A generator takes a prompt and returns the model's reply (see slmtui.dataset.generator).
Generator = Callable[[str], str]

# Bump when the prompts below change, so cached generations from old prompts are not reused;
# generators put it into their key (LlamaGenerator.key does).
PROMPT_VERSION = 1
KINDS = ("raw", "backtranslate", "continue", "rewrite")  # what a chunk of writing becomes
# ... a reply of yours in a conversation, and your name when asked for it
EXAMPLE_KINDS = (*KINDS, "dialogue", "identity", "correction", "preference")
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


def generator_prompt(kind: str, passage: str) -> str:
    """The prompt the base model gets to write the request (or paraphrase) for a passage."""
    return PROMPTS[kind].format(passage=truncate_words(passage))
