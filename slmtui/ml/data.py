"""The run's examples: chosen from its snapshot (new and replayed), tokenized with their labels,
cleared of what cannot be learned, and packed into rows of `seq_len` tokens.

Labels are the token ids to learn, or IGNORE; a chat example learns its assistant replies only.
Preference pairs (your chosen reply, the rejected one) stay out of the rows: each is two whole
sequences for the preference loss (`ml/preference.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from slmtui.dataset.example import Example
from slmtui.dataset.snapshot import read_examples
from slmtui.files import read_json_if_valid
from slmtui.ml.errors import TrainingError
from slmtui.ml.priority import training_order
from slmtui.runs import RunFolder, RunPlan

log = logging.getLogger("slmtui.train")
IGNORE = -100
MIN_TRAIN_TOKENS = 2000
# A retrain replays at least this many old examples: measured by benchmarks/feedback_bench.py,
# a retrain on a dozen corrections and 4 replayed examples learned the corrections' habit and
# doubled the held-out writing's perplexity (28 to 57, SmolLM2-135M on the samples).
MIN_REPLAYED = 32
# Gaps in a packed row shorter than this stay padding: a piece of text this short teaches little.
MIN_PIECE = 32


def read_snapshot_file(path: Path) -> list[Example]:
    """The examples of a snapshot's train.jsonl or val.jsonl ([] when there is none)."""
    return list(read_examples(path)) if path.is_file() else []


@dataclass
class Encoded:
    """An example as token rows of at most seq_len tokens, and what became of its replies.

    Labels are the token ids to learn, or IGNORE. Most examples are one piece; a chat example
    whose replies do not fit one sequence with their context becomes several, each reply learned
    once with as much of the conversation before it as leaves room for it."""

    pieces: list[tuple[list[int], list[int]]]
    replies: int = 0  # assistant replies the example asks to learn
    shortened: int = 0  # of those, learned only in part: longer than a sequence holds
    lost: int = 0  # of those, not learned at all (the prompt alone fills the sequence)


def encode_example(example: Example, tokenizer, seq_len: int) -> Encoded:
    """Token ids and labels; chat examples are trained on the assistant's replies only.

    Raw text is learned whole, in pieces of seq_len tokens. Every assistant message is learned
    unless it says `"train": false` (a dialogue example's earlier turn of yours kept as
    context); each is learned up to and including its turn-end token, everything else in the
    chat is context. A conversation too long for one sequence is cut before a reply, never
    through one: the reply keeps the turns just before it (starting at someone else's), and a
    reply that cannot fit even with one turn of context is learned as far as it fits, counted."""
    eos = tokenizer.eos_token_id
    if example.messages is None:
        ids = tokenizer(example.text or "", add_special_tokens=False)["input_ids"] + [eos]
        pieces = [ids[i : i + seq_len] for i in range(0, len(ids), seq_len)]
        return Encoded([(piece, list(piece)) for piece in pieces])
    messages = [{"role": m["role"], "content": m["content"]} for m in example.messages]
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    body = messages[len(head) :]
    targets = [
        index
        for index, message in enumerate(example.messages[len(head) :])
        if message["role"] == "assistant" and message.get("train", True)
    ]
    if not targets:
        return Encoded([])
    whole = _render_chat(tokenizer, head + body[: targets[-1] + 1], targets, len(head))
    if len(whole[0]) <= seq_len:
        return Encoded([whole], replies=len(targets))
    return _cut_conversation(tokenizer, head, body, targets, seq_len)


def _render_chat(
    tokenizer, messages: list[dict], learned: list[int], offset: int = 0
) -> tuple[list[int], list[int]]:
    """The chat through its last learned reply: ids, and labels on the replies at `learned`
    (indices into messages after the first `offset`, which is the system prompt or nothing)."""
    ids: list[int] = []
    labels: list[int] = []
    covered = ""
    for index in (offset + i for i in learned):
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
    return ids, labels


