"""The one dataset plan: every example of the next snapshot, for training and for listing.

See docs/ARCHITECTURE.md, "The path of the data". `plan_dataset` reads as select, kind, write
the missing requests, assemble, system prompt, dialogue, identity; `build_dataset` writes what
the plan keeps as a snapshot, and `slmtui dataset` and the Dataset screen list the same plan
(`dataset/examples.py`), so what a person sees is what training gets.

Every training chunk becomes exactly one example of its kind (`kinds.py`); a generated kind
whose request is missing or rejected (`request_filter.py`) falls back to a "continue" example,
then to raw text. Validation examples are every validation chunk as raw text, for perplexity on
held-out writing. Conversations add one "dialogue" example per stretch of your replies
(`dialogue.py`), "identity" pairs tie your name to the question, and what you said about
replies in chat adds "correction" examples and "preference" pairs (`feedback.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slmtui.config import DatasetConfig
from slmtui.dataset.dialogue import (
    DialogueBuild,
    DialogueSettings,
    dialogue_examples,
    identity_examples,
    system_prompt,
)
from slmtui.dataset.example import Example
from slmtui.dataset.feedback import FEEDBACK_PATH, correction_examples, preference_examples
from slmtui.dataset.kinds import (
    GENERATED_KINDS,
    KINDS,
    REWRITE_INSTRUCTION,
    Generator,
    continue_instruction,
    generator_prompt,
    kind_for,
    split_for_continue,
)
from slmtui.dataset.request_filter import check_generation, clean_generation
from slmtui.dataset.requests import WrittenRequests, write_missing
from slmtui.dataset.selection import select_chunks
from slmtui.dataset.snapshot import DatasetBuild, write_snapshot
from slmtui.ingest.store import Exclusions, LiveChunk, Store

ID_LENGTH = 10  # characters of an example's ID shown to the person


@dataclass
class PlannedExample:
    """One example of the plan, with where it comes from and whether the person left it out."""

    example: Example
    split: str  # "train" or "val"
    path: str  # its document in writing/ (a chat's export; "" for the identity pairs)
    planned: str  # the kind its chunk was meant to become (a fallback differs)
    status: str = ""  # for a generated kind: "pending" (no request yet) or "rejected"
    excluded: bool = False  # left out, by its ID or its whole document
    document_excluded: bool = False  # its whole document is left out

    @property
    def id(self) -> str:
        """The short ID shown (a prefix of the example's full ID)."""
        return self.example.id[:ID_LENGTH]

    @property
    def kind(self) -> str:
        return self.example.kind

    @property
    def request(self) -> str:
        return self.example.request

    @property
    def trained_text(self) -> str:
        return self.example.learned_text

    def as_dict(self) -> dict:
        return {
            "id": self.id, "full_id": self.example.id, "kind": self.kind,
            "planned": self.planned, "path": self.path, "split": self.split,
            "excluded": self.excluded, "status": self.status,
            "request": self.request, "trained": self.trained_text,
            **({"rejected": self.example.rejected} if self.example.rejected is not None else {}),
        }  # fmt: skip


@dataclass
class DatasetPlan:
    """Every planned example (left-out ones marked) and the counts of what training gets."""

    examples: list[PlannedExample]
    stats: dict
    names: tuple[str, ...] = ()

    def kept(self, split: str) -> list[Example]:
        return [p.example for p in self.examples if p.split == split and not p.excluded]


def plan_dataset(
    store: Store,
    config: DatasetConfig,
    generator_key: str | None,
    dialogue: DialogueSettings | None = None,
    *,
    writer: Generator | None = None,
    chunk_filter: Callable[[LiveChunk], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetPlan:
    """The next snapshot's examples, and what the person left out, marked.

    Without a generator key nothing is read from the request cache, and chunks meant for a
    generated kind become "continue" pairs ("no generator"); with one but no `writer`, only the
    cached requests are used and the rest are "pending" (the app's retrain); with a `writer`,
    the missing requests of the kept chunks are written and cached first, `progress(done,
    total)` told along. `chunk_filter` sees every live chunk (look at `chunk.split`).
    `dialogue` carries who you are and how replies are cut; without it no system prompt and
    no identity pairs are added (the conversations still are, under the default settings).
    """
    train, val = select_chunks(store, chunk_filter, include_excluded=True)
    exclusions = store.exclusions()
    kept = [(c, kind_for(c.hash, config)) for c in train if not exclusions.excludes(c)]
    left_out = [(c, kind_for(c.hash, config)) for c in train if exclusions.excludes(c)]
    requests = WrittenRequests()
    if generator_key is not None:
        requests = write_missing(store, kept, writer, generator_key, progress)
    examples, stats = assemble(kept, requests, config.seed)
    chats = dialogue_examples(store, dialogue or DialogueSettings(seed=config.seed))
    names = chats.names if dialogue else ()
    system = system_prompt(dialogue, names) if dialogue else ""
    identity = identity_examples(names, system)

    def planned(chunk: LiveChunk, kind: str, example: Example, split: str) -> PlannedExample:
        if system and example.messages is not None:
            # The writing's chat pairs say who is answering, as the conversations do.
            example.messages.insert(0, {"role": "system", "content": system})
        return PlannedExample(
            example, split, chunk.path, kind, _status(chunk, kind, example.kind, requests),
            excluded=exclusions.excludes(chunk),
            document_excluded=chunk.path in exclusions.documents,
        )  # fmt: skip

    found = [planned(c, k, e, "train") for (c, k), e in zip(kept, examples, strict=True)]
    found += [
        planned(c, k, e, "train")
        for (c, k), e in zip(left_out, assemble(left_out, requests, config.seed)[0], strict=True)
    ]
    found += [planned(c, "raw", raw_example(c), "val") for c in val]
    found += _dialogue_entries(chats, exclusions)
    found += [
        PlannedExample(e, "train", "", "identity", excluded=e.id in exclusions.examples)
        for e in identity
    ]
    found += _feedback_entries(store, config, exclusions)
    kept_identity = sum(not p.excluded for p in found if p.planned == "identity")
    kept_feedback = Counter(p.kind for p in found if p.path == FEEDBACK_PATH and not p.excluded)
    stats["kinds"]["dialogue"] = len(chats.train)
    stats["kinds"]["identity"] = kept_identity
    stats["kinds"]["correction"] = kept_feedback["correction"]
    stats["kinds"]["preference"] = kept_feedback["preference"]
    stats["dialogue"] = chats.stats
    kept_val = [chunk for chunk in val if not exclusions.excludes(chunk)]
    stats.update(
        planned={kind: sum(k == kind for _, k in kept) for kind in KINDS},
        train=len(examples) + len(chats.train) + kept_identity + sum(kept_feedback.values()),
        val=len(kept_val) + len(chats.val),
        tokens=sum(c.tokens for c, _ in kept) + sum(c.tokens for c in kept_val),
        train_tokens=sum(c.tokens for c, _ in kept),
        val_tokens=sum(c.tokens for c in kept_val),
    )
    return DatasetPlan(found, stats, names)


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
    """Write the plan's kept examples as a snapshot in out_dir (`plan_dataset` says how).

    Without a generator, chunks meant for generated kinds become "continue" examples. With
    `generate` off, only the generator's cached requests are used and the chunks still waiting
    for one ("pending") become "continue" examples: the same fallback, counted apart.
    """
    key = generator_key if generator is not None else None
    plan = plan_dataset(
        store, config, key, dialogue,
        writer=generator if generate else None, chunk_filter=chunk_filter, progress=progress,
    )  # fmt: skip
    return write_snapshot(
        Path(out_dir), plan.kept("train"), plan.kept("val"), plan.stats, config, key
    )


def _status(chunk: LiveChunk, planned: str, kind: str, requests: WrittenRequests) -> str:
    """'pending' for a generated kind whose request is not written yet, 'rejected' for one that
    fell back; '' otherwise (and always without a generator)."""
    if planned not in GENERATED_KINDS or not requests.keyed:
        return ""
    if chunk.hash not in requests.cache[planned]:
        return "pending"
    return "" if kind == planned else "rejected"


def _feedback_entries(
    store: Store, config: DatasetConfig, exclusions: Exclusions
) -> list[PlannedExample]:
    """Your corrections and preference pairs from chat (left-out ones marked), under "chat
    feedback": X on one of them leaves all of it out, as for a document."""
    feedback = store.feedback()
    all_out = FEEDBACK_PATH in exclusions.documents
    return [
        PlannedExample(
            e,
            "train",
            FEEDBACK_PATH,
            e.kind,
            excluded=all_out or e.id in exclusions.examples,
            document_excluded=all_out,
        )
        for e in (
            *correction_examples(feedback, config.correction_weight),
            *preference_examples(feedback),
        )
    ]


def _dialogue_entries(chats: DialogueBuild, exclusions: Exclusions) -> list[PlannedExample]:
    """The dialogue examples (left-out ones marked), each under its chat's first export (the
    chats as the dialogue build read them: the store is not asked again)."""
    paths = chats.paths

    def entry(example: Example, split: str, excluded: bool) -> PlannedExample:
        path = paths.get(example.chat or "", example.chat or "")
        document_out = path in exclusions.documents
        return PlannedExample(example, split, path, "dialogue", "", excluded, document_out)

    return [
        *(entry(e, split, False) for split, es in (("train", chats.train), ("val", chats.val))
          for e in es),
        *(entry(e, split, True) for split, e in chats.left_out),
    ]  # fmt: skip


# -- the examples of writing ----------------------------------------------------------------


def raw_example(chunk: LiveChunk) -> Example:
    return Example(id=chunk.hash, kind="raw", text=chunk.text)


def _chat(kind: str, user: str, assistant: str, chunk_hash: str) -> Example:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return Example(id=chunk_hash, kind=kind, messages=messages)


def _continue(chunk: LiveChunk, seed: int) -> Example | None:
    parts = split_for_continue(chunk.text)
    if parts is None:
        return None
    head, tail = parts
    instruction = continue_instruction(chunk.hash, seed)
    return _chat("continue", f"{instruction}\n\n{head}", tail, chunk.hash)


def assemble(
    planned: list[tuple[LiveChunk, str]], requests: WrittenRequests, seed: int
) -> tuple[list[Example], dict]:
    """One example per planned chunk, falling back to "continue", then raw; and the counts."""
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    cached = rejected = 0
    examples: list[Example] = []
    for chunk, kind in planned:
        example = None
        if kind in GENERATED_KINDS:
            entry = requests.cache[kind].get(chunk.hash)
            if entry is None:
                fallbacks["pending" if requests.keyed else "no generator"] += 1
            else:
                cached += (chunk.hash, kind) not in requests.fresh
                # The verdict is taken again, so a better filter needs no new generations.
                prompt = generator_prompt(kind, chunk.text)
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
        kinds[example.kind] += 1
        examples.append(example)
    stats = {
        "kinds": {kind: kinds.get(kind, 0) for kind in KINDS},
        "generated": len(requests.fresh),
        "cached": cached,
        "rejected": rejected,
        "rejected_reasons": dict(sorted(reasons.items())),
        "fallbacks": dict(sorted(fallbacks.items())),
        "pending": fallbacks.get("pending", 0),
    }
    return examples, stats


__all__ = ["DatasetPlan", "PlannedExample", "assemble", "build_dataset", "plan_dataset"]
