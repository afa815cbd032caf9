"""`slmtui eval` on a workspace with the tiny llama: every field, agreement with training's own
validation numbers, cached answers, and the previous version as a third model."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from test_train_cli import SAMPLES, slmtui, tiny_workspace

from slmtui.config_file import write_identity
from slmtui.eval.blind import BlindScore
from slmtui.eval.perplexity import token_losses
from slmtui.registry import ModelRegistry

SUMMARY_KEYS = {
    "val_ppl_base", "val_ppl", "val_ppl_previous", "ppl_change", "style_distance_base",
    "style_distance", "style_distance_previous", "distance_ratio", "ppl_change_interval",
    "distance_ratio_interval", "author_share_base", "author_share", "author_share_reference",
    "verifier_margin", "verifier_margin_interval", "verifier_accuracy",
}  # fmt: skip


CONVERSATION_KEYS = {
    "replies", "asked", "reply_ppl_base", "reply_ppl", "reply_ppl_change",
    "reply_ppl_change_interval", "reply_style_distance_base", "reply_style_distance",
    "reply_distance_ratio", "reply_distance_ratio_interval", "reply_author_share_base",
    "reply_author_share", "reply_verifier_accuracy", "samples", "reply_for_others_base",
    "reply_for_others", "reply_words_yours", "reply_words_trained", "reply_words_base",
    "reply_words", "reply_style_distance_yours", "reply_distance_ratio_yours",
    "reply_author_share_yours",
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_llama):
    workspace = tiny_workspace(tmp_path_factory.mktemp("eval-cli"), tiny_llama)
    # The samples' chats too: the evaluation scores held-out conversations as well.
    shutil.copytree(SAMPLES / "chats", workspace.writing / "chats")
    write_identity(workspace.config_path, "Odile Marchbank")
    done = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "3", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished"
    return workspace, finished


def run_eval(workspace, *extra: str) -> dict:
    done = slmtui("-w", str(workspace.root), "eval", "--json", "--prompts", "2", *extra)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    finished = json.loads(done.stdout.splitlines()[-1])  # the job's events, as JSON lines
    assert finished["event"] == "finished"
    return finished


def test_token_losses_are_the_negative_log_softmax_of_the_next_token():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 11)).astype(np.float32)
    tokens = [3, 1, 4, 1, 5]
    expected = [
        -(logits[i, tokens[i + 1]] - math.log(np.exp(logits[i].astype(np.float64)).sum()))
        for i in range(4)
    ]
    assert np.allclose(token_losses(logits, tokens), expected, atol=1e-6)


def test_eval_before_any_training_says_what_to_do(tmp_path, tiny_llama):
    workspace = tiny_workspace(tmp_path, tiny_llama)
    done = slmtui("-w", str(workspace.root), "eval")
    assert done.returncode == 2
    assert "train one first" in done.stderr


def test_eval_json_has_every_field_and_agrees_with_training(trained):
    workspace, finished = trained
    result = run_eval(workspace)

    assert set(result["summary"]) == SUMMARY_KEYS
    summary = result["summary"]
    # llama.cpp on the converted GGUFs scores the held-out text as training did in torch.
    assert summary["val_ppl_base"] == pytest.approx(finished["val_ppl_base"], rel=0.02)
    assert summary["val_ppl"] == pytest.approx(finished["val_ppl"], rel=0.02)
    assert summary["ppl_change"] == pytest.approx(summary["val_ppl"] / summary["val_ppl_base"] - 1)
    assert summary["val_ppl_previous"] is None  # nothing was published before this adapter
    assert summary["style_distance_base"] > 0 and summary["style_distance"] > 0
    assert summary["distance_ratio"] == pytest.approx(
        summary["style_distance"] / summary["style_distance_base"]
    )
    # Every comparison with the base carries its 95% bootstrap interval.
    low, high = summary["ppl_change_interval"]
    assert low <= summary["ppl_change"] <= high
    low, high = summary["distance_ratio_interval"]
    assert low <= high and low > 0
    low, high = summary["verifier_margin_interval"]
    assert -1 <= low <= high <= 1
    assert summary["verifier_margin"] == pytest.approx(
        summary["author_share"] - summary["author_share_base"]
    )
    assert 0 <= summary["author_share_reference"] <= 1
    assert 0 <= summary["verifier_accuracy"] <= 1

    conversations = result["conversations"]
    assert set(conversations) == CONVERSATION_KEYS
    assert conversations["replies"] >= 20 and conversations["asked"] == 24
    assert conversations["reply_ppl_base"] > 1 and conversations["reply_ppl"] > 1
    assert conversations["reply_ppl_change"] == pytest.approx(
        conversations["reply_ppl"] / conversations["reply_ppl_base"] - 1
    )
    low, high = conversations["reply_ppl_change_interval"]
    assert low <= conversations["reply_ppl_change"] <= high
    assert conversations["reply_style_distance_base"] > 0
    # The floor: as many of your own replies as the models answered, measured the same way.
    assert conversations["reply_style_distance_yours"] > 0
    assert conversations["reply_distance_ratio_yours"] == pytest.approx(
        conversations["reply_style_distance_yours"] / conversations["reply_style_distance_base"]
    )
    assert len(conversations["samples"]) == 3 and conversations["samples"][0]["reference"]

    privacy = result["privacy"]
    assert privacy["run_words"] == 8 and set(privacy["personal"]) <= {
        "phones", "emails", "addresses", "names"
    }  # fmt: skip
    assert 0 <= privacy["copied"]["share"] <= 1 and 0 <= privacy["copied_base"]["share"] <= 1
    assert "What it might repeat" in result["text"]

    assert result["model"].endswith("(adapter)")
    assert result["heldout"]["texts"] >= 1 and result["heldout"]["prompts"] == 2
    # The tiny base is no GGUF llama.cpp can write requests with: "continue" requests only.
    assert result["heldout"]["kinds"] == {"continue": 2, "write": 0, "reply": 0}
    roles = {model["role"]: model for model in result["models"]}
    assert set(roles) == {"tuned", "base"}
    assert (
        roles["tuned"]["lora_path"].endswith("adapter.gguf") and roles["base"]["lora_path"] is None
    )
    for model in roles.values():
        assert model["val_tokens"] > 100
        assert set(model["group_distances"]) == {"fw", "punct", "len", "rich", "habit"}
        assert model["profile"]["counts"]["texts"] == 2
        low, high = model["val_ppl_interval"]
        assert low <= model["val_ppl"] <= high
        assert 0 <= model["author_share"] <= 1 and 0 <= model["author_probability"] <= 1
    author = result["author"]
    assert author["counts"]["words"] > 100
    assert {name.split(".")[0] for name in author["features"]} == {
        "fw", "punct", "len", "rich", "habit"
    }  # fmt: skip
    assert result["shifts"] and {"name", "author", "base", "tuned", "moved_closer"} <= set(
        result["shifts"][0]
    )
    assert isinstance(result["characteristic_words"], list)
    assert len(result["samples"]) == 2
    assert {"request", "reference", "tuned", "base"} <= set(result["samples"][0])
    assert result["samples"][0]["reference"].strip() and result["samples"][0]["tuned"]

    saved = Path(result["files"]["json"])
    report = Path(result["files"]["report"]).read_text()
    assert saved.parent.name.startswith("run-") and json.loads(saved.read_text())["summary"]
    assert "<svg" in report and "Side by side" in report and "Style distance" in report
    assert "95% interval" in report and "Read as yours" in report
    assert "95% interval" in result["text"] and "Read as yours by the verifier" in result["text"]

    again = run_eval(workspace)  # seeded sampling and the cache give the same answers
    assert again["samples"] == result["samples"]
    assert again["summary"] == result["summary"]


def test_eval_asks_the_samples_questions_with_and_without_recall(trained, tmp_path):
    workspace, _ = trained
    questions = SAMPLES / "qa.json"
    result = run_eval(workspace, "--no-previous", "--qa", str(questions))
    qa = result["qa"]
    asked = json.loads(questions.read_text())["questions"]
    answerable = sum(1 for q in asked if q["answer"])
    assert (qa["questions"], qa["answerable"]) == (len(asked), answerable)
    assert qa["unanswerable"] == len(asked) - answerable and qa["k"] == 4
    # This workspace holds the essays, the journal and the chats: recall finds most sources.
    low, high = qa["hit_at_k_interval"]
    assert 0.5 <= low <= qa["hit_at_k"] <= high <= 1
    assert set(qa["models"]) == {"tuned", "base"}
    for conditions in qa["models"].values():
        assert set(conditions) == {"with recall", "without"}
        for shares in conditions.values():
            assert shares["accuracy"] + shares["declined"] + shares["wrong"] == pytest.approx(1)
            assert shares["declined_unanswerable"] + shares["invented_unanswerable"] == 1
            low, high = shares["accuracy_interval"]
            assert 0 <= low <= shares["accuracy"] <= high <= 1
    first = qa["samples"][0]
    assert first["q"] == asked[0]["q"] and first["sources"]
    assert {"tuned with recall", "tuned without", "base with recall", "base without"} <= set(first)
    assert "Questions about your life" in result["text"]

    bad = tmp_path / "qa.json"
    bad.write_text('{"questions": [{"q": "boat?", "answer": ["x"]}]}')
    refused = slmtui("-w", str(workspace.root), "eval", "--qa", str(bad))
    assert refused.returncode == 2 and 'names its document as "doc"' in refused.stderr


def test_eval_of_a_version_compares_with_the_one_before(trained):
    workspace, _ = trained
    root = str(workspace.root)
    for _ in range(2):
        done = slmtui("-w", root, "export", "--json", "--skip-chat-check")
        assert done.returncode == 0, done.stderr[-3000:]
    first = run_eval(workspace, "--model", "v1")
    assert first["model"] == "v1" and first["summary"]["val_ppl_previous"] is None
    assert first["blind"] is None  # no round played for v1
    # Your own verdict so far is reported beside the measures.
    played = BlindScore(4, 2, ["a", "b", "c", "d"]).as_card()
    ModelRegistry(workspace.models).update_card("v2", blind=played)
    second = run_eval(workspace, "--model", "v2")
    assert second["blind"]["rounds"] == 4 and second["blind"]["share"] == 0.5
    roles = {model["role"]: model["label"] for model in second["models"]}
    assert roles == {"tuned": "v2", "base": "base", "previous": "v1"}
    # Both versions hold the same merged weights, so they score alike.
    assert second["summary"]["val_ppl_previous"] == pytest.approx(
        second["summary"]["val_ppl"], rel=1e-3
    )
    assert (workspace.models / "v2" / "eval.json").is_file()
    report = (workspace.models / "v2" / "eval.html").read_text()
    assert "Which one is yours?" in report and "2 of 4 times" in report
    # An exported version agrees with its adapter applied at run time (F16 rounding aside).
    adapter = run_eval(workspace, "--model", "adapter")
    assert second["summary"]["val_ppl"] == pytest.approx(adapter["summary"]["val_ppl"], rel=0.01)
    # A run named outright is the same adapter.
    run_name = Path(adapter["models"][0]["lora_path"]).parent.name
    named = run_eval(workspace, "--model", run_name)
    assert named["summary"]["val_ppl"] == adapter["summary"]["val_ppl"]
    missing = slmtui("-w", root, "eval", "--model", "run-19990101-000000")
    assert missing.returncode == 2 and "no finished run" in missing.stderr


def test_a_workspace_of_chats_alone_is_evaluated_on_its_replies(tmp_path, tiny_llama):
    workspace = tiny_workspace(tmp_path, tiny_llama)
    shutil.rmtree(workspace.writing)
    shutil.copytree(SAMPLES / "chats", workspace.writing)
    write_identity(workspace.config_path, "Odile Marchbank")
    done = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = run_eval(workspace)
    # Your held-out replies stand in for held-out writing, and are scored in context as well.
    assert result["heldout"]["kinds"]["reply"] > 0 and result["heldout"]["texts"] >= 1
    assert result["summary"]["val_ppl_base"] > 1 and 0 <= result["summary"]["author_share"] <= 1
    assert result["conversations"]["replies"] >= 20


def test_scoring_only_a_reply_equals_the_tail_of_scoring_everything():
    """A reply is scored after its request; normalizing only the reply's rows gives the same
    losses as scoring every position and keeping the last ones."""
    from slmtui.chat.llama import scoring_model
    from slmtui.eval.perplexity import score
    from slmtui.tokenizer import bundled_gguf_path

    with scoring_model(bundled_gguf_path()) as llm:
        tokens = llm.tokenize(b"The ferry was late again, and the tide was on the turn.")
        whole, count = score(llm, tokens)
        tail, last = score(llm, tokens, 4)
        llm.reset()
        llm.eval(tokens)
        every = token_losses(np.asarray(llm.scores[: len(tokens)]), tokens)
    assert count == len(tokens) - 1 and last == 4
    assert whole == pytest.approx(float(every.sum()), rel=1e-6)
    assert tail == pytest.approx(float(every[-4:].sum()), rel=1e-6)