def _cut_conversation(
    tokenizer, head: list[dict], body: list[dict], targets: list[int], seq_len: int
) -> Encoded:
    """Pieces that each fit seq_len: a piece starts at a turn of someone else's and learns the
    next replies while they fit; the first of them gets the most context that still fits."""
    encoded = Encoded([], replies=len(targets))
    starts = [i for i, message in enumerate(body) if message["role"] == "user"]
    k = 0
    while k < len(targets):
        first = targets[k]
        before = [s for s in starts if s < first] or [0]
        fits = (
            s
            for s in before
            if len(_piece(tokenizer, head, body, targets, s, first, first)[0]) <= seq_len
        )
        start = next(fits, None)
        k += 1
        if start is None:
            piece = _squeezed(tokenizer, head, body, before[-1], first, seq_len)
            if any(label != IGNORE for label in piece[1][1:]):
                encoded.pieces.append(piece)
                encoded.shortened += 1
            else:
                encoded.lost += 1
            continue
        last = first
        while k < len(targets):
            longer = _piece(tokenizer, head, body, targets, start, first, targets[k])
            if len(longer[0]) > seq_len:
                break
            last = targets[k]
            k += 1
        encoded.pieces.append(_piece(tokenizer, head, body, targets, start, first, last))
    return encoded


def _piece(
    tokenizer,
    head: list[dict],
    body: list[dict],
    targets: list[int],
    start: int,
    first: int,
    last: int,
) -> tuple[list[int], list[int]]:
    """The conversation from `start` through reply `last`, learning the replies `first`..`last`."""
    group = [t - start for t in targets if first <= t <= last]
    return _render_chat(tokenizer, head + body[start : last + 1], group, len(head))


def _squeezed(
    tokenizer, head: list[dict], body: list[dict], start: int, reply: int, seq_len: int
) -> tuple[list[int], list[int]]:
    """A reply too long for the sequence even after one turn: the turn before it cut to its
    last quarter-sequence of text, and the reply learned as far as the sequence reaches."""
    request = dict(body[start])
    request["content"] = request["content"][-seq_len:]  # about seq_len / 4 tokens of text
    messages = [*head, request, *body[start + 1 : reply + 1]]
    ids, labels = _render_chat(tokenizer, messages, [reply - start], len(head))
    return ids[:seq_len], labels[:seq_len]


@dataclass
class Pair:
    """A preference pair as two token rows, each learning (labelling) only its last reply."""

    chosen: tuple[list[int], list[int]]
    rejected: tuple[list[int], list[int]]


def encode_pair(example: Example, tokenizer, seq_len: int) -> Pair | None:
    """The chosen and the rejected reply each after the same conversation; None when either
    does not fit one sequence whole (a preference is about a whole reply)."""
    assert example.messages is not None and example.rejected is not None
    rejected = [*example.messages[:-1], {"role": "assistant", "content": example.rejected}]
    rows = []
    for messages in (example.messages, rejected):
        encoded = encode_example(Example(example.id, "pair", messages=messages), tokenizer, seq_len)
        if len(encoded.pieces) != 1 or encoded.shortened or encoded.lost:
            return None
        rows.append(encoded.pieces[0])
    return Pair(rows[0], rows[1])


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


@dataclass
class Selection:
    """The examples a run trains on: new since the run it continues, plus replayed old ones."""

    train: list[Example]
    val: list[Example]
    new: int
    replayed: int
    pairs: list[Example] = field(default_factory=list)  # preference pairs, all of them


