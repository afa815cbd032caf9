"""Conversations into dialogue examples: bursts, silences, the context budget, group chats, who
you are, and training on your replies only."""

from __future__ import annotations

import itertools
import json

from slmtui.config import with_changes
from slmtui.dataset.dialogue import (
    DialogueSettings,
    answerable,
    dialogue_examples,
    placeholder,
    windows,
)
from slmtui.ingest.dialogue import merge_turns, split_conversations
from slmtui.ingest.store import StoredMessage
from tests.chat_exports import alternating, telegram_account, telegram_chat, whatsapp_android

T0 = 1767225600.0


def stored(rows):
    return [
        StoredMessage(t, s, x, len(x.split()), "train", str(i)) for i, (t, s, x) in enumerate(rows)
    ]


def test_bursts_become_turns_and_silences_cut_conversations():
    rows = [
        (T0, "Ana", "are you up"),
        (T0 + 30, "Ana", "the ferry is off"),
        (T0 + 90, "Elena", "I heard"),
        (T0 + 600, "Elena", "ten minutes later is a new turn"),
        (T0 + 4 * 3600, "Ana", "next conversation"),
    ]
    conversations = list(split_conversations(stored(rows), lambda m: m.time, 2 * 3600))
    assert [len(c) for c in conversations] == [4, 1]
    turns = merge_turns(conversations[0], 300)
    assert [(t.sender, t.text) for t in turns] == [
        ("Ana", "are you up\nthe ferry is off"),
        ("Elena", "I heard"),
        ("Elena", "ten minutes later is a new turn"),
    ]


def ingest_chat(
    workspace, make_ingestor, rows, name="WhatsApp Chat with Ana.txt", names=("Elena",)
):
    (workspace.writing / name).write_bytes(whatsapp_android(rows))
    config = with_changes(workspace.load_config(), "identity", names=list(names))
    ingestor = make_ingestor(workspace, config)
    ingestor.scan()
    return ingestor


def learned_replies(examples):
    return [
        m["content"]
        for e in examples
        for m in e.messages
        if m["role"] == "assistant" and m.get("train", True)
    ]


