"""The blind test's rounds and score: held-out writing and conversations alternate, the order
of the two answers is drawn, neither is longer, a round counts once per version, and the score
lives in the version's card."""

from __future__ import annotations

import shutil

import pytest

from slmtui.eval.blind import (
    BlindScore,
    blind_requests,
    draw,
    make_round,
    record,
)
from slmtui.eval.heldout import EvalPrompt
from slmtui.eval.intervals import binomial_interval
from slmtui.registry import ModelRegistry
from tests.conftest import SAMPLES


def prompt(key: str, reference: str, kind: str = "continue") -> EvalPrompt:
    return EvalPrompt(key, f"Go on.\n\nThe start of passage {key}", reference, kind)


def test_a_round_cuts_both_answers_alike_and_draws_their_order():
    yours = " ".join(f"mine{i}" for i in range(200))
    rounds = [make_round(prompt(f"k{i}", yours), "the model says this and that", "v1")
              for i in range(40)]  # fmt: skip
    first = [r.yours_first for r in rounds]
    assert 10 < sum(first) < 30  # both orders, drawn
    for played in rounds:
        one, two = played.answers
        assert len(one.split()) == len(two.split())
        assert played.picked_yours(1 if played.yours_first else 2)
        assert not played.picked_yours(2 if played.yours_first else 1)
        assert played.context == f"The start of passage {played.id}"
    # A cut ends at a sentence end where there is one in the second half of the words.
    prose = "One two three. Four five six seven. Eight nine ten eleven twelve"
    cut = make_round(prompt("s", prose), " ".join(["word"] * 10), "v1")
    assert cut.yours == "One two three. Four five six seven."
    # The same round for the same version reads the same; another version may differ.
    again = make_round(prompt("k0", yours), "the model says this and that", "v1")
    assert again == rounds[0]


def test_the_score_has_a_binomial_interval_and_says_what_50_percent_means():
    assert BlindScore().words() == "no blind rounds played yet"
    score = BlindScore(10, 7, [])
    low, high = score.interval.as_list()
    assert 0.39 < low < 0.40 and 0.89 < high < 0.90  # Wilson, 95%
    assert "7 of 10 times (70%, 95% interval 40–89%)" in score.words()
    assert "50% means you cannot tell" in score.words()
    assert binomial_interval(0, 0).as_list() == [0.0, 1.0]
    assert binomial_interval(5, 5).high == 1.0 and binomial_interval(0, 5).low == 0.0


def test_rounds_never_repeat_for_a_version_and_are_kept_in_its_card(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    staging = registry.staging()
    (staging / "model.gguf").write_bytes(b"GGUF")
    version = registry.publish(staging, {"gguf": "model.gguf", "quant": "F16", "run": "r"})
    requests = [prompt(f"k{i}", "one two three four") for i in range(6)]
    first = draw(requests, BlindScore.from_card(version.card), 4)
    assert len(first) == 4
    for index, asked in enumerate(first):
        played = make_round(asked, "five six seven", version.name)
        record(registry, version.name, played, 1 if index % 2 else (2 - played.yours_first))
    again = record(registry, version.name, make_round(first[0], "x y", version.name), 1)
    card = registry.get(version.name).card
    assert card["blind"]["rounds"] == again.rounds == 4  # the repeated round did not count
    assert sorted(card["blind"]["shown"]) == sorted(p.chunk_hash for p in first)
    left = draw(requests, BlindScore.from_card(card), 4)
    assert {p.chunk_hash for p in left}.isdisjoint(card["blind"]["shown"]) and len(left) == 2


def test_rounds_alternate_writing_and_conversations(workspace, make_ingestor):
    shutil.copytree(SAMPLES / "essays", workspace.writing / "essays")
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")
    shutil.copytree(SAMPLES / "chats", workspace.writing / "chats")
    make_ingestor(workspace).scan()
    config = workspace.load_config()
    requests = blind_requests(workspace, config)
    kinds = [p.kind for p in requests]
    assert "continue" in kinds and "reply" in kinds
    assert kinds[:4] == ["continue", "reply", "continue", "reply"]
    reply = next(p for p in requests if p.kind == "reply")
    assert reply.messages and reply.messages[-1]["role"] == "user"
    played = make_round(reply, "a model's answer of some words", "v1")
    assert played.context and "You are" not in played.context  # no system prompt shown


@pytest.mark.parametrize("share", [0.5])
def test_the_interval_is_wide_at_few_rounds(share):
    narrow = binomial_interval(50, 100)
    wide = binomial_interval(5, 10)
    assert wide.high - wide.low > narrow.high - narrow.low
    assert wide.contains(share) and narrow.contains(share)
