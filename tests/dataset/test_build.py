"""The style dataset builder on real ingested writing, with a plain Python function as generator."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from slmtui.config import DatasetConfig
from slmtui.dataset.build import build_dataset
from slmtui.dataset.kinds import (
    CONTINUE_INSTRUCTIONS,
    EXAMPLE_KINDS,
    KINDS,
    REWRITE_INSTRUCTION,
    generator_prompt,
    kind_for,
    split_for_continue,
    truncate_words,
)
from slmtui.dataset.request_filter import check_generation, clean_generation
from slmtui.dataset.requests import request_status
from slmtui.dataset.snapshot import DatasetError, read_examples

KEY = "stand-in:v1"


class StandIn:
    """A deterministic generator: asks about the two most frequent long words of the prompt.

    The prompt is mostly the passage, so the request is about the passage; for a rewrite it
    returns a short plain retelling made of the passage's own first words, reordered.
    """

    def __init__(self, reply=None):
        self.calls: list[str] = []
        self.reply = reply

    def __call__(self, prompt: str) -> str:
        self.calls.append(prompt)
        if self.reply is not None:
            return self.reply(prompt)
        words = Counter(re.findall(r"[a-z]{6,}", prompt.lower()))
        top = [word for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0]))]
        if "retell" in prompt.lower():
            return f"Someone writes about {top[0]} and {top[1]}, plainly and briefly."
        return f"Write about {top[0]} and {top[1]}."


@pytest.fixture
def ingested(samples_workspace, make_ingestor):
    ingestor = make_ingestor(samples_workspace)
    ingestor.scan()
    return samples_workspace, ingestor


def live(store, split):
    return {chunk.hash: chunk for chunk in store.live_chunks() if chunk.split == split}


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_every_train_chunk_becomes_one_example_with_kinds_near_the_ratios(ingested, tmp_path):
    _, ingestor = ingested
    config = DatasetConfig(
        raw_ratio=0.25, backtranslate_ratio=0.25, continue_ratio=0.25, rewrite_ratio=0.25
    )
    build = build_dataset(ingestor.store, tmp_path / "ds", config, StandIn(), KEY)
    train = live(ingestor.store, "train")
    assert len(train) >= 120
    examples = list(read_examples(build.train_path))
    chunks = [example.id for example in examples]
    assert sorted(chunks) == sorted(train)  # each train chunk exactly once
    counts = Counter(example.kind for example in examples)
    assert build.stats["kinds"] == {kind: counts.get(kind, 0) for kind in EXAMPLE_KINDS}
    assert build.stats["rejected"] == 0
    for kind in KINDS:
        assert abs(counts[kind] / len(examples) - 0.25) < 0.1, counts
    assert build.stats["train"] == len(examples)
    assert build.stats["tokens"] == sum(c.tokens for c in ingestor.store.live_chunks())


def test_default_ratios_and_validation_examples(ingested, tmp_path):
    _, ingestor = ingested
    build = build_dataset(ingestor.store, tmp_path / "ds", DatasetConfig(), StandIn(), KEY)
    counts = build.stats["kinds"]
    total = build.stats["train"]
    assert counts["rewrite"] == 0
    assert abs(counts["raw"] / total - 0.4) < 0.1
    assert abs(counts["backtranslate"] / total - 0.3) < 0.1
    assert abs(counts["continue"] / total - 0.3) < 0.1
    val = list(read_examples(build.val_path))
    val_chunks = live(ingestor.store, "val")
    assert val and build.stats["val"] == len(val)
    assert all(example.kind == "raw" for example in val)
    assert sorted(example.id for example in val) == sorted(val_chunks)
    assert all(example.text == val_chunks[example.id].text for example in val)


def test_chat_examples_answer_with_the_chunk_itself(ingested, tmp_path):
    _, ingestor = ingested
    config = DatasetConfig(raw_ratio=0, backtranslate_ratio=1, continue_ratio=1, rewrite_ratio=1)
    build = build_dataset(ingestor.store, tmp_path / "ds", config, StandIn(), KEY)
    train = live(ingestor.store, "train")
    seen = Counter()
    for example in read_examples(build.train_path):
        kind, text = example.kind, train[example.id].text
        user, assistant = example.messages
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        seen[kind] += 1
        if kind == "continue":
            instruction, head = user["content"].split("\n\n", 1)
            assert instruction in CONTINUE_INSTRUCTIONS
            tail = assistant["content"]
            assert text.startswith(head) and text.endswith(tail)
            assert text[len(head) : len(text) - len(tail)].strip() == ""
            assert head.strip() and tail.strip()
        else:
            assert assistant["content"] == text
            if kind == "rewrite":
                assert user["content"].startswith(REWRITE_INSTRUCTION + "\n\n")
            else:
                assert user["content"].startswith("Write about ")
    assert set(seen) == {"backtranslate", "continue", "rewrite"}
    assert len(set(user_instructions(build.train_path))) >= 3  # the phrasings vary


def user_instructions(path):
    for example in read_examples(path):
        if example.kind == "continue":
            yield example.messages[0]["content"].split("\n\n", 1)[0]


def test_continue_cuts_near_a_third(ingested, tmp_path):
    _, ingestor = ingested
    config = DatasetConfig(raw_ratio=0, backtranslate_ratio=0, continue_ratio=1)
    build = build_dataset(ingestor.store, tmp_path / "ds", config, None, "none")
    shares = []
    for example in read_examples(build.train_path):
        head = example.messages[0]["content"].split("\n\n", 1)[1]
        whole = len(head) + len(example.messages[1]["content"])
        shares.append(len(head) / whole)
    assert build.stats["kinds"]["continue"] == len(shares) == build.stats["train"]
    inside = sum(0.25 <= share <= 0.45 for share in shares)
    assert inside >= 0.9 * len(shares)
    assert all(0.15 <= share <= 0.65 for share in shares)


def test_split_for_continue_prefers_paragraphs_then_sentences():
    text = "One two three.\n\nFour five six seven. Eight nine ten eleven twelve thirteen."
    head, tail = split_for_continue(text, low=0.15, high=0.4)
    assert head == "One two three." and tail.startswith("Four")
    text = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu nu xi omicron."
    head, tail = split_for_continue(text)
    assert head == "Alpha beta gamma delta." and tail.startswith("Epsilon")
    words = " ".join(f"w{i}" for i in range(30))
    head, tail = split_for_continue(words)
    assert head + " " + tail == words and 0.25 < len(head) / len(words) < 0.45
    assert split_for_continue("unbreakable") is None


TRAINING_NOTE = (
    "Day 3. The gannets came back to the stack this week, dozens of them, diving like thrown "
    "knives into the Sound. I watched from the wall with the flask until my hands went.\n\n"
    "Bosun was not interested. He has opinions about birds and none are kind."
)


def test_kinds_stay_put_when_writing_is_added(ingested, make_ingestor, tmp_path):
    workspace, ingestor = ingested
    first = build_dataset(ingestor.store, tmp_path / "a", DatasetConfig(), StandIn(), KEY)
    before = {e.id: e.kind for e in read_examples(first.train_path)}
    (workspace.writing / "new-note.txt").write_text(TRAINING_NOTE)
    report = ingestor.scan()
    assert report.count("added") == 1
    # The samples already hold out a tenth of their tokens, so the new passage is trained on.
    assert ingestor.store.document("new-note.txt").split == "train"
    second = build_dataset(ingestor.store, tmp_path / "b", DatasetConfig(), StandIn(), KEY)
    after = {e.id: e.kind for e in read_examples(second.train_path)}
    assert set(before) < set(after)
    assert all(after[chunk] == kind for chunk, kind in before.items())
    assert second.hash != first.hash
    assert second.stats["generated"] == sum(
        after[chunk] == "backtranslate" for chunk in set(after) - set(before)
    )


def test_kind_for_is_stable_and_follows_the_seed():
    config = DatasetConfig()
    hashes = [f"{i:064x}" for i in range(2000)]
    kinds = [kind_for(h, config) for h in hashes]
    assert kinds == [kind_for(h, config) for h in hashes]
    counts = Counter(kinds)
    assert abs(counts["raw"] / 2000 - 0.4) < 0.04 and counts["rewrite"] == 0
    reseeded = [kind_for(h, DatasetConfig(seed=1)) for h in hashes]
    assert reseeded != kinds
    assert {kind_for(h, DatasetConfig(0, 0, 0, 0)) for h in hashes} == {"raw"}
    assert {kind_for(h, DatasetConfig(0, 0, 1, 0)) for h in hashes} == {"continue"}


def test_a_second_build_generates_nothing(ingested, tmp_path):
    _, ingestor = ingested
    generator = StandIn()
    first = build_dataset(ingestor.store, tmp_path / "a", DatasetConfig(), generator, KEY)
    wanted = first.stats["kinds"]["backtranslate"]
    assert wanted > 0 and len(generator.calls) == wanted == first.stats["generated"]
    assert first.stats["cached"] == 0
    again = StandIn()
    progress = []
    second = build_dataset(
        ingestor.store,
        tmp_path / "b",
        DatasetConfig(),
        again,
        KEY,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert again.calls == []
    assert progress == [(0, 0)]
    assert second.stats["generated"] == 0 and second.stats["cached"] == wanted
    assert second.hash == first.hash
    # Another generator key is another cache: everything is generated again.
    third = StandIn()
    build_dataset(ingestor.store, tmp_path / "c", DatasetConfig(), third, "other:v1")
    assert len(third.calls) == wanted


def test_cached_only_builds_the_generated_snapshot_once_requests_are_ready(ingested, tmp_path):
    """The app's retrain (cached requests only) and `slmtui train` (generate what is missing)
    build the same snapshot from the same store; before the requests exist, the chunks that
    wait for one are counted as pending and train as 'continue' pairs."""
    _, ingestor = ingested
    store = ingestor.store
    config = DatasetConfig()
    status = request_status(store, config, KEY)
    assert status.ready == status.rejected == 0 and status.pending == status.total > 0

    idle = StandIn()
    early = build_dataset(store, tmp_path / "early", config, idle, KEY, generate=False)
    assert idle.calls == []
    assert early.stats["pending"] == status.total
    assert early.stats["kinds"]["backtranslate"] == 0

    cli = build_dataset(store, tmp_path / "cli", config, StandIn(), KEY)
    assert cli.stats["pending"] == 0 and cli.hash != early.hash
    app = build_dataset(store, tmp_path / "app", config, StandIn(), KEY, generate=False)
    assert app.hash == cli.hash
    assert app.manifest_path.read_text().count(KEY) == 1  # the same generator key recorded

    done = request_status(store, config, KEY)
    assert done.pending == 0 and done.ready + done.rejected == status.total
    assert done.describe() == (
        f"chat pairs: {done.ready} of {done.total} ready"
        + (f", {done.rejected} rejected" if done.rejected else "")
    )


def test_progress_counts_generations(ingested, tmp_path):
    _, ingestor = ingested
    progress = []
    build = build_dataset(
        ingestor.store,
        tmp_path / "a",
        DatasetConfig(),
        StandIn(),
        KEY,
        progress=lambda done, total: progress.append((done, total)),
    )
    total = build.stats["generated"]
    assert progress == [(done, total) for done in range(total + 1)]


@pytest.mark.parametrize(
    "reply",
    [
        lambda prompt: "",
        lambda prompt: "Sure! Here is a request about the harbour.",
        lambda prompt: "Here is the request: write about the bees.",
        lambda prompt: "As an AI, I cannot know what was asked.",
        lambda prompt: "bees bees bees bees bees bees bees bees",
        lambda prompt: "Write about the the the the the the the the the the the the.",
        lambda prompt: "Write about it<|im_end|>",
        lambda prompt: "Write",
        lambda prompt: " ".join(["Write about the sea"] + [f"word{i}" for i in range(90)]),
        lambda prompt: prompt.split("\n\n---\n")[0],  # the passage itself
    ],
)
def test_degenerate_generations_are_rejected_cached_and_fall_back(ingested, tmp_path, reply):
    _, ingestor = ingested
    config = DatasetConfig(raw_ratio=0, backtranslate_ratio=1, continue_ratio=0)
    bad = StandIn(reply)
    build = build_dataset(ingestor.store, tmp_path / "a", config, bad, KEY)
    train = build.stats["train"]
    assert len(bad.calls) == train
    assert build.stats["rejected"] == train
    assert build.stats["kinds"]["backtranslate"] == 0
    assert build.stats["kinds"]["continue"] + build.stats["kinds"]["raw"] == train
    assert build.stats["kinds"]["continue"] >= 0.9 * train
    cached = ingestor.store.cached_requests("backtranslate", KEY)
    assert len(cached) == train and not any(entry.accepted for entry in cached.values())
    # The rejection is remembered: a rebuild asks the generator nothing and falls back again.
    good = StandIn()
    again = build_dataset(ingestor.store, tmp_path / "b", config, good, KEY)
    assert good.calls == []
    assert again.stats["rejected"] == train and again.stats["cached"] == train
    assert again.hash == build.hash


def test_without_a_generator_generated_kinds_become_continue(ingested, tmp_path):
    _, ingestor = ingested
    config = DatasetConfig(
        raw_ratio=0.4, backtranslate_ratio=0.3, continue_ratio=0.1, rewrite_ratio=0.2
    )
    build = build_dataset(ingestor.store, tmp_path / "a", config, None, "none")
    kinds = build.stats["kinds"]
    assert kinds["backtranslate"] == kinds["rewrite"] == 0
    planned = build.stats["planned"]
    assert kinds["continue"] == planned["continue"] + planned["backtranslate"] + planned["rewrite"]
    assert build.stats["fallbacks"]["no generator"] == planned["backtranslate"] + planned["rewrite"]
    assert build.stats["generated"] == build.stats["cached"] == build.stats["rejected"] == 0


def test_build_hash_is_a_snapshot_identity(ingested, tmp_path):
    workspace, ingestor = ingested
    config = DatasetConfig()
    first = build_dataset(ingestor.store, tmp_path / "a", config, StandIn(), KEY)
    same = build_dataset(ingestor.store, tmp_path / "b", config, StandIn(), KEY)
    assert first.hash == same.hash
    assert lines(first.train_path) == lines(same.train_path)
    reseeded = build_dataset(ingestor.store, tmp_path / "c", DatasetConfig(seed=7), StandIn(), KEY)
    assert reseeded.hash != first.hash
    victim = sorted(p for p in workspace.writing.rglob("*.txt"))[0]
    victim.write_text(victim.read_text(encoding="utf-8") + "\n\nOne more line, added today.")
    ingestor.scan()
    changed = build_dataset(ingestor.store, tmp_path / "d", config, StandIn(), KEY)
    assert changed.hash != first.hash


def test_files_are_jsonl_with_a_manifest_and_no_leftovers(ingested, tmp_path):
    _, ingestor = ingested
    out = tmp_path / "run" / "dataset"
    build = build_dataset(ingestor.store, out, DatasetConfig(), StandIn(), KEY)
    assert build.path == out
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl", "val.jsonl"]
    for path in (build.train_path, build.val_path):
        raw_lines = lines(path)
        assert raw_lines and all(isinstance(json.loads(line), dict) for line in raw_lines)
    for line in lines(build.train_path):  # format 2: an example's ID is "id"
        example = json.loads(line)
        assert example["kind"] in KINDS and isinstance(example["id"], str)
        if example["kind"] == "raw":
            assert set(example) == {"kind", "text", "id"}
        else:
            assert set(example) == {"kind", "messages", "id"}
    manifest = json.loads(build.manifest_path.read_text())
    assert manifest["hash"] == build.hash
    assert manifest["stats"] == build.stats
    assert manifest["generator_key"] == KEY
    assert manifest["config"]["raw_ratio"] == 0.4
    # Building again over the same folder replaces the files.
    again = build_dataset(ingestor.store, out, DatasetConfig(seed=3), None, "none")
    assert json.loads(build.manifest_path.read_text())["hash"] == again.hash
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl", "val.jsonl"]


def test_chunk_filter_sees_both_splits(ingested, tmp_path):
    _, ingestor = ingested
    build = build_dataset(
        ingestor.store,
        tmp_path / "a",
        DatasetConfig(),
        None,
        "none",
        chunk_filter=lambda chunk: chunk.path.startswith("journal/") or chunk.split == "val",
    )
    train = list(read_examples(build.train_path))
    journal = {c.hash for c in ingestor.store.live_chunks() if c.path.startswith("journal/")}
    assert train and {e.id for e in train} <= journal
    assert build.stats["val"] == len(live(ingestor.store, "val"))


def test_empty_store_builds_an_empty_dataset(workspace, make_ingestor, tmp_path):
    ingestor = make_ingestor(workspace)
    build = build_dataset(ingestor.store, tmp_path / "a", DatasetConfig(), StandIn(), KEY)
    assert build.stats["train"] == build.stats["val"] == 0
    assert lines(build.train_path) == [] and lines(build.val_path) == []


def test_read_examples_names_the_bad_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"kind": "raw", "text": "a", "chunk": "h"}\n\nnot json\n')
    reader = read_examples(path)
    assert next(reader).text == "a"
    with pytest.raises(DatasetError, match=r"train.jsonl:3"):
        next(reader)


PASSAGE = (
    "The swarm hung off the yew by the lychgate like a great brown beard, humming. Mrs Aird "
    "stood well back with her handbag held in front of her, and the Reverend pretended not to "
    "watch from the vestry window while I shook them into the skep."
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Write about a swarm of bees in a churchyard.", None),
        ("Describe taking a swarm from a yew tree.", None),
        ("Could you tell me how you took the swarm from the yew?", None),
        ("", "empty"),
        ("Write bees", "too short"),
        ("Write about " + " ".join(["bees"] * 90), "too long"),
        ("Sure, write about bees in the yew.", "boilerplate"),
        ("Here is a request about the swarm.", "boilerplate"),
        ("As an AI language model I like bees.", "boilerplate"),
        ("Write about the swarm<|im_end|>", "special tokens"),
        ("Write about the swarm, the swarm, the swarm, the swarm.", "repeats"),
        ("Write about bees bees bees bees and more bees", "repeats"),
        (
            "Write about how the swarm hung off the yew by the lychgate like a great brown beard",
            "copies the passage",
        ),
        ("The text is a story about a swarm.", "describes the passage"),
        ("A person might have asked for a story about the swarm.", "describes the passage"),
        ("Write about the text above.", "describes the passage"),
        ("The swarm was large and very loud that day.", "does not read as a request"),
        ("Write about the best way to prepare for a job interview.", "not about the passage"),
    ],
)
def test_check_generation(text, reason):
    verdict = check_generation(text, PASSAGE)
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None and reason in verdict


def test_check_generation_rejects_a_copy_of_the_prompt():
    prompt = (
        f'{PASSAGE}\n\n---\nReply with a request, such as "Write about the storm at sea in winter".'
    )
    assert "copies the prompt" in check_generation(
        "Write about the storm at sea in winter", PASSAGE, prompt=prompt
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('  "Write about the bees."  ', "Write about the bees."),
        ("Request: Write about the bees.", "Write about the bees."),
        ("The request is to write a letter about the bees.", "Write a letter about the bees."),
        (
            "The text is about a swarm in a yew. The text is about bees.",
            "Write about a swarm in a yew.",
        ),
        ("The text is about a story about a swarm. More.", "Write a story about a swarm."),
        ("The text describes a swarm in a yew.", "Describe a swarm in a yew."),
        (
            "This passage is a letter to a friend about bees.",
            "Write a letter to a friend about bees.",
        ),
    ],
)
def test_clean_generation(raw, clean):
    assert clean_generation(raw) == clean


def test_clean_generation_of_a_retelling_drops_an_unfinished_sentence():
    raw = "The text is about bees. They swarmed in May. Then the"
    assert clean_generation(raw, "rewrite") == "The text is about bees. They swarmed in May."
    assert clean_generation("They swarmed in May", "rewrite") == "They swarmed in May"


def test_prompts_show_at_most_250_words_or_2000_characters():
    long = " ".join(f"word{i}" for i in range(400))
    assert truncate_words(long).split()[-2:] == ["word249", "…"]
    assert truncate_words("short text ") == "short text"
    unspaced = "字" * 5000
    assert truncate_words(unspaced) == "字" * 2000 + " …"
    assert len(generator_prompt("backtranslate", long)) < len(long)
