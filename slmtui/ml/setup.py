"""How a run trains, decided before its first step: the preset and device, the step budget and
its micro-batches, the learning-rate schedule, and the `started` event that says all of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from slmtui.gpu import cuda_problem, nvidia_gpus
from slmtui.jobs.events import emit
from slmtui.ml import collectives, fit
from slmtui.ml.budget import MIN_STEPS, plan_steps
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
    estimated_seconds: float  # the whole run: the steps and its validation
    limited_by: str = "setting"  # what set the step count: "time", "epochs", "setting"
    seconds_per_step: float = 0.0  # the estimate; the run measures it (`replan`)
    validation_pass_s: float = 0.0  # one pass over the validation sample (estimated or measured)
    validation_measured: bool = False
    validations_left: int = 0  # passes still to come: the base's (unless cached), the adapter's
    most_steps: int = 0  # the passes cap (max_epochs), which a replan never goes past
    time_budget_s: float = 0.0  # what a time-limited run aims its whole wall time at


# Share of the measured 1024x1024 matmul rate a whole training step reaches, counting 4 FLOPs per
# parameter per token, by precision. bfloat16: 0.34 measured over a 106-step cpu-quick run on the
# samples (2-core AVX512-BF16); float32: a 25-step run on real writing planned at 0.35 took
# 162 s of its 297 (0.64). Only the first estimate: a time-limited run measures its steps.
STEP_EFFICIENCY = {"bfloat16": 0.35, "float16": 0.35, "float32": 0.6}
# A validation token is a forward pass: about a third of a training token's work.
VALIDATION_COST = 0.35
REPLAN_AFTER = 3  # steps measured (after the first, which warms up) before the first replan
REPLAN_EVERY = 10  # and steps between the later ones


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


def plan_budget(
    plan: RunPlan,
    setup: Setup,
    train_tokens: int,
    total_params: int,
    *,
    validations: int = 0,
    val_tokens: int = 0,
    spent_s: float = 0.0,
) -> Budget:
    """Steps sized to the time budget and the corpus (ml/budget.py), and how each step is cut
    into micro-batches; a short run when continuing on new writing.

    The time budget is the run's whole wall time: `spent_s` already gone (loading, tokenizing)
    and `validations` passes over `val_tokens` held-out tokens come out of it first."""
    preset = setup.preset
    sequences_per_step = max(1, preset.batch_tokens // preset.seq_len)
    accumulation = max(1, math.ceil(sequences_per_step / (preset.micro_batch * WORLD)))
    tokens_per_step = sequences_per_step * preset.seq_len
    # Forward plus backward through frozen weights is about 4 FLOPs per parameter per token.
    flops = measured_flops(setup.device.type, DTYPES[setup.preset.dtype])
    efficiency = STEP_EFFICIENCY.get(preset.dtype, 0.35)
    seconds_per_step = 4 * total_params * tokens_per_step / (efficiency * flops * WORLD)
    pass_s = VALIDATION_COST * val_tokens / tokens_per_step * seconds_per_step
    validation_s = validations * pass_s
    time_left = preset.time_budget_s - validation_s - spent_s
    if preset.time_budget_s > 0:
        time_left = max(time_left, seconds_per_step)  # plan_steps reads 0 as "no budget"
    step_plan = plan_steps(
        train_tokens,
        tokens_per_step,
        seconds_per_step,
        time_budget_s=time_left,
        max_epochs=preset.max_epochs,
        fixed_steps=preset.max_steps,
    )
    steps = step_plan.steps
    if plan.init_adapter is not None:
        # Continuing on a little new writing: a few passes over it, not the preset's full run.
        steps = min(steps, max(1, math.ceil(3 * train_tokens / tokens_per_step)))
    most = math.ceil(preset.max_epochs * max(1, train_tokens) / tokens_per_step)
    return Budget(
        steps, preset.micro_batch, accumulation, tokens_per_step,
        spent_s + seconds_per_step * steps + validation_s, step_plan.limited_by,
        seconds_per_step, pass_s, False, validations, most, preset.time_budget_s,
    )  # fmt: skip


def replan(budget: Budget, step: int, measured_step_s: float, elapsed_s: float) -> int | None:
    """A time-limited run's step count once its steps are measured: as many as fit in what is
    left of the time budget after the validation still to come (never past the passes cap, never
    fewer than done). None when nothing changes."""
    if budget.limited_by != "time" or measured_step_s <= 0 or not budget.time_budget_s:
        return None
    pass_s = budget.validation_pass_s
    if not budget.validation_measured:
        pass_s *= measured_step_s / max(budget.seconds_per_step, 1e-9)
    validation_s = budget.validations_left * pass_s
    left = budget.time_budget_s - elapsed_s - validation_s
    steps = step + max(0, math.floor(left / measured_step_s))
    steps = max(step + 1, min(steps, budget.most_steps or steps), MIN_STEPS)
    if steps == budget.steps:
        return None
    budget.steps = steps
    budget.seconds_per_step = measured_step_s
    budget.estimated_seconds = elapsed_s + (steps - step) * measured_step_s + validation_s
    return steps


def run_seconds(plan: RunPlan) -> float:
    """Wall seconds since the run began: since its folder was made (the dataset snapshot is part
    of the run a person waits for), or, for a plan made longer ago than the run lasts (resumed,
    or started by hand), since this process started."""
    since_plan = time.time() - plan.created
    if 0 <= since_plan <= max(60.0, plan.train.minutes * 60 or 300.0):
        return since_plan
    return seconds_since_start()


def seconds_since_start() -> float:
    """Wall seconds since this process started (imports included), from /proc on Linux."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.process_time()


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
    reach = budget.steps * budget.tokens_per_step
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
        examples_in_rows=data.examples_in_rows,
        train_tokens=data.corpus_tokens,
        rows_tokens=data.tokens,  # the part of the text packed for this run
        sequences=len(data.train.input_ids),
        padding_share=1 - data.train.real_tokens / data.train.input_ids.numel(),
        # Your replies (and every other answer) the training text asks to learn; those longer
        # than a sequence are learned in part; lost ones had no room at all.
        replies=data.replies,
        replies_shortened=data.shortened,
        replies_lost=data.lost,
        val_examples=data.val_examples,
        held_out_examples=data.held_out,
        val_tokens=int(data.val.real_tokens) if data.val is not None else 0,
        validation_seconds=round(budget.validations_left * budget.validation_pass_s, 1),
        trainable_params=trainable,
        total_params=fit.parameter_count(model),
        base=str(base),
        estimated_seconds=round(budget.estimated_seconds, 1),
        time_budget_s=setup.preset.time_budget_s,
        # How much of the corpus the run sees, and how it relates to the run before it.
        epochs=round(reach / max(1, data.corpus_tokens), 2),
        share=round(min(1.0, reach / max(1, data.corpus_tokens)), 3),
        steps_limited_by=budget.limited_by,
        continues=plan.init_adapter.parent.name if plan.init_adapter else None,
        new_examples=data.new,
        replayed_examples=data.replayed,
        # What your chat feedback adds (dataset/feedback.py): corrections, preference pairs.
        corrections=data.corrections,
        pairs=len(data.pairs) if plan.train.preference_weight > 0 else 0,
        pairs_dropped=data.pairs_dropped,
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
