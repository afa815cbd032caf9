"""The dataset as a person inspects it: every example by kind, as the model will see it, with
what was left out; for the Dataset screen and `slmtui dataset`.

Each training chunk becomes exactly one example, so an example's ID is its chunk's hash (a
prefix of it is enough to name it); a dialogue example's ID is the hash of its stretch of
conversation, and its document is the chat export it comes from. Listing builds the examples
in memory from the cached requests only (nothing is generated) with the builder's own steps, so
what is shown is what the next snapshot holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from slmtui.config import DatasetConfig
from slmtui.dataset.build import (
    GENERATED_KINDS,
    Generated,
    assemble,
    generate_missing,
    kind_for,
    raw_example,
    select_chunks,
)  # fmt: skip
from slmtui.dataset.dialogue import DialogueSettings, dialogue_examples
from slmtui.ingest.store import Store

ID_LENGTH = 10  # characters of the chunk hash shown as an example's ID


class ExampleError(ValueError):
    """An ID or path that names no example or document; the message says what exists."""


@dataclass(frozen=True)
class ExampleView:
    """One example: its ID, kind, document, split, whether it is left out, and its content."""

    id: str
    chunk: str  # the whole chunk hash
    kind: str
    planned: str  # the kind its chunk was meant to become (a fallback differs)
    path: str
    split: str
    excluded: bool
    example: dict
    status: str = ""  # for a generated kind: "pending" (no request yet) or "rejected"
    document_excluded: bool = False  # its whole document is left out

    @property
    def request(self) -> str:
        """What the model is asked ('' for raw text, which has no request)."""
        messages = self.example.get("messages")
        return messages[-2]["content"] if messages else ""

    @property
    def trained_text(self) -> str:
        """The part training learns: the replies of a chat example, all of a raw one."""
        messages = self.example.get("messages")
        if not messages:
            return self.example["text"]
        learned = [
            m["content"] for m in messages if m["role"] == "assistant" and m.get("train", True)
        ]
        return "\n---\n".join(learned)

    def as_dict(self) -> dict:
        return {
            "id": self.id, "chunk": self.chunk, "kind": self.kind, "planned": self.planned,
            "path": self.path, "split": self.split, "excluded": self.excluded,
            "status": self.status,
            "request": self.request, "trained": self.trained_text,
        }  # fmt: skip


def list_examples(
    store: Store,
    config: DatasetConfig,
    generator_key: str | None,
    dialogue: DialogueSettings | None = None,
) -> list[ExampleView]:
    """Every example of the next snapshot, and the excluded ones marked, in document order.

    Without a generator (a base llama.cpp cannot run) nothing is pending: chat-pair chunks are
    simply 'continue' pairs, as in the snapshot. With `dialogue`, the examples of your
    conversations are listed too.
    """
    train, val = select_chunks(store, None, excluded=True)
    planned = [(chunk, kind_for(chunk.hash, config)) for chunk in train]
    generated = Generated()
    if generator_key is not None:
        generated = generate_missing(store, planned, None, generator_key, None)
    examples, _ = assemble(planned, generated, config.seed)
    exclusions = store.exclusions()

    def status(chunk, planned_kind: str, kind: str) -> str:
        if planned_kind not in GENERATED_KINDS or not generated.keyed:
            return ""
        if chunk.hash not in generated.cache[planned_kind]:
            return "pending"
        return "" if kind == planned_kind else "rejected"

    def view(chunk, kind: str, planned_kind: str, split: str, example: dict) -> ExampleView:
        return ExampleView(
            id=chunk.hash[:ID_LENGTH],
            chunk=chunk.hash,
            kind=kind,
            planned=planned_kind,
            path=chunk.path,
            split=split,
            excluded=exclusions.excludes(chunk),
            example=example,
            status=status(chunk, planned_kind, kind),
            document_excluded=chunk.path in exclusions.documents,
        )

    views = [
        view(chunk, example["kind"], kind, "train", example)
        for (chunk, kind), example in zip(planned, examples, strict=True)
    ]
    views += [view(chunk, "raw", "raw", "val", raw_example(chunk)) for chunk in val]
    if dialogue is not None:
        views += dialogue_views(store, dialogue)
    return sorted(views, key=lambda view: view.path)


def dialogue_views(store: Store, settings: DialogueSettings) -> list[ExampleView]:
    """The dialogue examples as views, excluded ones included and marked."""
    exclusions = store.exclusions()
    paths = {chat.key: (chat.paths[0] if chat.paths else chat.name) for chat in store.chats()}
    build = dialogue_examples(store, settings, excluded=True)
    return [
        ExampleView(
            id=example["chunk"][:ID_LENGTH],
            chunk=example["chunk"],
            kind="dialogue",
            planned="dialogue",
            path=paths.get(example["chat"], example["chat"]),
            split=split,
            excluded=example["chunk"] in exclusions.examples
            or paths.get(example["chat"]) in exclusions.documents,
            example=example,
            document_excluded=paths.get(example["chat"]) in exclusions.documents,
        )
        for split, examples in (("train", build.train), ("val", build.val))
        for example in examples
    ]


def find(views: list[ExampleView], name: str) -> tuple[str, str]:
    """What `name` means: ('example', chunk hash) for an ID or ('document', path) for a path."""
    documents = {view.path for view in views}
    if name in documents:
        return "document", name
    matches = {view.chunk for view in views if view.chunk.startswith(name)} if name else set()
    if len(matches) == 1:
        return "example", matches.pop()
    if matches:
        raise ExampleError(f"{name!r} names {len(matches)} examples: give more of the ID.")
    raise ExampleError(
        f"{name!r} is neither an example ID nor a document in writing/ "
        "(`slmtui dataset` lists both)."
    )


def regenerate(store: Store, view: ExampleView, generator, attempt: int) -> str | None:
    """Write a new request for a generated example, sampled so that it differs; None when the
    example is not of a generated kind. The filter's verdict is cached with it."""
    from slmtui.dataset.build import check_generation, clean_generation, prompt_for

    kind = view.planned
    if kind not in GENERATED_KINDS:
        return None
    chunk_text = next(chunk.text for chunk in store.live_chunks() if chunk.hash == view.chunk)
    prompt = prompt_for(kind, chunk_text)
    output = str(generator.sample(prompt, seed=attempt) or "")
    reason = check_generation(clean_generation(output, kind), chunk_text, kind=kind, prompt=prompt)
    store.cache_prompt(
        view.chunk, kind, generator.key, output, accepted=reason is None, reason=reason
    )
    return output
