"""Conversations into dialogue examples: bursts, silences, the context budget, group chats, who
you are, and training on your replies only."""

from __future__ import annotations

import itertools
import json

from slmtui.config import with_changes
from slmtui.dataset.dialogue import DialogueSettings, dialogue_examples, placeholder
from slmtui.ingest.dialogue import merge_turns, split_conversations
from slmtui.ingest.store import StoredMessage
from tests.chat_exports import telegram_account, telegram_chat, whatsapp_android

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


def test_each_reply_of_yours_is_an_example_with_the_turns_before_it(workspace, make_ingestor):
    rows = []
    for i in range(12):
        rows += [(T0 + i * 120, "Ana", f"question number {i} from Ana"),
                 (T0 + i * 120 + 60, "Elena", f"answer number {i} from me")]  # fmt: skip
    ingestor = ingest_chat(workspace, make_ingestor, rows)
    settings = DialogueSettings(names=("elena",), context_tokens=30)
    build = dialogue_examples(ingestor.store, settings)
    examples = build.train + build.val
    assert len(examples) == 12
    last = max(examples, key=lambda e: e["messages"][-1]["content"])
    messages = last["messages"]
    assert messages[0] == {
        "role": "system",
        "content": "You are elena. Answer as elena, in elena's own words and voice.",
    }
    assert messages[-1] == {"role": "assistant", "content": "answer number 9 from me"}
    assert messages[1]["role"] == "user"  # a request starts with someone else's words
    roles = [m["role"] for m in messages[1:]]
    assert all(a != b for a, b in itertools.pairwise(roles))  # alternating
    # The context budget: 30 tokens holds a few turns, not all nine before.
    assert 2 <= len(messages) - 2 < 10
    # Your messages are never the request, others' never the answer.
    assert all("from Ana" not in e["messages"][-1]["content"] for e in examples)


def test_group_chats_name_the_speaker_and_names_can_be_hidden(workspace, make_ingestor):
    rows = [
        (T0 + i * 60, s, f"{s} says hello to Ben, line {i}")
        for i, s in enumerate(["Ana", "Ben", "Elena"] * 4)
    ]
    ingestor = ingest_chat(workspace, make_ingestor, rows, name="WhatsApp Chat with Hive club.txt")
    plain = dialogue_examples(ingestor.store, DialogueSettings(names=("Elena",)))
    request = (plain.train + plain.val)[0]["messages"][1]["content"]
    assert request.startswith("Ana: Ana says hello") and "\nBen: Ben says" in request
    hidden = dialogue_examples(
        ingestor.store, DialogueSettings(names=("Elena",), hide_other_names=True)
    )
    text = json.dumps(hidden.train + hidden.val)
    assert "Ana" not in text and "Ben" not in text
    assert placeholder("Ben") in text and placeholder("Ben") == placeholder("Ben")


def test_without_names_the_proposed_identity_answers(workspace, make_ingestor):
    chats = [
        telegram_chat(
            [(T0 + i * 60, s, f"hello there {i}") for i, s in enumerate(["Ana", "Elena"] * 5)],
            name="Ana",
            chat_id=1,
        ),
        telegram_chat(
            [(T0 + i * 60, s, f"good morning {i}") for i, s in enumerate(["Ben", "Elena"] * 5)],
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
    answers = {e["messages"][-1]["content"] for e in build.train + build.val}
    assert answers and all(a.startswith(("hello there", "good morning")) for a in answers)
    assert all(int(a.split()[-1]) % 2 == 1 for a in answers)  # Elena's, present in both chats
