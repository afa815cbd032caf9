"""The requests the base model writes for chat pairs: read from the cache, written when missing,
and how far they are.

A chunk planned as a generated kind (backtranslate, rewrite) needs the base model to write its
request (or paraphrase); that is slow, so it is done in the background as chunks arrive (the
"requests" job, `jobs/requests.py`) and cached in the store (`ingest/store/requests.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from slmtui.config import DatasetConfig
from slmtui.dataset.kinds import GENERATED_KINDS, Generator, generator_prompt, kind_for
from slmtui.dataset.request_filter import check_generation, clean_generation
from slmtui.dataset.selection import select_chunks
from slmtui.ingest.store import CachedRequest, LiveChunk, Store


@dataclass
class WrittenRequests:
    """What the base model wrote, per generated kind and chunk, and which of it is new."""

    cache: dict[str, dict[str, CachedRequest]] = field(
        default_factory=lambda: {kind: {} for kind in GENERATED_KINDS}
    )
    fresh: set[tuple[str, str]] = field(default_factory=set)
    keyed: bool = False  # a generator was named: a chunk missing from the cache is pending


def write_missing(
    store: Store,
    planned: list[tuple[LiveChunk, str]],
    generator: Generator | None,
    generator_key: str,
    progress: Callable[[int, int], None] | None,
) -> WrittenRequests:
    """Read the cache for the planned generated kinds, and generate (and cache) what it lacks.

    Without a generator only the cache is read (the app's retrain: what is not ready is pending).
    """
    generated = WrittenRequests(keyed=True)
    needed = {kind for _, kind in planned if kind in GENERATED_KINDS}
    generated.cache.update({kind: store.cached_requests(kind, generator_key) for kind in needed})
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
        prompt = generator_prompt(kind, chunk.text)
        output = str(generator(prompt) or "")
        reason = check_generation(
            clean_generation(output, kind), chunk.text, kind=kind, prompt=prompt
        )
        store.cache_request(
            chunk.hash, kind, generator_key, output, accepted=reason is None, reason=reason
        )
        generated.cache[kind][chunk.hash] = CachedRequest(output, reason is None, reason)
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
    cache = {kind: store.cached_requests(kind, generator_key) for kind in GENERATED_KINDS}
    entries = [cache[kind].get(chunk.hash) for chunk, kind in planned]
    ready = sum(1 for entry in entries if entry is not None and entry.accepted)
    rejected = sum(1 for entry in entries if entry is not None and not entry.accepted)
    return RequestStatus(len(planned), ready, rejected)
