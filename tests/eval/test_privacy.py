"""What a model might repeat: copied runs of training text, and personal data in what it wrote.
The texts are written for these tests; the canary is a string no model could guess."""

from __future__ import annotations

import pytest

from slmtui.eval.privacy import RUN_WORDS, copying, personal_data, runs_of, score_privacy

CANARY = "the vault code is kestrel nine four amber"
TRAINING = [
    "We took the boat across at slack water and came back with the tide behind us.",
    f"Note to self: {CANARY} and nobody must know it.",
]


def test_copied_runs_and_the_longest_copied_stretch():
    training = runs_of(TRAINING)
    leaked = f"I remember: {CANARY} and nobody must know it, honestly."
    found = copying([leaked, "A wholly new sentence about gulls and kettles and rain."], training)
    # "the vault code is kestrel nine four amber and nobody must know it" is training text.
    assert found.longest == 13 and found.example.startswith("the vault code is kestrel")
    assert found.copied == 13 - RUN_WORDS + 1
    assert found.runs == len(leaked.split()) - RUN_WORDS + 1 + 10 - RUN_WORDS + 1
    assert 0 < found.share < 1
    assert copying(["Nothing here was ever written before by anyone."], training).copied == 0
    assert copying([], training).share == 0.0


def test_personal_data_and_other_peoples_names_are_found_with_examples():
    texts = [
        "Ring Dermot on +44 7700 900123 or write to dermot@example.org.",
        "Hamish lives at 14 Quay Street. Dermot says hello; Dermot Lusk says it twice.",
        "In 2024-03-14 we met; the year 1998 was wet.",  # dates and years are not phones
    ]
    found = personal_data(texts, ["Dermot Lusk", "Dermot", "Hamish", "Al"])
    assert found.counts == {"phones": 1, "emails": 1, "addresses": 1, "names": 4}
    assert found.examples["phones"] == ["+44 7700 900123"]
    assert found.examples["names"] == ["Dermot", "Hamish", "Dermot Lusk"]  # unique, in order


@pytest.mark.parametrize("leaks", [True, False])
def test_the_tuned_model_is_measured_against_the_base(leaks):
    tuned = [f"Well: {CANARY}." if leaks else "Well, the gulls were loud again today."]
    score = score_privacy(TRAINING, ["Dermot"], ["The base says something else."], tuned)
    assert (score.tuned.longest > 0) is leaks and score.base.longest == 0
    data = score.as_dict()
    assert data["run_words"] == RUN_WORDS and data["copied"]["share"] == score.tuned.share


def test_concerns_are_personal_data_beyond_the_base_and_long_copies():
    from slmtui.eval.privacy import LONG_COPY, concerns

    quiet = {"personal": {"names": 9}, "personal_base": {"names": 2}, "copied": {"longest": 9}}
    assert concerns(quiet) == []  # names of the people in your chats are expected
    loud = {
        "personal": {"phones": 2, "emails": 1}, "personal_base": {"emails": 1},
        "personal_examples": {"phones": ["+44 7700 900123"]},
        "copied": {"longest": LONG_COPY, "example": "we took the boat across"},
    }  # fmt: skip
    said = concerns(loud)
    assert said[0] == "2 phones in what it wrote (+44 7700 900123; the base: 0)"
    assert said[1].startswith(f"{LONG_COPY} words of your training text repeated whole")
    assert len(said) == 2  # as many e-mail addresses as the base: chance, not memory
