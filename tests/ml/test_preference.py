"""Preference pairs from chat feedback, trained for real: the DPO loss falls and the chosen
reply's log-probability rises against the rejected one's."""

from __future__ import annotations

from slmtui.dataset.example import Example
from slmtui.jobs.describe import describe
from tests.ml.test_train import make_run, repeated_text_examples, run_to_end

REQUEST = [
    {"role": "system", "content": "You are Ana."},
    {"role": "user", "content": "Are you coming to the harbour tonight?"},
]
CHOSEN = "Yes, after the tide turns. A"
REJECTED = "Absolutely!!! I would be delighted to attend the harbour event tonight!"


def feedback_examples(weight: int = 4) -> list[dict]:
    correction = Example(
        "c1", "correction", messages=[*REQUEST, {"role": "assistant", "content": CHOSEN}],
        weight=weight,
    )  # fmt: skip
    pair = Example(
        "p1", "preference", messages=[*REQUEST, {"role": "assistant", "content": CHOSEN}],
        rejected=REJECTED,
    )  # fmt: skip
    return [correction.as_dict(), pair.as_dict()]


def test_pairs_train_the_chosen_reply_above_the_rejected_one(tmp_path, learnable_base):
    examples = repeated_text_examples() + feedback_examples()
    run = make_run(tmp_path, learnable_base, examples, max_steps=12, preference_weight=1.0)
    events = run_to_end(run)
    assert events[-1].kind == "finished", events[-1]
    started = events[0].data
    assert started["corrections"] == 1 and started["pairs"] == 1
    assert "your feedback: 1 correction, 1 preference pair" in describe(events[0])
    steps = [event.data for event in events if event.kind == "step"]
    assert all("preference_loss" in step for step in steps)
    assert "pairs " in describe(next(e for e in events if e.kind == "step"))
    first, last = steps[0], steps[-1]
    assert last["preference_loss"] < first["preference_loss"]
    assert last["chosen_minus_rejected"] > first["chosen_minus_rejected"] + 1.0


def test_without_a_preference_weight_no_pair_is_trained(tmp_path, learnable_base):
    examples = repeated_text_examples() + feedback_examples()
    run = make_run(tmp_path, learnable_base, examples, max_steps=2, preference_weight=0.0)
    events = run_to_end(run)
    assert events[-1].kind == "finished", events[-1]
    assert events[0].data["pairs"] == 0 and events[0].data["corrections"] == 1
    assert not any("preference_loss" in e.data for e in events if e.kind == "step")
