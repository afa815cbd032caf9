"""Dialogue examples through the training encoder: the loss is on your reply only."""

from __future__ import annotations

from slmtui.config import DatasetConfig
from slmtui.dataset.build import build_dataset
from slmtui.dataset.dialogue import DialogueSettings
from slmtui.dataset.snapshot import read_examples
from tests.dataset.test_dialogue import T0, ingest_chat


def test_dataset_snapshot_holds_dialogue_and_trains_on_the_reply_only(
    workspace, make_ingestor, tmp_path, tiny_base
):
    from transformers import AutoTokenizer

    from slmtui.ml.data import IGNORE, encode_example

    rows = [(T0 + d * 86400 + i * 60, "Elena" if i % 2 else "Ana", f"day {d} line {i} of the chat")
            for d in range(12) for i in range(6)]  # fmt: skip
    ingestor = ingest_chat(workspace, make_ingestor, rows)
    build = build_dataset(ingestor.store, tmp_path / "ds", DatasetConfig(), None, "none",
                          dialogue=DialogueSettings(names=("Elena",)))  # fmt: skip
    assert build.stats["kinds"]["dialogue"] > 0 and build.stats["dialogue"]["val"] > 0
    example = next(e for e in read_examples(build.train_path) if e.kind == "dialogue")
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    [(ids, labels)] = encode_example(example, tokenizer, 512).pieces
    learned = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE])
    replies = [
        m["content"] for m in example.messages if m["role"] == "assistant" and m.get("train", True)
    ]
    assert len(replies) >= 2  # a short conversation is one example with every reply in it
    assert learned == "".join(reply + tokenizer.eos_token for reply in replies)
    assert not any(m["content"] in learned for m in example.messages if m["role"] != "assistant")