def select_examples(plan: RunPlan) -> Selection:
    """The run's examples: all of its snapshot's, or, continuing from an earlier adapter, the
    examples that are new since that run's snapshot plus a replay sample of the old ones
    (replay_fraction of the new count, a correction counted as often as its weight, and at
    least MIN_REPLAYED), so the adapter picks up new writing without drifting away from the
    old. Only old examples still in this run's snapshot are replayed: writing that was deleted
    or excluded since never comes back through the replay."""
    everything = read_snapshot_file(plan.dataset_dir / "train.jsonl")
    pairs = [example for example in everything if example.kind == "preference"]
    train = [example for example in everything if example.kind != "preference"]
    val = read_snapshot_file(plan.dataset_dir / "val.jsonl")
    if plan.replay_dir is None:
        return Selection(train, val, len(train), 0, pairs)
    current = {example.id for example in train}
    replayed = read_snapshot_file(plan.replay_dir / "train.jsonl")
    old = [e for e in replayed if e.id in current]
    old_ids = {example.id for example in replayed}
    new = [example for example in train if example.id not in old_ids]
    if not new and all(pair.id in old_ids for pair in pairs):
        raise TrainingError(
            "Nothing new to learn since the last run: add writing to writing/, "
            "or train again from scratch (`slmtui train --from-scratch`)."
        )
    rng = random.Random(plan.train.seed)
    wanted = math.ceil(sum(example.weight for example in new) * plan.train.replay_fraction)
    floor = MIN_REPLAYED if plan.train.replay_fraction > 0 else 0
    count = min(len(old), max(wanted, floor))
    return Selection(new + rng.sample(old, count), val, len(new), count, pairs)


def validation_sample(examples: list[Example], encoded: list[Encoded], tokens: int) -> list[int]:
    """Indices of the held-out examples training validates on: taken in the order of a hash of
    their IDs until `tokens` are reached (0: all of them). The sample is the same at every run
    of a snapshot and changes little as writing is added, so the base model's figure on it can
    be cached; and its size, unlike the held-out split's, does not grow with the corpus."""
    order = sorted(
        range(len(examples)), key=lambda i: hashlib.sha256(examples[i].id.encode()).digest()
    )
    if tokens <= 0:
        return order
    chosen, total = [], 0
    for index in order:
        size = sum(len(ids) for ids, _ in encoded[index].pieces)
        if chosen and total + size > tokens:
            continue
        chosen.append(index)
        total += size
    return sorted(chosen)


@dataclass
class Encoding:
    """The run's examples tokenized, before a budget chooses among them."""

    train: list[Encoded]  # in `order`: what to train first when the budget covers part only
    val: list[Encoded]  # the validation sample
    held_out: int  # examples in the snapshot's held-out split
    new: int = 0  # examples new since the run this one continues (all of them from scratch)
    replayed: int = 0  # old examples mixed back in
    pairs: list[Pair] = field(default_factory=list)  # preference pairs that fit a sequence
    pairs_dropped: int = 0  # pairs too long for one sequence
    corrections: int = 0  # your corrections among the training examples (before weighting)

    @property
    def tokens(self) -> int:
        return sum(len(ids) for encoded in self.train for ids, _ in encoded.pieces)

    @property
    def val_tokens(self) -> int:
        return sum(len(ids) for encoded in self.val for ids, _ in encoded.pieces)


def encode_data(plan: RunPlan, tokenizer, seq_len: int) -> Encoding:
    """Tokenize the run's examples in training order and its validation sample; refuse too
    little to learn from."""
    selection = select_examples(plan)
    if not selection.train:
        raise TrainingError(
            "No training data: put writing in writing/ and run `slmtui ingest`, then train."
        )
    order = training_order(selection.train, selection.new)
    # Your corrections come first (a budget never cuts what you asked for), each as many times
    # as its weight ([dataset] correction_weight).
    order.sort(key=lambda index: selection.train[index].kind != "correction")
    train = [
        encoded
        for index in order
        for encoded in [encode_example(selection.train[index], tokenizer, seq_len)]
        * max(1, selection.train[index].weight)
    ]
    pairs = [encode_pair(example, tokenizer, seq_len) for example in selection.pairs]
    if not any(encoded.pieces for encoded in train):
        raise TrainingError(
            f"Every example's reply is cut off at {seq_len} tokens, so there is nothing "
            "to learn: raise train.seq_len in slmtui.toml."
        )
    held_out = [encode_example(example, tokenizer, seq_len) for example in selection.val]
    sample = validation_sample(selection.val, held_out, plan.train.val_tokens)
    encoding = Encoding(
        train, [held_out[i] for i in sample], len(selection.val), selection.new,
        selection.replayed, [pair for pair in pairs if pair is not None],
        sum(pair is None for pair in pairs),
        sum(example.kind == "correction" for example in selection.train),
    )  # fmt: skip
    if encoding.pairs_dropped:
        log.warning("%d preference pairs are longer than seq_len: left out", encoding.pairs_dropped)
    lost = sum(encoded.lost for encoded in {id(e): e for e in train}.values())
    if lost:
        log.warning("%d replies could not be learned: the prompt alone fills seq_len", lost)
    if plan.init_adapter is None and encoding.tokens < MIN_TRAIN_TOKENS:
        raise TrainingError(
            f"Too little data: {encoding.tokens:,} tokens of training text; at least "
            f"{MIN_TRAIN_TOKENS:,} are needed (about {MIN_TRAIN_TOKENS * 3 // 4:,} words)."
        )
    return encoding


