"""The author's held-out writing, and the requests an evaluation asks every model.

Validation passages never reach training (ingest remembers each passage's split), so they are
the fair test of "does it write like me". Two kinds of request are built from them, the two
kinds training teaches:

- "continue": the passage's first third with training's own instruction; the author's rest is
  the reference.
- "write": a request of the backtranslated kind ("Write about ..."), which the base model wrote
  for the passage exactly as it writes them for training examples (and cached the same way);
  the whole passage is the reference. So the measures also see answers to a chat request.

The verifier also needs the base model's own writing, from passages it will not be scored on:
`training_prompts` builds "continue" requests from training passages for that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from slmtui.dataset.kinds import Generator, continue_instruction, split_for_continue
from slmtui.dataset.request_filter import clean_generation
from slmtui.dataset.requests import write_missing
from slmtui.ingest.store import LiveChunk, Store


class HeldOutError(RuntimeError):
    """There is no held-out writing to evaluate on; the message says what to do."""


# Characters of held-out text perplexity is scored on at most: about 12,000 tokens, under a
# minute per model on two cores. The samples' held-out writing is far below it.
SCORED_CHARS = 48_000


@dataclass(frozen=True)
class EvalPrompt:
    chunk_hash: str
    request: str  # the user's message
    reference: str  # what the author wrote for it
    kind: str = "continue"  # or "write", or "reply" (a conversation's next turn)
    messages: tuple[dict, ...] = ()  # a reply's whole request: system, turns before it


@dataclass(frozen=True)
class HeldOut:
    texts: list[str]  # every held-out chunk, whole
    prompts: list[EvalPrompt]

    @property
    def scored_texts(self) -> list[str]:
        """The held-out texts perplexity is scored on: all of them, or on a long history a
        sample spread over them of about SCORED_CHARS (a few minutes of scoring otherwise)."""
        total = sum(len(text) for text in self.texts)
        if total <= SCORED_CHARS:
            return self.texts
        count = max(1, round(len(self.texts) * SCORED_CHARS / total))
        return spread(self.texts, count)

    @property
    def text_key(self) -> str:
        """Changes when any scored held-out text changes."""
        digest = hashlib.sha256()
        for text in self.scored_texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        return digest.hexdigest()[:16]


def continue_prompt(chunk: LiveChunk) -> EvalPrompt | None:
    parts = split_for_continue(chunk.text)
    if parts is None:
        return None
    head, tail = parts
    return EvalPrompt(chunk.hash, f"{continue_instruction(chunk.hash)}\n\n{head}", tail)


def _unique(chunks: list[LiveChunk], split: str) -> list[LiveChunk]:
    seen: set[str] = set()
    kept = []
    for chunk in chunks:
        if chunk.split == split and chunk.hash not in seen:
            seen.add(chunk.hash)
            kept.append(chunk)
    return kept


def spread(items: list, count: int) -> list:
    """`count` items spread evenly over the list (so over documents, not the first few)."""
    if count >= len(items):
        return list(items)
    return [items[int(i * len(items) / count)] for i in range(count)]


def write_prompts(
    store: Store,
    chunks: list[LiveChunk],
    generator: Generator | None,
    generator_key: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[EvalPrompt]:
    """ "Write about ..." requests for these passages, from the request cache (the base model
    writes the missing ones when a generator is given); a rejected request is left out."""
    planned = [(chunk, "backtranslate") for chunk in chunks]
    generated = write_missing(store, planned, generator, generator_key, progress)
    cache = generated.cache["backtranslate"]
    prompts = []
    for chunk in chunks:
        cached = cache.get(chunk.hash)
        if cached is not None and cached.accepted:
            request = clean_generation(cached.output, "backtranslate")
            prompts.append(EvalPrompt(chunk.hash, request, chunk.text, "write"))
    return prompts


def load_heldout(
    store: Store,
    max_prompts: int = 16,
    max_write: int = 8,
    generator: Generator | None = None,
    generator_key: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> HeldOut:
    """Held-out chunks in a stable order (path, position); up to `max_prompts` "continue"
    requests and `max_write` "write" requests, both spread over the held-out passages."""
    held = _unique(store.live_chunks(), "val")
    if not held:
        raise HeldOutError(
            "No held-out writing yet: add more writing to writing/ (about a tenth of it is kept "
            "aside for evaluation), or raise ingest.validation_fraction."
        )
    prompts = spread([p for p in map(continue_prompt, held) if p is not None], max_prompts)
    if max_write and generator_key:
        used = {prompt.chunk_hash for prompt in prompts}
        # Passages without a "continue" request first; with few held-out passages, both kinds.
        fresh = [chunk for chunk in held if chunk.hash not in used]
        again = [chunk for chunk in held if chunk.hash in used]
        chosen = spread(fresh, max_write) + spread(again, max(0, max_write - len(fresh)))
        prompts += write_prompts(store, chosen, generator, generator_key, progress)
    return HeldOut([chunk.text for chunk in held], prompts)


def training_prompts(store: Store, count: int, generator_key: str = "") -> list[EvalPrompt]:
    """Requests from training passages, spread over the corpus, for the base model's own
    writing that the verifier learns "not you" from: "continue" requests, and as many "write
    about" requests again from those training already has cached (none are generated here)."""
    trained = _unique(store.live_chunks(), "train")
    prompts = spread([p for p in map(continue_prompt, trained) if p], count)
    if generator_key:
        cached = store.cached_requests("backtranslate", generator_key)
        ready = [chunk for chunk in trained if chunk.hash in cached]
        prompts += write_prompts(store, spread(ready, count), None, generator_key)
    return prompts
