"""The training job, run for real on a tiny random llama with the real SmolLM2 tokenizer."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from slmtui.dataset.example import Example
from slmtui.jobs.describe import describe
from slmtui.jobs.events import TRAINING, JobEvent
from slmtui.jobs.launch import start_training
from slmtui.jobs.process import follow, stop_job
from slmtui.ml import checkpoint_state
from slmtui.ml import data as ml_data
from slmtui.ml import train as trainer
from slmtui.ml.lora_model import LORA_TARGETS
from slmtui.runs import RunFolder

TEXT = (
    "Slack water at the causeway, and the oystercatchers arguing over the weed. "
    "The kettle on, the wireless low, the Minister standing in the burn like a rebuke. "
)


def make_run(tmp_path: Path, base: Path, train_examples: list[dict], **train) -> RunFolder:
    run = tmp_path / "run"
    (run / "dataset").mkdir(parents=True)
    with (run / "dataset" / "train.jsonl").open("w") as handle:
        for example in train_examples:
            handle.write(json.dumps(example) + "\n")
    val = [{"kind": "raw", "text": TEXT * 3, "chunk": "v1"}]
    (run / "dataset" / "val.jsonl").write_text("\n".join(json.dumps(v) for v in val) + "\n")
    settings = {"preset": "cpu-quick", "seq_len": 128, "batch_tokens": 512, "max_steps": 12,
                "learning_rate": 2e-2, "lora_r": 8, **train}  # fmt: skip
    plan = {"base": str(base), "cache_root": str(tmp_path / "cache"),
            "dataset_dir": str(run / "dataset"), "train": settings}  # fmt: skip
    (run / "run.json").write_text(json.dumps(plan))
    return RunFolder(run)


def repeated_text_examples(count: int = 40) -> list[dict]:
    return [{"kind": "raw", "text": TEXT * 2, "chunk": f"c{i}"} for i in range(count)]


def run_to_end(run: RunFolder, **options) -> list[JobEvent]:
    job = start_training(run, **options)
    events = list(follow(job))
    assert job.process.returncode in (0, 1)
    return events


def test_loss_falls_on_repeated_text_and_adapter_is_saved(tmp_path, learnable_base):
    run = make_run(tmp_path, learnable_base, repeated_text_examples())
    events = run_to_end(run)
    kinds = [event.kind for event in events]
    assert kinds[0] == "started" and kinds[-1] == "finished", events[-1]
    steps = [event.data for event in events if event.kind == "step"]
    assert len(steps) == 12
    assert steps[-1]["loss"] < 0.8 * steps[0]["loss"]
    assert all(step["tokens_per_s"] > 0 for step in steps)
    finished = events[-1].data
    assert finished["val_ppl"] < finished["val_ppl_base"]
    assert (run.adapter / "adapter_model.safetensors").is_file()
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["val_loss"] == pytest.approx(finished["val_loss"])
    recorded = (run.path / "events.jsonl").read_text().splitlines()
    assert [JobEvent.parse(line, TRAINING) for line in recorded] == events
    assert run.finished and not run.resumable


def test_dry_run_prints_the_plan_only(tmp_path, tiny_base):
    run = make_run(tmp_path, tiny_base, repeated_text_examples())
    events = run_to_end(run, dry_run=True)
    assert [event.kind for event in events] == ["started"]
    plan = events[0].data
    assert plan["dry_run"] and plan["steps"] == 12 and plan["estimated_seconds"] > 0
    assert plan["device"] == "cpu" and plan["trainable_params"] > 0
    assert not run.adapter.exists()


def test_sigterm_checkpoints_and_resume_ends_like_an_uninterrupted_run(tmp_path, tiny_base):
    examples = repeated_text_examples()
    whole = make_run(tmp_path / "whole", tiny_base, examples, max_steps=16, checkpoint_every=100)
    reference = [e.data["loss"] for e in run_to_end(whole) if e.kind == "step"]

    split = make_run(tmp_path / "split", tiny_base, examples, max_steps=16, checkpoint_every=100)
    job = start_training(split)
    first: list[JobEvent] = []
    for event in follow(job):
        first.append(event)
        if event.kind == "step" and event.data["step"] == 5:
            stop_job(job)
    assert job.process.returncode == 0
    assert first[-1].kind == "finished" and first[-1].data["stopped"]
    stopped_at = first[-1].data["step"]
    assert any(e.kind == "checkpoint" and e.data["step"] == stopped_at for e in first)
    assert split.resumable

    second = run_to_end(split, resume=True)
    assert second[0].data["start_step"] == stopped_at
    assert second[-1].kind == "finished" and not second[-1].data["stopped"]
    losses = [e.data["loss"] for e in first + second if e.kind == "step"]
    assert len(losses) == 16
    assert losses == pytest.approx(reference, rel=1e-3)


def test_sigkill_loses_at_most_the_time_since_the_last_checkpoint(tmp_path, tiny_base):
    """Checkpoints on a time interval: a run killed with SIGKILL resumes from the newest one
    and ends with the losses an uninterrupted run has."""
    examples = repeated_text_examples()
    settings = {"max_steps": 12, "checkpoint_every": 100, "checkpoint_seconds": 0.01}
    whole = make_run(tmp_path / "whole", tiny_base, examples, **settings)
    reference = [e.data["loss"] for e in run_to_end(whole) if e.kind == "step"]

    killed = make_run(tmp_path / "killed", tiny_base, examples, **settings)
    job = start_training(killed)
    saved = []
    for event in follow(job):
        if event.kind == "checkpoint":
            saved.append(event.data["step"])
            if event.data["step"] >= 4:
                job.process.kill()
    assert event.kind == "failed" and "SIGKILL" in event.data["reason"]
    assert saved[:3] == [1, 2, 3]  # the interval, not checkpoint_every, made them
    assert killed.resumable

    resumed = run_to_end(killed, resume=True)
    start = resumed[0].data["start_step"]
    assert start >= 4 and resumed[-1].kind == "finished"
    losses = [e.data["loss"] for e in resumed if e.kind == "step"]
    assert losses == pytest.approx(reference[start:], rel=1e-3)


def test_checkpoint_state_has_no_pickle_and_round_trips(tmp_path, tiny_base):
    from peft import LoraConfig, get_peft_model

    from slmtui.ml.base import load_base
    from slmtui.ml.checkpoint_state import read_state

    model, _ = load_base(tiny_base)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=LORA_TARGETS))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    sum(p.sum() for p in trainable).backward()
    optimizer.step()
    folder = trainer.save_checkpoint(
        RunFolder(tmp_path), model, optimizer, 7, {"base_val_loss": 2.5}
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter",
        "state.json",
        "state.safetensors",
    ]
    state = read_state(folder)
    assert state["step"] == 7 and state["base_val_loss"] == 2.5
    restored = torch.optim.AdamW(trainable, lr=1e-3)
    restored.load_state_dict(state["optimizer"])
    for key, value in optimizer.state_dict()["state"].items():
        for name, tensor in value.items():
            assert torch.equal(restored.state_dict()["state"][key][name], tensor)
    assert torch.equal(state["torch_rng"], torch.get_rng_state())


def test_a_pickled_state_with_code_in_it_is_refused_without_running_it(tmp_path, tiny_base):
    run = make_run(tmp_path, tiny_base, repeated_text_examples(), max_steps=2)
    folder = run.checkpoints / "step-000001"
    (folder / "adapter").mkdir(parents=True)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"step": 1, "payload": Payload()}, folder / "state.pt")
    run.checkpoints.joinpath("latest").write_text("step-000001")
    events = run_to_end(run, resume=True)
    assert events[-1].kind == "failed" and "more than plain data" in events[-1].data["reason"]
    assert not marker.exists()


def test_replay_never_brings_back_writing_that_left_the_snapshot(tmp_path, tiny_base):
    """An example excluded (or a document deleted) after a run is not replayed from that run's
    snapshot by the next one."""
    old = [
        {"kind": "raw", "text": f"Old piece number {i}. " * 4, "chunk": f"c{i}"} for i in range(4)
    ]
    new = [
        {"kind": "raw", "text": f"New piece number {i}. " * 4, "chunk": f"n{i}"} for i in range(3)
    ]
    first = make_run(tmp_path / "first", tiny_base, old)
    second = make_run(tmp_path / "second", tiny_base, old[1:] + new, replay_fraction=1.0)
    plan = json.loads(second.plan_file.read_text())
    plan |= {"init_adapter": str(tmp_path), "replay_dir": str(first.dataset)}
    second.plan_file.write_text(json.dumps(plan))
    texts = [example.text for example in ml_data.select_examples(second.read_plan()).train]
    assert len(texts) == 3 + 3  # the new pieces, and every old one still in the snapshot
    assert not any("Old piece number 0" in text for text in texts)
    assert all(any(f"Old piece number {i}" in text for text in texts) for i in (1, 2, 3))


def test_no_data_and_too_little_data_fail_with_a_reason(tmp_path, tiny_base):
    empty = make_run(tmp_path / "empty", tiny_base, [])
    events = run_to_end(empty)
    assert events[-1].kind == "failed"
    assert "No training data" in events[-1].data["reason"]
    little = make_run(tmp_path / "little", tiny_base, [{"kind": "raw", "text": "Too short."}])
    events = run_to_end(little)
    assert "Too little data" in events[-1].data["reason"]


def test_gpu_preset_without_cuda_fails_clearly(tmp_path, tiny_base):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = make_run(tmp_path, tiny_base, repeated_text_examples(), preset="gpu")
    events = run_to_end(run)
    assert events[-1].kind == "failed" and "needs CUDA" in events[-1].data["reason"]


def test_chat_examples_learn_only_the_reply(tiny_base):
    from slmtui.ml.base import load_base

    _, tokenizer = load_base(tiny_base)
    example = Example("c", "continue", messages=[
        {"role": "user", "content": "Continue this in my voice: The tide"},
        {"role": "assistant", "content": "came in over the slip."},
    ])  # fmt: skip
    encoded = ml_data.encode_example(example, tokenizer, 512)
    assert encoded.replies == 1 and not encoded.shortened and not encoded.lost
    [(ids, labels)] = encoded.pieces
    learned = [token for token, label in zip(ids, labels, strict=True) if label != ml_data.IGNORE]
    assert tokenizer.decode(learned) == "came in over the slip.<|im_end|>"
    assert learned[-1] == tokenizer.eos_token_id
    [(raw_ids, raw_labels)] = ml_data.encode_example(
        Example("r", "raw", "The tide."), tokenizer, 512
    ).pieces
    assert raw_ids == raw_labels and raw_ids[-1] == tokenizer.eos_token_id

    # At fewer tokens than the template's own, the reply has no room: counted, never a piece
    # whose loss is zero.
    cut = ml_data.encode_example(example, tokenizer, 8)
    assert cut.pieces == [] and cut.lost == 1
    # Raw text longer than a sequence is learned whole, in pieces.
    long = ml_data.encode_example(Example("r", "raw", TEXT * 8), tokenizer, 64)
    assert len(long.pieces) > 2 and all(len(ids) <= 64 for ids, _ in long.pieces)
    assert sum(len(ids) for ids, _ in long.pieces) == len(tokenizer(TEXT * 8)["input_ids"]) + 1


def test_packed_examples_do_not_see_each_other(tiny_base):
    from peft import LoraConfig, get_peft_model

    from slmtui.ml.base import load_base

    model, tokenizer = load_base(tiny_base)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=LORA_TARGETS))
    model.eval()
    [first] = ml_data.encode_example(Example("t", "raw", TEXT), tokenizer, 256).pieces
    [second] = ml_data.encode_example(
        Example("t", "raw", "A different piece about bees. " * 3), tokenizer, 256
    ).pieces
    packed = ml_data.pack([first, second], 256, tokenizer.pad_token_id)
    assert packed.input_ids.shape == (1, 256)
    no_autocast = contextlib.nullcontext
    with torch.no_grad():
        together, n = trainer.batch_loss(
            model, packed.input_ids, packed.labels, packed.position_ids, no_autocast
        )
        apart, m = 0.0, 0
        for ids, labels in (first, second):
            alone = ml_data.pack([(ids, labels)], len(ids), tokenizer.pad_token_id)
            loss, k = trainer.batch_loss(
                model, alone.input_ids, alone.labels, alone.position_ids, no_autocast
            )
            apart, m = apart + float(loss), m + k
    # Packing loses only the one label across the boundary, and nothing leaks between examples.
    assert n == m
    assert float(together) == pytest.approx(apart, rel=1e-4)


def test_pack_has_little_padding():
    examples = [([1] * n, [1] * n) for n in (100, 30, 60, 20, 90, 10, 40)]
    packed = ml_data.pack(examples, 128, 0)
    assert packed.input_ids.shape[0] == 3
    assert packed.real_tokens == 350
    assert int((packed.position_ids == 0).sum()) >= 7


def test_raw_text_fills_the_gaps_chat_examples_stay_whole():
    """Rows of 100: chat examples of 60 leave gaps of 40 that pieces of raw text fill."""
    chat = [(list(range(100, 160)), [ml_data.IGNORE] * 20 + list(range(120, 160)))] * 3
    raw = [([7] * 80, [7] * 80), ([8] * 50, [8] * 50)]
    packed = ml_data.pack(chat + raw, 100, 0)
    assert packed.input_ids.shape == (4, 100)  # 310 tokens; whole examples alone need 5 rows
    assert packed.real_tokens == 310
    whole_chats = 0
    for row, positions in zip(packed.input_ids.tolist(), packed.position_ids, strict=True):
        for start in (positions == 0).nonzero().flatten().tolist():
            whole_chats += row[start : start + 60] == list(range(100, 160))
    assert whole_chats == 3  # chat examples are never cut
    flat = packed.input_ids.flatten().tolist()
    assert flat.count(7) == 80 and flat.count(8) == 50
    assert ml_data.pack(chat + raw, 100, 0, split_raw=False).input_ids.shape == (5, 100)


def test_failed_checkpoint_save_keeps_the_previous_one(tmp_path, tiny_base, monkeypatch):
    from peft import LoraConfig, get_peft_model

    from slmtui.ml.base import load_base

    model, _ = load_base(tiny_base)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=LORA_TARGETS))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    run = RunFolder(tmp_path)
    first = trainer.save_checkpoint(run, model, optimizer, 10, {})

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_state, "write_state", disk_full)
    with pytest.raises(
        trainer.TrainingError, match="previous checkpoint \\(step-000010\\) is intact"
    ):
        trainer.save_checkpoint(run, model, optimizer, 20, {})
    assert run.latest_checkpoint() == first
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))


def test_lr_schedule_warms_up_and_decays():
    values = [trainer.lr_at(step, 100, 1.0) for step in range(100)]
    assert values[0] < values[4] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.1, abs=0.01)
    assert all(not math.isnan(v) for v in values)


def test_two_process_data_parallel_on_cpu(tmp_path, tiny_base):
    run = make_run(tmp_path, tiny_base, repeated_text_examples(), max_steps=6)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29533", "-m"]  # fmt: skip
    events = run_to_end(run, launcher=launcher)
    assert events[0].data["world_size"] == 2
    assert events[-1].kind == "finished", events[-1]
    steps = [e.data["loss"] for e in events if e.kind == "step"]
    assert len(steps) == 6 and steps[-1] < steps[0]
    assert (run.adapter / "adapter_model.safetensors").is_file()


@pytest.mark.skipif(
    shutil.which("accelerate") is None
    and not Path(sys.executable).with_name("accelerate").exists(),
    reason="accelerate CLI not installed",
)
def test_runs_under_accelerate_launch(tmp_path, tiny_base):
    run = make_run(tmp_path, tiny_base, repeated_text_examples(), max_steps=4)
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    # On a machine without GPUs, --multi_gpu starts plain torch.distributed CPU processes (gloo).
    launcher = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                "29534", "-m"]  # fmt: skip
    events = run_to_end(run, launcher=launcher)
    assert events[-1].kind == "finished", (
        events[-1],
        (run.path / "stderr.log").read_text()[-2000:],
    )
    assert events[0].data["world_size"] == 2


def test_event_lines_round_trip_and_read_well():
    samples = [
        JobEvent("started", TRAINING, {"preset": "cpu-quick", "device": "cpu", "dtype": "bfloat16",
                               "steps": 40, "tokens_per_step": 4096, "examples": 120,
                               "train_tokens": 41000, "padding_share": 0.01,
                               "trainable_params": 4884480, "estimated_seconds": 200}),
        JobEvent("step", TRAINING, {"step": 3, "steps": 40, "loss": 2.5, "lr": 1e-3,
                            "tokens_per_s": 1800.0, "memory_mb": 900.0, "eta_s": 75}),
        JobEvent("eval", TRAINING, {"step": 0, "which": "base", "val_loss": 3.0, "val_ppl": 20.1}),
        JobEvent("checkpoint", TRAINING, {"step": 10, "path": "/x"}),
        JobEvent("finished", TRAINING, {"step": 40, "steps": 40, "stopped": False, "seconds": 190,
                                "val_ppl_base": 20.0, "val_ppl": 12.0, "val_loss": 2.48}),
        JobEvent("failed", TRAINING, {"reason": "Out of memory."}),
        JobEvent("replanned", TRAINING, {"step": 4, "steps": 88, "seconds_per_step": 2.9,
                                         "estimated_seconds": 301.0}),
        JobEvent("started", TRAINING, {"preset": "cpu-quick", "device": "cpu", "dtype": "float32",
                               "steps": 60, "tokens_per_step": 1024, "examples": 4044,
                               "examples_in_rows": 246, "train_tokens": 1953901,
                               "rows_tokens": 121159, "padding_share": 0.1,
                               "trainable_params": 4884480, "estimated_seconds": 299,
                               "time_budget_s": 300, "epochs": 0.03, "share": 0.031,
                               "steps_limited_by": "time", "replies": 5088,
                               "replies_shortened": 20, "replies_lost": 1,
                               "val_tokens": 8078, "validation_seconds": 24}),
    ]  # fmt: skip
    for event in samples:
        assert JobEvent.parse(event.to_line(), TRAINING) == event
        assert describe(event)
    assert "40% lower" in describe(samples[4])
    assert "88 steps in all" in describe(samples[6])
    big = describe(samples[7])
    assert "246 examples (121,159 tokens" in big and "of 5m00s" in big
    assert "3.1% of the training text" in big and "--minutes" in big
    assert "5,088 replies to learn (20 longer than a sequence, learned in part; 1 " in big
    assert "validation on 8,078 held-out tokens, about 24s of the estimate" in big
    assert JobEvent.parse("Loading weights...", TRAINING) is None
    assert JobEvent.parse('{"event": "bogus"}', TRAINING) is None


def test_incremental_retrain_learns_new_chunks_plus_a_replay_sample(tmp_path, learnable_base):
    old = repeated_text_examples(40)
    first = make_run(tmp_path / "first", learnable_base, old, max_steps=4)
    assert run_to_end(first)[-1].kind == "finished"

    new = [{"kind": "raw", "text": "Bees in the heather, and the honey late. " * 6,
            "chunk": f"n{i}"} for i in range(10)]  # fmt: skip
    second = make_run(tmp_path / "second", learnable_base, old + new, replay_fraction=0.5)
    plan = json.loads((second.path / "run.json").read_text())
    plan |= {"init_adapter": str(first.adapter), "replay_dir": str(first.dataset)}
    (second.path / "run.json").write_text(json.dumps(plan))
    events = run_to_end(second)
    assert events[-1].kind == "finished", events[-1]
    # Half the new count would be 5; a retrain replays at least MIN_REPLAYED old examples.
    assert events[0].data["examples"] == 10 + ml_data.MIN_REPLAYED
    # A few passes over the new writing, not the preset's whole run.
    assert events[0].data["steps"] <= 12

    unchanged = make_run(tmp_path / "third", learnable_base, old)
    plan = json.loads((unchanged.path / "run.json").read_text())
    plan |= {"init_adapter": str(first.adapter), "replay_dir": str(first.dataset)}
    (unchanged.path / "run.json").write_text(json.dumps(plan))
    assert "Nothing new to learn" in run_to_end(unchanged)[-1].data["reason"]


def test_the_base_validation_is_measured_once_per_base_and_sample(tmp_path, tiny_base):
    """Two runs of one workspace on the same held-out sample: the second reads the base model's
    loss from the workspace's cache (runs/../cache/validation) and plans no time for it."""
    first = make_run(tmp_path / "runs" / "a", tiny_base, repeated_text_examples(), max_steps=2)
    second = make_run(tmp_path / "runs" / "b", tiny_base, repeated_text_examples(), max_steps=2)
    assert (
        first.validation_cache
        == second.validation_cache
        == tmp_path / "runs" / "cache" / "validation"
    )
    measured = run_to_end(first)
    cached = run_to_end(second)
    base = [next(e.data for e in events if e.kind == "eval" and e.data["which"] == "base")
            for events in (measured, cached)]  # fmt: skip
    assert base[0]["cached"] is False and base[1]["cached"] is True
    assert base[1]["val_loss"] == pytest.approx(base[0]["val_loss"])
    # (this tiny model's passes round to tenths of a second: the ordering is what is checked)
    assert measured[0].data["validation_seconds"] >= cached[0].data["validation_seconds"]
    assert list(first.validation_cache.glob("*.json"))