def test_each_reply_of_yours_is_learned_once_with_the_turns_before_it(workspace, make_ingestor):
    rows = []
    for i in range(12):
        rows += [(T0 + i * 120, "Ana", f"question number {i} from Ana"),
                 (T0 + i * 120 + 60, "Elena", f"answer number {i} from me")]  # fmt: skip
    ingestor = ingest_chat(workspace, make_ingestor, rows)
    settings = DialogueSettings(names=("elena",), context_tokens=40)
    build = dialogue_examples(ingestor.store, settings)
    examples = build.train + build.val
    replies = learned_replies(examples)
    assert sorted(replies) == sorted(f"answer number {i} from me" for i in range(12))
    assert build.stats["replies"] == 12
    system = {
        "role": "system",
        "content": "You are elena. Answer in your own words and your own voice.",
    }
    for example in examples:
        messages = example.messages
        assert messages[0] == system
        assert messages[1]["role"] == "user"  # a request starts with someone else's words
        roles = [m["role"] for m in messages[1:]]
        assert all(a != b for a, b in itertools.pairwise(roles))  # alternating
        # Your messages are never the request, others' never the answer.
        assert all("from Ana" in m["content"] for m in messages[1:] if m["role"] == "user")
        assert all("from me" in m["content"] for m in messages[1:] if m["role"] == "assistant")
    # The context budget: 40 tokens of turns before a reply, so several examples, each short.
    assert len(examples) > 2
    assert all(len(e.messages) - 1 <= 2 * 40 // 6 for e in examples)
    # A whole budget: one example holds the short conversation.
    whole = dialogue_examples(
        ingestor.store, DialogueSettings(names=("Elena",), context_tokens=4000)
    )
    assert len(whole.train + whole.val) == 1 and len(learned_replies(whole.train + whole.val)) == 12


def test_windows_learn_every_reply_once_within_the_budget():
    from slmtui.ingest.dialogue import Turn

    turns = [
        Turn("Ana" if i % 3 else "Me", f"t{i}", 10, float(i), float(i), "train") for i in range(30)
    ]
    is_me = lambda s: s == "Me"  # noqa: E731
    answers = answerable(turns, is_me)
    assert answers == [i for i in range(3, 30, 3)]  # turn 0 is yours with nothing before it
    cut = windows(turns, answers, is_me, budget=50)
    learned = [r for _, replies in cut for r in replies]
    assert learned == answers
    for start, replies in cut:
        assert not is_me(turns[start].sender)
        assert all(sum(t.tokens for t in turns[start:r]) <= 50 for r in replies)


def test_group_chats_name_the_speaker_and_names_can_be_hidden(workspace, make_ingestor):
    rows = [
        (T0 + i * 60, s, f"{s} says hello to Ben, line {i}")
        for i, s in enumerate(["Ana", "Ben", "Elena"] * 4)
    ]
    ingestor = ingest_chat(workspace, make_ingestor, rows, name="WhatsApp Chat with Hive club.txt")
    plain = dialogue_examples(ingestor.store, DialogueSettings(names=("Elena",)))
    request = (plain.train + plain.val)[0].messages[1]["content"]
    assert request.startswith("[Ana] Ana says hello") and "\n[Ben] Ben says" in request
    hidden = dialogue_examples(
        ingestor.store, DialogueSettings(names=("Elena",), hide_other_names=True)
    )
    text = json.dumps([e.as_dict() for e in hidden.train + hidden.val])
    assert "Ana" not in text and "Ben" not in text
    assert placeholder("Ben") in text and placeholder("Ben") == placeholder("Ben")


def test_without_names_the_proposed_identity_answers(workspace, make_ingestor):
    chats = [
        telegram_chat(
            alternating("Ana", "Elena", T0, "hello there"),
            name="Ana",
            chat_id=1,
        ),
        telegram_chat(
            alternating("Ben", "Elena", T0, "good morning"),
            name="Ben",
            chat_id=2,
        ),
    ]
    (workspace.writing / "result.json").write_bytes(
        telegram_account(chats, first_name="Someone", username="x")
    )
    ingestor = make_ingestor(workspace)
    ingestor.scan()
    build = dialogue_examples(ingestor.store, DialogueSettings())
    answers = set(learned_replies(build.train + build.val))
    assert answers and all(a.startswith(("hello there", "good morning")) for a in answers)
    assert all(int(a.split()[-1]) % 2 == 1 for a in answers)  # Elena's, present in both chats


def test_an_excluded_export_leaves_its_chat_out(workspace, make_ingestor):
    rows = [(T0 + i * 60, "Elena" if i % 2 else "Ana", f"message {i} here") for i in range(10)]
    ingestor = ingest_chat(workspace, make_ingestor, rows)
    assert (
        dialogue_examples(ingestor.store, DialogueSettings(names=("Elena",))).stats["replies"] == 5
    )
    ingestor.store.set_excluded("document", "WhatsApp Chat with Ana.txt", True)
    build = dialogue_examples(ingestor.store, DialogueSettings(names=("Elena",)))
    assert build.train == [] and build.val == [] and build.stats["replies"] == 0


def test_dialogue_examples_are_listed_and_can_be_left_out(workspace, make_ingestor):
    from slmtui.config import DatasetConfig
    from slmtui.dataset.examples import find, list_examples

    rows = [
        (T0 + day * 86400 + i * 60, "Elena" if i % 2 else "Ana", f"day {day} message {i}")
        for day in range(3)
        for i in range(6)
    ]
    ingestor = ingest_chat(workspace, make_ingestor, rows)
    settings = DialogueSettings(names=("Elena",))
    views = [
        v
        for v in list_examples(ingestor.store, DatasetConfig(), None, settings)
        if v.kind == "dialogue"
    ]
    assert len(views) == 3 and {v.path for v in views} == {"WhatsApp Chat with Ana.txt"}
    assert views[0].trained_text.count("\n---\n") == 2  # three replies learned in each
    what, target = find(views, views[0].id)
    assert what == "example"
    ingestor.store.set_excluded("example", target, True)
    left = dialogue_examples(ingestor.store, settings)
    assert target not in {e.id for e in left.train + left.val}
    listed = list_examples(ingestor.store, DatasetConfig(), None, settings)
    assert [v.excluded for v in listed if v.example.id == target] == [True]


def test_a_gap_raised_after_ingest_never_mixes_held_out_and_trained_replies(
    workspace, make_ingestor, tmp_path
):
    """Conversations are cut once, at ingest, and stored: a wider gap set afterwards makes
    the ingestor cut every chat again, every message keeping its split, a conversation ending
    where the split changes. Cutting again in the dataset with the new setting (as it once
    did) put held-out replies into the training snapshot."""
    from slmtui.config import DatasetConfig
    from slmtui.dataset.build import build_dataset
    from slmtui.dataset.snapshot import read_examples

    rows = [(T0 + d * 86400 + i * 600, "Elena" if i % 2 else "Ana", f"day {d} line {i} here")
            for d in range(30) for i in range(6)]  # fmt: skip
    narrow = ingest_chat(workspace, make_ingestor, rows)
    key = narrow.store.chats()[0].key
    before = {m.text: m.split for m in narrow.store.chat_messages(key)}
    held = {text for text, split in before.items() if split == "val"}
    assert held and len({m.conversation for m in narrow.store.chat_messages(key)}) == 30
    narrow.close()

    config = with_changes(workspace.load_config(), "identity", names=["Elena"])
    config = with_changes(config, "ingest", conversation_gap_minutes=100000.0)
    wider = make_ingestor(workspace, config)
    wider.scan()
    messages = wider.store.chat_messages(key)
    assert {m.text: m.split for m in messages} == before  # every split kept
    conversations: dict[int, set[str]] = {}
    for message in messages:
        conversations.setdefault(message.conversation, set()).add(message.split)
    assert all(len(splits) == 1 for splits in conversations.values())
    assert len(conversations) < 30  # neighbouring trained days joined into one conversation
    build = build_dataset(wider.store, tmp_path / "ds", DatasetConfig(), None, "none",
                          dialogue=DialogueSettings.from_config(config))  # fmt: skip
    learned = {"train": set(), "val": set()}
    for path, split in ((build.train_path, "train"), (build.val_path, "val")):
        for example in read_examples(path):
            if example.kind == "dialogue":
                lines = {line for text in learned_replies([example]) for line in text.split("\n")}
                assert {before[line] for line in lines} == {split}  # no example mixes
                learned[split] |= lines
    assert not held & learned["train"]  # no held-out reply is learned ...
    assert held & learned["val"]  # ... and they are still measured


def test_a_narrower_gap_keeps_each_conversation_in_one_split(workspace, make_ingestor):
    rows = [(T0 + d * 86400 + i * 3000, "Elena" if i % 2 else "Ana", f"day {d} line {i} here")
            for d in range(30) for i in range(6)]  # fmt: skip
    ingest_chat(workspace, make_ingestor, rows).close()
    config = with_changes(workspace.load_config(), "identity", names=["Elena"])
    config = with_changes(config, "ingest", conversation_gap_minutes=30.0)
    narrow = make_ingestor(workspace, config)
    narrow.scan()
    messages = narrow.store.chat_messages(narrow.store.chats()[0].key)
    by_conversation: dict[int, set[str]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation, set()).add(message.split)
    assert len(by_conversation) == 30 * 6  # every message alone: 50 minutes apart
    assert all(len(splits) == 1 and "new" not in splits for splits in by_conversation.values())
    assert {"train", "val"} <= set().union(*by_conversation.values())
