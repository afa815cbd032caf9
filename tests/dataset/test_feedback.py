"""Chat feedback in the store and the dataset: corrections and preference pairs, listed by
`slmtui dataset --kind`, excludable, weighted, and kept whatever happens to the models."""

from __future__ import annotations

import json
import shutil

import pytest

from slmtui.chat.feedback import (
    FeedbackCommand,
    FeedbackError,
    keep_feedback,
    parse_command,
    waiting,
    waiting_words,
)
from slmtui.cli import main
from slmtui.config import DatasetConfig
from slmtui.dataset.build import plan_dataset
from slmtui.dataset.feedback import correction_examples, preference_examples
from slmtui.ingest.store import Store

SYSTEM = {"role": "system", "content": "You are Ana."}
ASKED = [SYSTEM, {"role": "user", "content": "Coming to the harbour tonight?"}]


def answered(reply: str, asked: list[dict] = ASKED) -> list[dict]:
    return [*asked, {"role": "assistant", "content": reply}]


def test_the_plain_chat_commands_read_as_feedback():
    assert parse_command("/fix Sure.\\nSee you at 8. A") == FeedbackCommand(
        "correction", "Sure.\nSee you at 8. A"
    )
    assert parse_command("/good") == FeedbackCommand("good")
    assert parse_command("/BAD ") == FeedbackCommand("bad")
    assert parse_command("a message that mentions /fix") is None
    with pytest.raises(FeedbackError, match="/fix needs what you would have said"):
        parse_command("/fix   ")


def test_feedback_becomes_a_weighted_correction_and_pairs(workspace):
    db = workspace.db_path
    keep_feedback(db, "correction", answered("Absolutely!!! I'd love to!"), model="v1",
                  text="Yes, after the tide. A")  # fmt: skip
    keep_feedback(db, "good", answered("Yes. A"), model="v1")
    keep_feedback(db, "bad", answered("I shall attend with great pleasure!"), model="v2")
    keep_feedback(db, "good", answered("I shall attend with great pleasure!"), model="v2")
    keep_feedback(db, "bad", answered("I shall attend with great pleasure!"), model="v2")
    with pytest.raises(FeedbackError, match="no reply"):
        keep_feedback(db, "good", ASKED, model="v1")
    with Store(db) as store:
        feedback = store.feedback()
    # The second mark of one reply replaced the first: one good, one bad, one correction.
    assert sorted(item.kind for item in feedback) == ["bad", "correction", "good"]
    assert waiting_words(waiting(workspace)) == "1 correction and 2 marks since the last run"

    [correction] = correction_examples(feedback, weight=3)
    assert correction.weight == 3 and correction.kind == "correction"
    assert correction.messages == answered("Yes, after the tide. A")
    assert correction_examples(feedback, weight=0) == []

    pairs = {(p.messages[-1]["content"], p.rejected) for p in preference_examples(feedback)}
    assert pairs == {
        ("Yes, after the tide. A", "Absolutely!!! I'd love to!"),
        ("Yes. A", "I shall attend with great pleasure!"),
    }


def test_the_models_earlier_replies_are_context_never_learned(workspace):
    earlier = [*ASKED, {"role": "assistant", "content": "Maybe."},
               {"role": "user", "content": "Maybe what?"}]  # fmt: skip
    keep_feedback(workspace.db_path, "correction", answered("Hmm?", earlier), model="v1",
                  text="Maybe I'll come. A")  # fmt: skip
    with Store(workspace.db_path) as store:
        [correction] = correction_examples(store.feedback(), weight=1)
    assert correction.learned_text == "Maybe I'll come. A"


def test_the_dataset_lists_and_excludes_feedback_and_keeps_it_when_models_go(workspace, capsys):
    keep_feedback(workspace.db_path, "correction", answered("Absolutely!!!"), model="v1",
                  text="Yes. A")  # fmt: skip
    root = str(workspace.root)
    assert main(["-w", root, "dataset", "--kind", "correction", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    [row] = listed["examples"]
    assert row["kind"] == "correction" and row["path"] == "chat feedback"
    assert listed["counts"] == {"correction": 1, "preference": 1}
    assert main(["-w", root, "dataset", "--kind", "preference", "--json"]) == 0
    [pair] = json.loads(capsys.readouterr().out)["examples"]
    assert pair["trained"] == "Yes. A" and pair["rejected"] == "Absolutely!!!"

    assert main(["-w", root, "dataset", "exclude", pair["id"]]) == 0
    capsys.readouterr()
    with Store(workspace.db_path) as store:
        plan = plan_dataset(store, DatasetConfig(), None)
    assert plan.stats["kinds"]["preference"] == 0 and plan.stats["kinds"]["correction"] == 1
    assert [e.kind for e in plan.kept("train")] == ["correction"]

    shutil.rmtree(workspace.state / "models", ignore_errors=True)  # every version deleted
    shutil.rmtree(workspace.state / "runs", ignore_errors=True)
    with Store(workspace.db_path) as store:
        assert [item.text for item in store.feedback()] == ["Yes. A"]
