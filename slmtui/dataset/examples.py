"""The dataset as a person inspects it: every example by kind, as the model will see it, with
what was left out; for the Dataset screen and `slmtui dataset`.

Each training chunk becomes exactly one example, so a passage's example ID is its chunk's hash
(a prefix of it is enough to name it); a dialogue example's ID is the hash of its stretch of
conversation, and its document is the chat export it comes from. Listing is the dataset plan
(`build.plan_dataset`) from the cached requests only (nothing is generated), so what is shown
is what the next snapshot holds.
"""

from __future__ import annotations

from slmtui.config import DatasetConfig
from slmtui.dataset.build import PlannedExample, plan_dataset
from slmtui.dataset.dialogue import DialogueSettings
from slmtui.dataset.kinds import GENERATED_KINDS, generator_prompt
from slmtui.dataset.request_filter import check_generation, clean_generation
from slmtui.ingest.store import Store


class ExampleError(ValueError):
    """An ID or path that names no example or document; the message says what exists."""


def list_examples(
    store: Store,
    config: DatasetConfig,
    generator_key: str | None,
    dialogue: DialogueSettings | None = None,
) -> list[PlannedExample]:
    """Every example of the next snapshot, and the excluded ones marked, in document order.

    The dataset plan itself (`build.plan_dataset`), reading the cached requests only: without
    a generator key (a base llama.cpp cannot run) nothing is pending, and chat-pair chunks are
    simply 'continue' pairs, as in the snapshot.
    """
    plan = plan_dataset(store, config, generator_key, dialogue)
    return sorted(plan.examples, key=lambda view: view.path)


def find(views: list[PlannedExample], name: str) -> tuple[str, str]:
    """What `name` means: ('example', full ID) for an ID or ('document', path) for a path."""
    documents = {view.path for view in views if view.path}
    if name in documents:
        return "document", name
    matches = {v.example.id for v in views if v.example.id.startswith(name)} if name else set()
    if len(matches) == 1:
        return "example", matches.pop()
    if matches:
        raise ExampleError(f"{name!r} names {len(matches)} examples: give more of the ID.")
    raise ExampleError(
        f"{name!r} is neither an example ID nor a document in writing/ "
        "(`slmtui dataset` lists both)."
    )


def regenerate(store: Store, view: PlannedExample, generator, attempt: int) -> str | None:
    """Write a new request for a generated example, sampled so that it differs; None when the
    example is not of a generated kind. The filter's verdict is cached with it."""
    kind = view.planned
    if kind not in GENERATED_KINDS:
        return None
    chunk_hash = view.example.id
    chunk_text = next(chunk.text for chunk in store.live_chunks() if chunk.hash == chunk_hash)
    prompt = generator_prompt(kind, chunk_text)
    output = str(generator.sample(prompt, seed=attempt) or "")
    reason = check_generation(clean_generation(output, kind), chunk_text, kind=kind, prompt=prompt)
    store.cache_request(
        chunk_hash, kind, generator.key, output, accepted=reason is None, reason=reason
    )
    return output