def base_loss_key(base_folder: Path, dtype: str, encoding: Encoding) -> str:
    """What the base model's validation loss depends on: the base, the precision, and the exact
    tokens and labels of the validation sample."""
    digest = hashlib.sha256(f"{base_folder.name}\x1f{dtype}".encode())
    for encoded in encoding.val:
        for ids, labels in encoded.pieces:
            digest.update(json.dumps([ids, labels]).encode())
    return digest.hexdigest()[:32]


def cached_base_loss(run: RunFolder, key: str) -> float | None:
    """The base's loss on this validation sample, measured by an earlier run (None if not)."""
    found = read_json_if_valid(run.validation_cache / f"{key}.json")
    value = found.get("val_loss") if isinstance(found, dict) else None
    return float(value) if isinstance(value, int | float) else None


@dataclass
class Data:
    """The packed training and validation rows, and what went into them."""

    train: Packed
    val: Packed | None
    examples: int  # examples with something to learn in the training text
    examples_in_rows: int  # of them, those packed for this run (all, unless a budget chose)
    val_examples: int  # examples in the validation sample
    tokens: int  # tokens in the training rows
    corpus_tokens: int  # tokens of all the training text, before a budget chose among it
    replies: int = 0  # replies of yours (and other answers) the training text asks to learn
    shortened: int = 0  # of them, learned in part: longer than one sequence
    lost: int = 0  # of them, not learned: the prompt alone fills the sequence
    new: int = 0
    replayed: int = 0
    held_out: int = 0
    pairs: list[Pair] = field(default_factory=list)
    pairs_dropped: int = 0
    corrections: int = 0


def pack_data(encoding: Encoding, pad_id: int, seq_len: int, token_budget: int = 0) -> Data:
    """Pack the training examples (the first ones in training order up to `token_budget`
    tokens when it is set and smaller than the text) and the validation sample."""
    chosen, total = [], 0
    for encoded in encoding.train:
        if token_budget and total >= token_budget:
            break
        chosen.append(encoded)
        total += sum(len(ids) for ids, _ in encoded.pieces)
    pieces = [piece for encoded in chosen for piece in encoded.pieces]
    val_pieces = [piece for encoded in encoding.val for piece in encoded.pieces]
    # Validation examples stay whole, so the perplexity measures the text as it was written.
    val = pack(val_pieces, seq_len, pad_id, split_raw=False) if val_pieces else None
    once = list({id(encoded): encoded for encoded in encoding.train}.values())  # unweighted
    return Data(
        train=pack(pieces, seq_len, pad_id),
        val=val,
        examples=len({id(encoded) for encoded in encoding.train if encoded.pieces}),
        examples_in_rows=len({id(encoded) for encoded in chosen if encoded.pieces}),
        val_examples=len(encoding.val),
        tokens=total,
        corpus_tokens=encoding.tokens,
        replies=sum(encoded.replies for encoded in once),
        shortened=sum(encoded.shortened for encoded in once),
        lost=sum(encoded.lost for encoded in once),
        new=encoding.new,
        replayed=encoding.replayed,
        held_out=encoding.held_out,
        pairs=encoding.pairs,
        pairs_dropped=encoding.pairs_dropped,
        corrections=encoding.corrections,
    )
