"""Fitting a run to the card, on this CPU: the real training code driven with an injected
out-of-memory error and an injected free-memory figure (no CUDA runs here), the collectives'
devices, and the QLoRA path end to end (bitsandbytes runs NF4 on a CPU)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from test_train import make_run, repeated_text_examples
from test_train_cli import slmtui, tiny_workspace

from slmtui.ml import collectives, fit
from slmtui.ml import train as trainer


def events_of(capsys) -> list[dict]:
    return [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


def oom_above(rows: int, error: BaseException):
    """A batch_loss that fails like a full card whenever a training pass holds more than
    `rows` (validation, which keeps no activations, passes)."""
    real = trainer.batch_loss

    def batch_loss(model, ids, *args, **kwargs):
        if model.training and ids.shape[0] > rows:
            raise error
        return real(model, ids, *args, **kwargs)

    return batch_loss


def four_rows_a_pass(tmp_path: Path, tiny_base: Path, **train):
    # cpu-full starts at 4 sequences a pass; 8 sequences of 128 tokens make a step.
    return make_run(tmp_path, tiny_base, repeated_text_examples(), preset="cpu-full",
                    seq_len=128, batch_tokens=1024, max_steps=3, **train)  # fmt: skip


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    ],
    ids=["torch", "cublas"],
)
def test_out_of_memory_in_the_first_steps_halves_the_micro_batch(
    tmp_path, tiny_base, capsys, monkeypatch, error
):
    run = four_rows_a_pass(tmp_path, tiny_base)
    monkeypatch.setattr(trainer, "batch_loss", oom_above(1, error))
    assert trainer.main([str(run.path)]) == 0
    events = events_of(capsys)
    retries = [e for e in events if e["event"] == "retry"]
    assert [(e["micro_batch"], e["accumulation"]) for e in retries] == [(2, 4), (1, 8)]
    assert all(e["step"] == 1 for e in retries)
    assert events[-1]["event"] == "finished" and events[-1]["steps"] == 3
    assert len([e for e in events if e["event"] == "step"]) == 3


def test_an_error_that_is_not_memory_or_one_row_too_many_fails_the_run(
    tmp_path, tiny_base, capsys, monkeypatch
):
    run = four_rows_a_pass(tmp_path, tiny_base)
    monkeypatch.setattr(trainer, "batch_loss", oom_above(0, torch.OutOfMemoryError("CUDA out")))
    assert trainer.main([str(run.path)]) == 1
    events = events_of(capsys)
    assert [e["micro_batch"] for e in events if e["event"] == "retry"] == [2, 1]
    assert events[-1]["event"] == "failed" and "Out of memory" in events[-1]["reason"]
    run = four_rows_a_pass(tmp_path / "other", tiny_base)
    monkeypatch.setattr(trainer, "batch_loss", oom_above(0, RuntimeError("shape mismatch")))
    assert trainer.main([str(run.path)]) == 1
    events = events_of(capsys)
    assert not [e for e in events if e["event"] == "retry"]
    assert "Training crashed: RuntimeError: shape mismatch" in events[-1]["reason"]


class StandInCard:
    """A card's memory as the probe reads it: `free` bytes, and a pass of n sequences peaking
    at `fixed + n * per_row` bytes above what was allocated."""

    def __init__(self, free: int, fixed: int, per_row: int):
        self.free_bytes, self.fixed, self.per_row = free, fixed, per_row
        self.rows = 0
        self.cleared = 0

    def memory(self) -> fit.DeviceMemory:
        return fit.DeviceMemory(
            free=lambda: self.free_bytes,
            allocated=lambda: 0,
            peak=lambda: self.fixed + self.rows * self.per_row,
            reset_peak=lambda: None,
            empty_cache=self.clear,
        )

    def clear(self) -> None:
        self.cleared += 1


MB = 2**20


def test_the_probe_sizes_the_micro_batch_from_the_free_memory(
    tmp_path, tiny_base, capsys, monkeypatch
):
    card = StandInCard(free=450 * MB, fixed=10 * MB, per_row=100 * MB)
    real = trainer.batch_loss

    def counting(model, ids, *args, **kwargs):
        card.rows = ids.shape[0]  # the stand-in's peak follows the pass the code really runs
        return real(model, ids, *args, **kwargs)

    monkeypatch.setattr(trainer, "batch_loss", counting)
    monkeypatch.setattr(trainer, "device_memory", lambda device: card.memory())
    run = four_rows_a_pass(tmp_path, tiny_base)
    assert trainer.main([str(run.path)]) == 0
    events = events_of(capsys)
    (fitted,) = [e for e in events if e["event"] == "fitted"]
    # (450 MB * 0.85 - 10 MB) / 100 MB a sequence: 3 sequences a pass, 3 passes for 8.
    assert (fitted["micro_batch"], fitted["accumulation"]) == (3, 3)
    assert fitted["per_sequence_mb"] == 100.0 and fitted["free_mb"] == 450
    assert events[-1]["event"] == "finished"
    roomy = StandInCard(free=80_000 * MB, fixed=10 * MB, per_row=100 * MB)
    probe = fit.probe_micro_batch(lambda rows: setattr(roomy, "rows", rows), roomy.memory(), 8)
    assert probe.micro_batch == 8  # never more than the step holds


def test_the_probe_says_when_not_even_one_sequence_fits():
    card = StandInCard(free=MB, fixed=0, per_row=MB)

    def full(rows: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(fit.ProbeError, match=r"One sequence does not fit.*seq_len.*qlora"):
        fit.probe_micro_batch(full, card.memory(), 4)

    def two_too_many(rows: int) -> None:
        if rows > 1:
            raise RuntimeError("CUDNN_STATUS_NOT_ENOUGH_MEMORY")
        card.rows = rows

    assert fit.probe_micro_batch(two_too_many, card.memory(), 4).micro_batch == 1


def test_every_collective_takes_its_tensor_on_the_model_device(monkeypatch):
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(collectives, "WORLD", 2)
    monkeypatch.setattr(collectives.dist, "all_reduce", lambda tensor: seen.append(tensor))
    device = torch.device("meta")  # any device but the CPU default: a CPU tensor would show
    collectives.sum_values([1.0, 2.0], device)  # validation totals, step labels, stop flag
    grads = [torch.zeros(3, 2, device=device), torch.zeros(4, device=device)]
    parameters = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = grad
    collectives.sum_gradients(parameters)
    assert len(seen) == 2 and all(t.device == device for t in seen)
    assert seen[-1].numel() == 10  # the gradients as one flat buffer: one collective a step


def test_ranks_read_disjoint_shards_of_each_epoch():
    for world in (2, 3):
        epoch = [
            set(collectives.rows_for(m, 2, 12, seed=7, rank=r, world=world).tolist())
            for r in range(world)
            for m in range(12 // (2 * world))
        ]
        assert set().union(*epoch) == set(range(12)) and sum(map(len, epoch)) == 12
    alone = [collectives.rows_for(m, 3, 9, seed=7, rank=0, world=1).tolist() for m in range(3)]
    assert sorted(row for rows in alone for row in rows) == list(range(9))


def test_qlora_end_to_end_on_the_cpu(tmp_path, tiny_base):
    """4-bit load, preparation, LoRA, steps, a checkpoint and a resume, the merge into the
    full-precision base, GGUF, verification, chat."""
    workspace = tiny_workspace(tmp_path, tiny_base)
    text = workspace.config_path.read_text()
    text = text.replace('qlora = "auto"', 'qlora = "on"')
    text = text.replace("checkpoint_every = 50", "checkpoint_every = 2")
    assert 'qlora = "on"' in text and "checkpoint_every = 2" in text
    workspace.config_path.write_text(text)
    root = str(workspace.root)
    first = slmtui("-w", root, "train", "--no-generate", "--max-steps", "2", "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    events = [json.loads(line) for line in first.stdout.splitlines()]
    started = events[0]
    assert started["qlora"] and started["event"] == "started"
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_base).to_dict()
    # Packed 4-bit weights counted as the weights they hold, not at half.
    base = started["total_params"] - started["trainable_params"]
    assert base == fit.config_parameters(config)
    assert events[-1]["event"] == "finished" and events[-1]["steps"] == 2
    exported = slmtui("-w", root, "export", "--json", "--skip-chat-check")
    assert exported.returncode == 0, exported.stderr[-3000:] + exported.stdout[-3000:]
    verified = next(
        json.loads(line)
        for line in exported.stdout.splitlines()
        if json.loads(line)["event"] == "verified"
    )
    assert verified["passed"], verified
    reply = slmtui("-w", root, "chat", "--prompt", "Hello", "--max-tokens", "4")
    assert reply.returncode == 0, reply.stderr[-3000:]


def test_a_qlora_run_resumes_from_its_checkpoint(tmp_path, tiny_base):
    from test_train import run_to_end

    run = make_run(tmp_path, tiny_base, repeated_text_examples(), qlora="on", max_steps=4,
                   checkpoint_every=2)  # fmt: skip
    events = run_to_end(run, max_steps=3)  # a checkpoint at step 2, then step 3
    assert events[-1].kind == "finished" and events[0].data["qlora"]
    assert [e.data["step"] for e in events if e.kind == "checkpoint"] == [2]
    resumed = run_to_end(run, resume=True, max_steps=4)
    assert resumed[0].data["start_step"] == 2, [e.kind for e in resumed]
    assert resumed[-1].kind == "finished" and resumed[-1].data["steps"] == 4


def test_a_dry_run_names_a_gpu_torch_cannot_use(tmp_path, tiny_base, monkeypatch):
    from test_train import run_to_end

    from tests.stand_ins import stand_in

    smi = stand_in(
        tmp_path / "bin", "nvidia-smi", "NVIDIA GeForce RTX 3060, 535.183.01, 8.6, 12288"
    )
    monkeypatch.setenv("PATH", f"{smi.parent}:{os.environ['PATH']}")
    run = make_run(tmp_path, tiny_base, repeated_text_examples())
    events = run_to_end(run, dry_run=True)
    warning, started = events[0], events[1]
    assert (
        warning.kind == "warning"
        and "RTX 3060 (driver 535.183.01) is not used" in (warning.data["message"])
    )
    assert started.kind == "started" and started.data["device"] == "cpu"
    from slmtui.jobs.describe import describe

    assert "is not used: the installed torch is a CPU build" in describe(started)


def test_a_card_the_torch_build_has_no_kernels_for_is_refused():
    cu130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]
    said = fit.unbuilt_card((6, 1), cu130)  # a GTX 1080
    assert "compute capability 6.1" in said and "make setup" in said
    assert fit.unbuilt_card((8, 9), cu130) is None  # an RTX 4070 runs sm_86 kernels
    assert fit.unbuilt_card((6, 1), ["sm_50", "sm_60", "sm_61", "sm_70"]) is None
    assert fit.unbuilt_card((8, 9), []) is None  # a CPU build lists nothing
