"""The run's examples: chosen from its snapshot (new and replayed), tokenized with their labels,
cleared of what cannot be learned, and packed into rows of `seq_len` tokens.

Labels are the token ids to learn, or IGNORE; a chat example learns its assistant replies only.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from slmtui.dataset.example import Example
from slmtui.dataset.snapshot import read_examples
from slmtui.ml.errors import TrainingError
from slmtui.runs import RunPlan

log = logging.getLogger("slmtui.train")
IGNORE = -100
MIN_TRAIN_TOKENS = 2000
# Gaps in a packed row shorter than this stay padding: a piece of text this short teaches little.
MIN_PIECE = 32


def read_snapshot_file(path: Path) -> list[Example]:
    """The examples of a snapshot's train.jsonl or val.jsonl ([] when there is none)."""
    return list(read_examples(path)) if path.is_file() else []


def encode_example(example: Example, tokenizer, seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; chat examples are trained on the assistant's replies only.

    Every assistant message is learned unless it says `"train": false` (a dialogue example's
    earlier turn of yours kept as context); each is learned up to and including its turn-end
    token, everything else in the chat is context."""
    eos = tokenizer.eos_token_id
    if example.messages is None:
        ids = tokenizer(example.text or "", add_special_tokens=False)["input_ids"] + [eos]
        ids = ids[:seq_len]
        return ids, list(ids)
    messages = [{"role": m["role"], "content": m["content"]} for m in example.messages]
    learned = [
        index
        for index, message in enumerate(example.messages)
        if message["role"] == "assistant" and message.get("train", True)
    ]
    ids: list[int] = []
    labels: list[int] = []
    covered = ""
    for index in learned:
        prompt = tokenizer.apply_chat_template(
            messages[:index], add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not full.startswith(prompt) or not prompt.startswith(covered):
            raise TrainingError("The chat template renders the prompt differently inside the chat.")
        answer = full[len(prompt) :]
        # Learn the reply up to and including the turn-end token, not the template's newline.
        end = answer.rfind(tokenizer.eos_token) if tokenizer.eos_token else -1
        if end >= 0:
            answer = answer[: end + len(tokenizer.eos_token)]
        context_ids = tokenizer(prompt[len(covered) :], add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids += context_ids + answer_ids
        labels += [IGNORE] * len(context_ids) + answer_ids
        covered = prompt + answer
    return ids[:seq_len], labels[:seq_len]


@dataclass
class Packed:
    """Sequences of exactly seq_len tokens; positions restart at every example boundary."""

    input_ids: torch.Tensor  # (n, seq_len)
    labels: torch.Tensor
    position_ids: torch.Tensor
    real_tokens: int
    label_counts: torch.Tensor  # label tokens per sequence (after the shift)


def pack(
    examples: list[tuple[list[int], list[int]]],
    seq_len: int,
    pad_id: int,
    *,
    split_raw: bool = True,
) -> Packed:
    """Examples packed into rows of seq_len tokens: almost no padding, no attention across them.

    Chat examples (those with unlabelled prompt tokens) are placed whole, first-fit-decreasing.
    Raw continuation text is placed whole where it fits and otherwise, with `split_raw`, cut
    into pieces that fill the gaps left in the rows: plain text can be learned from any point,
    and a 512-token row would otherwise carry about a fifth padding on the samples.
    transformers builds a block-diagonal causal mask from position ids that restart at zero when
    no attention mask is given, so packed examples (and pieces) cannot see each other.
    """
    bins: list[list[tuple[list[int], list[int]]]] = []
    room: list[int] = []

    def place(item: tuple[list[int], list[int]]) -> bool:
        for index, free in enumerate(room):
            if len(item[0]) <= free:
                bins[index].append(item)
                room[index] -= len(item[0])
                return True
        return False

    def open_bin(item: tuple[list[int], list[int]]) -> None:
        bins.append([item])
        room.append(seq_len - len(item[0]))

    ordered = sorted(examples, key=lambda item: -len(item[0]))
    whole = [item for item in ordered if not split_raw or IGNORE in item[1]]
    raw = [item for item in ordered if split_raw and IGNORE not in item[1]]
    for item in whole:
        if not place(item):
            open_bin(item)
    for ids, labels in raw:
        if place((ids, labels)):
            continue
        while ids:
            gap = max(range(len(room)), key=room.__getitem__, default=None)
            if gap is None or room[gap] < MIN_PIECE:
                open_bin((ids[:seq_len], labels[:seq_len]))
                ids, labels = ids[seq_len:], labels[seq_len:]
                continue
            free = room[gap]
            bins[gap].append((ids[:free], labels[:free]))
            room[gap] -= len(ids[:free])
            ids, labels = ids[free:], labels[free:]
    rows_ids, rows_labels, rows_pos = [], [], []
    for content, free in zip(bins, room, strict=True):
        ids = [token for item, _ in content for token in item] + [pad_id] * free
        # An example's first token has nothing before it in its own text: without this, the
        # previous example's last position would learn to predict it across the boundary.
        labels = [label for _, item in content for label in [IGNORE, *item[1:]]]
        labels += [IGNORE] * free
        positions = [p for item, _ in content for p in range(len(item))] + list(range(free))
        rows_ids.append(ids)
        rows_labels.append(labels)
        rows_pos.append(positions)
    labels_tensor = torch.tensor(rows_labels, dtype=torch.long)
    return Packed(
        input_ids=torch.tensor(rows_ids, dtype=torch.long),
        labels=labels_tensor,
        position_ids=torch.tensor(rows_pos, dtype=torch.long),
        real_tokens=sum(len(ids) for ids, _ in examples),
        label_counts=(labels_tensor[:, 1:] != IGNORE).sum(dim=1),
    )


def drop_unlearnable(
    examples: list[tuple[list[int], list[int]]],
) -> tuple[list[tuple[list[int], list[int]]], int]:
    """The examples that still have a token to learn (after the first), and how many did not.

    A chat example longer than seq_len loses its reply to truncation; kept, it would only add
    steps whose loss is zero and look like perfect training.
    """
    kept = [(ids, labels) for ids, labels in examples if any(x != IGNORE for x in labels[1:])]
    return kept, len(examples) - len(kept)


@dataclass
class Selection:
    """The examples a run trains on: new since the run it continues, plus replayed old ones."""

    train: list[Example]
    val: list[Example]
    new: int
    replayed: int


def select_examples(plan: RunPlan) -> Selection:
    """The run's examples: all of its snapshot's, or, continuing from an earlier adapter, the
    examples that are new since that run's snapshot plus a replay sample of the old ones
    (replay_fraction of the new count), so the adapter picks up new writing without drifting
    away from the old. Only old examples still in this run's snapshot are replayed: writing
    that was deleted or excluded since never comes back through the replay."""
    train = read_snapshot_file(plan.dataset_dir / "train.jsonl")
    val = read_snapshot_file(plan.dataset_dir / "val.jsonl")
    if plan.replay_dir is None:
        return Selection(train, val, len(train), 0)
    current = {example.id for example in train}
    old = [e for e in read_snapshot_file(plan.replay_dir / "train.jsonl") if e.id in current]
    old_ids = {example.id for example in old}
    new = [example for example in train if example.id not in old_ids]
    if not new:
        raise TrainingError(
            "Nothing new to learn since the last run: add writing to writing/, "
            "or train again from scratch (`slmtui train --from-scratch`)."
        )
    rng = random.Random(plan.train.seed)
    count = min(len(old), math.ceil(len(new) * plan.train.replay_fraction))
    return Selection(new + rng.sample(old, count), val, len(new), count)


@dataclass
class Data:
    """The packed training and validation rows, and what went into them."""

    train: Packed
    val: Packed | None
    examples: int
    val_examples: int
    tokens: int
    cut_off: int
    new: int = 0  # examples new since the run this one continues (all of them from scratch)
    replayed: int = 0  # old examples mixed back in


def prepare_data(plan: RunPlan, tokenizer, seq_len: int) -> Data:
    """Tokenize, leave out what cannot be learned, refuse too little, and pack."""
    selection = select_examples(plan)
    train_examples = [encode_example(example, tokenizer, seq_len) for example in selection.train]
    val_examples = [encode_example(example, tokenizer, seq_len) for example in selection.val]
    if not train_examples:
        raise TrainingError(
            "No training data: put writing in writing/ and run `slmtui ingest`, then train."
        )
    train_examples, cut_off = drop_unlearnable(train_examples)
    if not train_examples:
        raise TrainingError(
            f"Every example's reply is cut off at {seq_len} tokens, so there is nothing "
            "to learn: raise train.seq_len in slmtui.toml."
        )
    if cut_off:
        log.warning("%d examples had their whole reply cut off at seq_len; left out", cut_off)
    tokens = sum(len(ids) for ids, _ in train_examples)
    if plan.init_adapter is None and tokens < MIN_TRAIN_TOKENS:
        raise TrainingError(
            f"Too little data: {tokens:,} tokens of training text; at least "
            f"{MIN_TRAIN_TOKENS:,} are needed (about {MIN_TRAIN_TOKENS * 3 // 4:,} words)."
        )
    pad = tokenizer.pad_token_id
    # Validation examples stay whole, so the perplexity measures the text as it was written.
    val = pack(val_examples, seq_len, pad, split_raw=False) if val_examples else None
    return Data(
        pack(train_examples, seq_len, pad), val, len(train_examples), len(val_examples),
        tokens, cut_off, selection.new, selection.replayed,
    )  # fmt: skip
