"""The author's held-out writing, and the prompts an evaluation asks every model.

Validation chunks never reach training (the split is a stable function of the document), so
they are the fair test of "does it write like me". Each one with a place to cut becomes a
"continue this in my voice" request, phrased as training phrases it: the model sees the first
third and writes the rest, and the author's own rest is the reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from slmtui.dataset.build import continue_instruction, split_for_continue
from slmtui.ingest.store import Store


class HeldOutError(RuntimeError):
    """There is no held-out writing to evaluate on; the message says what to do."""


@dataclass(frozen=True)
class EvalPrompt:
    chunk_hash: str
    request: str  # the user's message: instruction, blank line, the passage's beginning
    reference: str  # how the author went on


@dataclass(frozen=True)
class HeldOut:
    texts: list[str]  # every held-out chunk, whole
    prompts: list[EvalPrompt]

    @property
    def text_key(self) -> str:
        """Changes when any held-out text changes (perplexity is scored on all of them)."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        return digest.hexdigest()[:16]


def load_heldout(store: Store, max_prompts: int = 24) -> HeldOut:
    """Held-out chunks in a stable order (path, position), at most max_prompts of them prompts."""
    texts: list[str] = []
    prompts: list[EvalPrompt] = []
    seen: set[str] = set()
    for chunk in store.live_chunks():
        if chunk.split != "val" or chunk.hash in seen:
            continue
        seen.add(chunk.hash)
        texts.append(chunk.text)
        parts = split_for_continue(chunk.text)
        if parts is not None and len(prompts) < max_prompts:
            head, tail = parts
            request = f"{continue_instruction(chunk.hash)}\n\n{head}"
            prompts.append(EvalPrompt(chunk.hash, request, tail))
    if not texts:
        raise HeldOutError(
            "No held-out writing yet: add more documents to writing/ (about one in ten is kept "
            "aside for evaluation), or raise ingest.validation_fraction."
        )
    return HeldOut(texts, prompts)
