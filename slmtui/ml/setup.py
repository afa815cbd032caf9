"""How a run trains, decided before its first step: the preset and device, the step budget and
its micro-batches, the learning-rate schedule, and the `started` event that says all of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from slmtui.gpu import cuda_problem, nvidia_gpus
from slmtui.jobs.events import emit
from slmtui.ml import collectives, fit
from slmtui.ml.budget import plan_steps
from slmtui.ml.data import Data
from slmtui.ml.errors import TrainingError
from slmtui.ml.presets import Preset, choose_preset, detect_hardware, measured_flops
from slmtui.runs import RunPlan

log = logging.getLogger("slmtui.train")
WORLD = collectives.WORLD
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Setup:
    """Where and how this run trains: the preset, the device, and its autocast context."""

    preset: Preset
    hardware_name: str
    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager]
    base_folder: Path
    gpu_problem: str | None = None  # why a GPU the driver lists is not used

    @property
    def bf16(self) -> bool:
        return self.preset.dtype == "bfloat16"


@dataclass
class Budget:
    """How much this run trains: steps, and how each step is cut into micro-batches."""

    steps: int
    micro_batch: int
    accumulation: int
    tokens_per_step: int
    estimated_seconds: float
    limited_by: str = "setting"  # what set the step count: "time", "epochs", "setting"


# Share of the measured 1024x1024 matmul rate a whole training step reaches, counting 4 FLOPs per
# parameter per token: 0.34 measured over a 106-step cpu-quick run on the samples (2-core
# AVX512-BF16, bf16); the short bursts of benchmarks/train_bench.py reach more, 0.5-0.6.
STEP_EFFICIENCY = 0.35


def choose_setup(plan: RunPlan, max_steps: int) -> Setup:
    """The preset for this hardware and base (or the one asked for), and the device it runs
    on; a GPU the driver lists but torch cannot use is said, never passed over in silence."""
    from slmtui.ml.base import resolve_base

    if WORLD > 1 and torch.cuda.is_available():
        torch.cuda.set_device(collectives.LOCAL_RANK)  # before any other CUDA call
    hardware = detect_hardware()
    if hardware.device == "cuda":
        unbuilt = fit.unbuilt_card(torch.cuda.get_device_capability(), torch.cuda.get_arch_list())
        if unbuilt:
            raise TrainingError(f"{hardware.name}: {unbuilt}")
    folder = resolve_base(plan.base, plan.cache_root)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    preset = choose_preset(
        plan.train, hardware,
        base_params=fit.config_parameters(config), family=str(config.get("model_type", "")),
    )  # fmt: skip
    if max_steps:
        preset = Preset(**{**preset.as_dict(), "max_steps": max_steps})
    collectives.start(preset.device)
    device = torch.device(
        preset.device, collectives.LOCAL_RANK if preset.device == "cuda" else None
    )
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 matmuls in TF32 on Ampere+
        torch.backends.cudnn.allow_tf32 = True
    problem = None
    if hardware.device == "cpu":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            available = torch.cuda.is_available()
        error = "; ".join(str(w.message) for w in caught)[:300]
        problem = cuda_problem(
            nvidia_gpus(), {"available": available, "cuda": torch.version.cuda, "error": error}
        )
        if problem:
            log.warning("%s", problem)

    def autocast():
        if preset.dtype in ("bfloat16", "float16"):
            return torch.autocast(device_type=device.type, dtype=DTYPES[preset.dtype])
        return contextlib.nullcontext()

    return Setup(preset, hardware.name, device, autocast, folder, problem)


def plan_budget(plan: RunPlan, setup: Setup, data: Data, total_params: int) -> Budget:
    """Steps sized to the time budget and the corpus (ml/budget.py), and how each step is cut
    into micro-batches; a short run when continuing on new writing."""
    preset = setup.preset
    sequences_per_step = max(1, preset.batch_tokens // preset.seq_len)
    accumulation = max(1, math.ceil(sequences_per_step / (preset.micro_batch * WORLD)))
    tokens_per_step = sequences_per_step * preset.seq_len
    # Forward plus backward through frozen weights is about 4 FLOPs per parameter per token.
    flops = measured_flops(setup.device.type, DTYPES[setup.preset.dtype])
    seconds_per_step = 4 * total_params * tokens_per_step / (STEP_EFFICIENCY * flops * WORLD)
    step_plan = plan_steps(
        data.tokens,
        tokens_per_step,
        seconds_per_step,
        time_budget_s=preset.time_budget_s,
        max_epochs=preset.max_epochs,
        fixed_steps=preset.max_steps,
    )
    steps = step_plan.steps
    if plan.init_adapter is not None:
        # Continuing on a little new writing: a few passes over it, not the preset's full run.
        steps = min(steps, max(1, math.ceil(3 * data.tokens / tokens_per_step)))
    return Budget(
        steps, preset.micro_batch, accumulation, tokens_per_step, seconds_per_step * steps,
        step_plan.limited_by,
    )  # fmt: skip


def lr_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over 5% of the steps, then cosine down to 10% of the peak at the last one."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def emit_started(args, plan: RunPlan, setup: Setup, data: Data, budget: Budget, model, state, base):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if setup.gpu_problem:
        emit("warning", message=setup.gpu_problem)
    emit(
        "started",
        dry_run=args.dry_run,
        device=setup.device.type,
        hardware=setup.hardware_name,
        dtype=setup.preset.dtype,
        preset=setup.preset.name,
        qlora=setup.preset.qlora,
        checkpointing=setup.preset.checkpointing,
        gpu_problem=setup.gpu_problem,
        world_size=WORLD,
        steps=budget.steps,
        start_step=state.get("step", 0),
        seq_len=setup.preset.seq_len,
        micro_batch=budget.micro_batch,
        accumulation=budget.accumulation,
        tokens_per_step=budget.tokens_per_step,
        examples=data.examples,
        train_tokens=data.tokens,
        sequences=len(data.train.input_ids),
        padding_share=1 - data.train.real_tokens / data.train.input_ids.numel(),
        cut_off_examples=data.cut_off,
        val_examples=data.val_examples,
        trainable_params=trainable,
        total_params=fit.parameter_count(model),
        base=str(base),
        estimated_seconds=round(budget.estimated_seconds, 1),
        # How much of the corpus the run sees, and how it relates to the run before it.
        epochs=round(budget.steps * budget.tokens_per_step / max(1, data.tokens), 2),
        steps_limited_by=budget.limited_by,
        continues=plan.init_adapter.parent.name if plan.init_adapter else None,
        new_examples=data.new,
        replayed_examples=data.replayed,
    )


def make_optimizer(model, setup: Setup, state: dict) -> torch.optim.Optimizer:
    """AdamW over the LoRA weights; a resumed run also gets its moments and random states back."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=setup.preset.learning_rate, weight_decay=0.0)
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
    return optimizer
