"""The run's examples as rows: every reply of a long conversation learned, the validation sample
stable, and what a short budget trains first chosen for the voice."""

from __future__ import annotations

import json

import pytest

from slmtui.dataset.example import Example
from slmtui.ml import data as ml_data
from slmtui.ml.priority import spread, stock_replies, training_order

SYSTEM = {"role": "system", "content": "You are Odile Marchbank. Answer as Odile would."}


@pytest.fixture(scope="module")
def tokenizer(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


def long_conversation(turns: int, reply_words: int = 12) -> Example:
    """A generated conversation: someone asks, you answer, `turns` times."""
    messages = [SYSTEM]
    for i in range(turns):
        messages.append(
            {
                "role": "user",
                "content": f"tamsin: question {i} about the boat and the weather today",
            }
        )
        words = " ".join(f"w{i}x{j}" for j in range(reply_words))
        messages.append({"role": "assistant", "content": f"reply {i}: {words}."})
    return Example(id="long", kind="dialogue", messages=messages, chat="c1")


def learned_text(tokenizer, encoded: ml_data.Encoded) -> list[str]:
    found = []
    for ids, labels in encoded.pieces:
        learned = [t for t, label in zip(ids, labels, strict=True) if label != ml_data.IGNORE]
        found += tokenizer.decode(learned).split(tokenizer.eos_token)[:-1]
    return found


def test_every_reply_of_a_long_conversation_is_learned_once_inside_the_sequence(tokenizer):
    example = long_conversation(40)
    whole = len(
        tokenizer(tokenizer.apply_chat_template(example.messages, tokenize=False))["input_ids"]
    )
    assert whole > 4 * 256  # far longer than one sequence
    encoded = ml_data.encode_example(example, tokenizer, 256)
    assert (encoded.replies, encoded.shortened, encoded.lost) == (40, 0, 0)
    assert all(len(ids) <= 256 for ids, _ in encoded.pieces)
    assert len(encoded.pieces) >= 4
    replies = [m["content"] for m in example.messages if m["role"] == "assistant"]
    assert learned_text(tokenizer, encoded) == replies
    for ids, _ in encoded.pieces:
        text = tokenizer.decode(ids)
        # Each piece keeps who you are and opens with someone else's turn.
        assert text.startswith("<|im_start|>system\n" + SYSTEM["content"])
        assert text.split("<|im_start|>")[2].startswith("user\ntamsin: question")


def test_a_reply_longer_than_the_sequence_is_learned_in_part_and_counted(tokenizer):
    example = long_conversation(3)
    example.messages[4]["content"] = " ".join(f"long{j}" for j in range(400))
    encoded = ml_data.encode_example(example, tokenizer, 128)
    assert (encoded.replies, encoded.shortened, encoded.lost) == (3, 1, 0)
    assert all(len(ids) <= 128 for ids, _ in encoded.pieces)
    learned = learned_text(tokenizer, encoded)
    # The two that fit are whole; the long one is learned from its start, cut at the end.
    assert learned[0] == example.messages[2]["content"]
    assert learned[-1] == example.messages[6]["content"]
    cut = [ids for ids, labels in encoded.pieces if ml_data.IGNORE not in labels[-1:]]
    assert any("long0 long1" in tokenizer.decode(ids) for ids in cut)


def test_the_validation_sample_has_a_token_budget_and_stays_put(tokenizer):
    examples = [Example(id=f"v{i}", kind="raw", text=f"held out text {i} " * 20) for i in range(30)]
    encoded = [ml_data.encode_example(e, tokenizer, 512) for e in examples]
    sizes = [len(e.pieces[0][0]) for e in encoded]
    size = max(sizes)
    sample = ml_data.validation_sample(examples, encoded, 10 * size)
    taken = sum(sizes[i] for i in sample)
    assert 10 * size - size < taken <= 10 * size and 10 <= len(sample) < 30
    # A new held-out example leaves the sample as it was, or swaps one member in.
    more = [*examples, Example(id="new", kind="raw", text="held out text 99 " * 20)]
    again = ml_data.validation_sample(
        more, [*encoded, ml_data.encode_example(more[-1], tokenizer, 512)], 10 * size
    )
    assert len(set(sample) & set(again)) >= len(sample) - 2
    assert (
        ml_data.validation_sample(examples, encoded, 0) != []
        and len(ml_data.validation_sample(examples, encoded, 0)) == 30
    )


def test_spread_order_covers_the_whole_range_at_every_prefix():
    points = [spread(i) for i in range(16)]
    assert sorted(points) == [i / 16 for i in range(16)]
    assert max(points[:4]) - min(points[:4]) >= 0.5


def dialogue(chat: str, reply: str, i: int) -> Example:
    return Example(id=f"{chat}{i}", kind="dialogue", chat=chat, messages=[
        {"role": "user", "content": f"message {i}"}, {"role": "assistant", "content": reply},
    ])  # fmt: skip


def test_a_short_budget_trains_new_text_first_then_every_source_in_proportion_over_time():
    big = [dialogue("big", f"a real answer number {i} with words", i) for i in range(90)]
    small = [dialogue("small", f"another answer number {i} with words", i) for i in range(30)]
    essays = [Example(id=f"e{i}", kind="raw", text=f"essay {i}") for i in range(30)]
    new = [Example(id="fresh", kind="raw", text="new writing")]
    examples = new + big + small + essays
    order = training_order(examples, new=1)
    assert sorted(order) == list(range(len(examples)))
    assert order[0] == 0
    first = [examples[i] for i in order[1:31]]  # a fifth of the rest
    by_source = {
        s: sum(1 for e in first if (e.chat or e.kind) == s) for s in ("big", "small", "raw")
    }
    assert by_source == {"big": 18, "small": 6, "raw": 6}
    positions = sorted(int(e.id[3:]) for e in first if e.chat == "big")
    assert positions[0] < 10 and positions[-1] > 80  # spread over the chat's whole time


def test_a_stock_reply_counts_once_its_repeats_go_last():
    replies = ["ok", "OK!", "lol", "ok.", "here is what I think about the tide tables"]
    examples = [dialogue("c", reply, i) for i, reply in enumerate(replies * 4)]
    assert stock_replies(examples[0]) == ("ok",) and stock_replies(examples[4]) is None
    order = training_order(examples)
    head = [examples[i].messages[1]["content"] for i in order[:6]]
    stock = [stock_replies(examples[i]) for i in order[:6]]
    assert sorted(s for s in stock if s) == [("lol",), ("ok",)]
    assert sum(1 for text in head if "tide" in text) == 4
    assert json.dumps(order) != json.dumps(list(range(len(examples))))
