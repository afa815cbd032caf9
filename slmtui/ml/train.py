"""The training job: `python -m slmtui.ml.train RUN_DIR [--resume] [--dry-run] [--max-steps N]`.

Read it top to bottom: load the plan the parent wrote to RUN_DIR/run.json, pick a preset, load
the base model with a LoRA, tokenize and pack the style dataset, measure the base model on the
author's held-out writing, train, save checkpoints, measure again, save the adapter. What it
trains on is `ml/data.py`'s, how (preset, device, steps) `ml/setup.py`'s, and checkpoints are
`ml/checkpoint_state.py`'s.

It talks to its parent in job events (slmtui.jobs.events: started, step, eval, checkpoint,
finished, failed) and logs to RUN_DIR/train.log; RunFolder (slmtui.runs) names every path.
SIGTERM means: finish the current step, save a checkpoint, exit 0; `--resume` continues from
the latest checkpoint and ends where an uninterrupted run would. Under `accelerate launch` or
`torchrun` (WORLD_SIZE > 1) the same script runs data-parallel; only rank 0 talks and writes.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from slmtui.files import atomic_folder, is_disk_full, write_json_atomic
from slmtui.jobs.events import emit
from slmtui.locks import Busy, WorkLock
from slmtui.ml import collectives, fit, linear_loss
from slmtui.ml.checkpoint_state import restore, save_checkpoint
from slmtui.ml.data import (
    IGNORE,
    Data,
    Encoding,
    Packed,
    base_loss_key,
    cached_base_loss,
    encode_data,
    pack_data,
)
from slmtui.ml.errors import TrainingError
from slmtui.ml.fused_lora import autocast_frozen
from slmtui.ml.lora_model import load_model
from slmtui.ml.preference import (
    PAIRS_PER_STEP,
    PreferenceStep,
    pair_loss,
    reference_logps,
    step_pairs,
)
from slmtui.ml.presets import PresetError
from slmtui.ml.setup import (
    REPLAN_AFTER,
    REPLAN_EVERY,
    Budget,
    Setup,
    choose_setup,
    emit_started,
    lr_at,
    make_optimizer,
    plan_budget,
    replan,
    run_seconds,
)
from slmtui.runs import RunFolder, RunPlan

log = logging.getLogger("slmtui.train")


# -- talking to the parent ---------------------------------------------------------------------

RANK, WORLD = collectives.RANK, collectives.WORLD


class StopFlag:
    """Set by SIGTERM; checked between steps so that a stop always leaves a checkpoint."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, *_: object) -> None:
        self.requested = True
        log.info("SIGTERM received: stopping after this step")


# -- model ------------------------------------------------------------------------------------


def language_model_parts(model):
    """(decoder that returns hidden states, lm_head) under the PEFT wrapper."""
    causal_lm = model.get_base_model()
    return causal_lm.model, causal_lm.lm_head


def batch_loss(model, ids, labels, positions, autocast) -> tuple[torch.Tensor, int]:
    """Sum of token losses and their count, computing logits only where there is a label.

    Chat prompts and padding carry no label: skipping them in the vocabulary projection (49,152
    columns for SmolLM2) saves time and keeps the float32 logits small.
    """
    decoder, lm_head = language_model_parts(model)
    with autocast():
        # No cache: with one, transformers would not build the per-example (packed) mask.
        hidden = decoder(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    selected = hidden[:, :-1][keep]
    with autocast():
        if linear_loss.supports(lm_head):
            # Projection and loss in slices, the logits never kept (see slmtui.ml.linear_loss);
            # under autocast the frozen projection is cast once, not at every slice.
            weight = autocast_frozen(lm_head, "weight")
            loss = linear_loss.linear_cross_entropy(selected, weight, targets[keep])
        else:
            loss = F.cross_entropy(lm_head(selected).float(), targets[keep], reduction="sum")
    return loss, int(keep.sum())


@torch.no_grad()
def validation_loss(model, data: Packed, micro_batch: int, device, autocast) -> float:
    """Mean token loss over the held-out rows (all ranks together)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(data.input_ids), micro_batch):
        part = slice(start, start + micro_batch)
        loss, n = batch_loss(
            model,
            data.input_ids[part].to(device),
            data.labels[part].to(device),
            data.position_ids[part].to(device),
            autocast,
        )
        total += float(loss)
        count += n
    model.train()
    both = collectives.sum_values([total, count], device)
    return float(both[0]) / max(int(both[1]), 1)


# -- the run ------------------------------------------------------------------------------------


def memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_validation(
    run: RunFolder, key: str, model, data: Data, setup: Setup, budget: Budget, state: dict
):
    """The base model's validation loss: from the checkpoint when resuming, else from the
    workspace's cache, else measured once (and cached for the runs after this one)."""
    base_loss = state.get("base_val_loss")
    if data.val is None or base_loss is not None:
        return base_loss
    base_loss = cached_base_loss(run, key)
    cached = base_loss is not None
    if not cached:
        started = time.perf_counter()
        with model.disable_adapter():
            base_loss = validation_loss(
                model, data.val, budget.micro_batch, setup.device, setup.autocast
            )
        budget.validation_pass_s = time.perf_counter() - started
        budget.validation_measured = True
        budget.validations_left = max(0, budget.validations_left - 1)
        if RANK == 0:
            write_json_atomic(run.validation_cache / f"{key}.json", {"val_loss": base_loss})
    emit(
        "eval", step=0, which="base", val_loss=base_loss, val_ppl=math.exp(base_loss),
        cached=cached,
    )  # fmt: skip
    return base_loss


def device_memory(device: torch.device) -> fit.DeviceMemory | None:
    """The card's memory for the probe (None on a CPU); tests put a stand-in here."""
    return fit.device_memory(device)


def fit_micro_batch(model, setup: Setup, data: Data, budget: Budget) -> None:
    """On a card: measure what a sequence costs and take the micro-batch that fits the free
    memory; accumulation makes up the step (ml/fit.py)."""
    memory = device_memory(setup.device)
    if memory is None:
        return
    train, device = data.train, setup.device

    def step_rows(rows: int) -> None:
        loss, count = batch_loss(
            model, train.input_ids[:rows].to(device), train.labels[:rows].to(device),
            train.position_ids[:rows].to(device), setup.autocast,
        )  # fmt: skip
        (loss / max(count, 1)).backward()
        model.zero_grad(set_to_none=True)

    sequences = max(1, setup.preset.batch_tokens // setup.preset.seq_len)
    most = max(1, min(math.ceil(sequences / WORLD), len(train.input_ids)))
    try:
        probe = fit.probe_micro_batch(step_rows, memory, most)
    except fit.ProbeError as exc:
        raise TrainingError(str(exc)) from exc
    budget.micro_batch = probe.micro_batch
    budget.accumulation = max(1, math.ceil(sequences / (probe.micro_batch * WORLD)))
    emit(
        "fitted", micro_batch=budget.micro_batch, accumulation=budget.accumulation,
        per_sequence_mb=round(probe.per_row_bytes / 2**20, 1),
        free_mb=round(probe.free_bytes / 2**20), fixed_mb=round(probe.fixed_bytes / 2**20, 1),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Prepare, plan, restore, train, finish: each a function above or below."""
    run_folder = RunFolder(Path(args.run_dir))
    plan = run_folder.read_plan()
    stop = StopFlag()
    torch.manual_seed(plan.train.seed)
    random.seed(plan.train.seed)
    setup = choose_setup(plan, args.max_steps)
    model, tokenizer, base_folder = load_model(plan, setup.preset, setup.device, setup.base_folder)
    seq_len = setup.preset.seq_len
    encoding = encode_data(plan, tokenizer, seq_len)
    state = restore(run_folder, model, args.resume)
    key = base_loss_key(setup.base_folder, setup.preset.dtype, encoding)
    data, budget = plan_run(run_folder, key, plan, setup, encoding, model, tokenizer, state)
    emit_started(args, plan, setup, data, budget, model, state, base_folder)
    if args.dry_run:
        return 0
    model.to(setup.device)
    fit_micro_batch(model, setup, data, budget)
    optimizer = make_optimizer(model, setup, state)
    base_loss = base_validation(run_folder, key, model, data, setup, budget, state)
    loop = TrainLoop(run_folder, plan, setup, data, budget, model, optimizer, stop)
    if data.pairs and plan.train.preference_weight > 0:
        loop.references = reference_logps(model, data.pairs, setup.device, setup.autocast)
    seconds = loop.train(state.get("step", 0), base_loss)
    if seconds is not None:
        finish(run_folder, loop, base_loss, base_folder, seconds)
    return 0


def plan_run(
    run: RunFolder,
    key: str,
    plan: RunPlan,
    setup: Setup,
    encoding: Encoding,
    model,
    tokenizer,
    state: dict,
) -> tuple[Data, Budget]:
    """The budget, and the rows it trains on: all the text, or where the budget covers only
    part of it, the first examples in training order (ml/priority.py), twice what the plan
    expects to reach so that a faster machine than estimated still finds fresh text.

    A resumed time-planned run keeps the step count it was planned (or replanned) with."""
    pad, seq_len = tokenizer.pad_token_id, setup.preset.seq_len
    params = fit.parameter_count(model)
    validations = 1 if encoding.val else 0
    if encoding.val and state.get("base_val_loss") is None:
        validations += cached_base_loss(run, key) is None
    budget = plan_budget(
        plan, setup, encoding.tokens, params, validations=validations,
        val_tokens=encoding.val_tokens, spent_s=run_seconds(plan),
    )  # fmt: skip
    if state.get("steps") and budget.limited_by == "time":
        # The time-planned (and replanned) count it was checkpointed with; a count set outright
        # (--max-steps, [train] max_steps) is taken as it is.
        budget.steps, budget.limited_by = int(state["steps"]), "setting"
    reach = budget.steps * budget.tokens_per_step
    by_time = budget.limited_by == "time"  # a step count set outright draws from all the text
    token_budget = 2 * reach if by_time and reach < encoding.tokens else 0
    return pack_data(encoding, pad, seq_len, token_budget), budget


@dataclass
class TrainLoop:
    """The training loop and the few things it needs, so that `train` reads like nanoGPT's."""

    run: RunFolder
    plan: RunPlan
    setup: Setup
    data: Data
    budget: Budget
    model: object
    optimizer: torch.optim.Optimizer
    stop: StopFlag
    last_saved: float = 0.0  # time.monotonic() of the last checkpoint (or of the start)
    # float16 on cards without bfloat16: the loss is scaled so that small gradients survive
    scaler: torch.amp.GradScaler | None = None
    # The base's log-probabilities of each preference pair (chosen, rejected); none: no pairs
    references: list[tuple[float, float]] = field(default_factory=list)
    preference: PreferenceStep | None = None  # what the last step's pairs showed

    def __post_init__(self) -> None:
        if self.setup.preset.dtype == "float16" and self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.setup.device.type)

    def train(self, step: int, base_loss: float | None) -> float | None:
        """Steps until the budget is spent: the seconds taken, or None when stopped early."""
        model, budget = self.model, self.budget
        trainable = [p for p in model.parameters() if p.requires_grad]
        peak = self.setup.preset.learning_rate
        started, tokens_done, first_step = time.perf_counter(), 0, step
        warmed = started
        self.last_saved = time.monotonic()
        model.train()
        while step < budget.steps:
            try:
                loss, step_tokens = self.gradients(step)
            except Exception as exc:
                if not self.can_retry(exc, step - first_step):
                    raise
                self.shrink(step, exc)
                continue  # the same step again, in smaller micro-batches
            if WORLD > 1:
                collectives.sum_gradients(trainable)
            lr = lr_at(step, budget.steps, peak)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_done += step_tokens * WORLD
            elapsed = time.perf_counter() - started
            if step == first_step + 1:
                warmed = time.perf_counter()  # the first step warms caches up: not measured
            elif (step - first_step - 1) % REPLAN_EVERY == REPLAN_AFTER % REPLAN_EVERY:
                # Measured after a few steps, then again every few: a machine that slows down
                # (a laptop warming up, another program) still ends on time.
                measured = (time.perf_counter() - warmed) / (step - first_step - 1)
                self.replan(step, measured)
            self.report_step(step, loss, lr, tokens_done, elapsed)
            if self.checkpoint_or_stop(step, base_loss):
                return None
        return time.perf_counter() - started

    def replan(self, step: int, measured_step_s: float) -> None:
        """Steps measured: fit the step count to what is left of the time budget (setup.replan)."""
        steps = replan(self.budget, step, measured_step_s, run_seconds(self.plan))
        if steps is not None:
            log.info("replanned to %d steps at %.2f s a step", steps, measured_step_s)
            emit(
                "replanned", step=step, steps=steps, seconds_per_step=round(measured_step_s, 3),
                estimated_seconds=round(self.budget.estimated_seconds, 1),
            )  # fmt: skip

    def gradients(self, step: int) -> tuple[float, int]:
        """One step's forward and backward passes, micro-batch by micro-batch: the mean token
        loss and the tokens seen. Every label token of the step weighs the same, whichever
        micro-batch or rank it is in."""
        model, train, budget, device = self.model, self.data.train, self.budget, self.setup.device
        seed, n = self.plan.train.seed * 1000, len(train.input_ids)
        micro_rows = [
            collectives.rows_for(step * budget.accumulation + micro, budget.micro_batch, n, seed)
            for micro in range(budget.accumulation)
        ]
        labels = float(sum(int(train.label_counts[r].sum()) for r in micro_rows))
        step_labels = collectives.sum_values([labels], device)[0].clamp(min=1)
        loss_sum, label_count, step_tokens = 0.0, 0, 0
        for rows in micro_rows:
            ids = train.input_ids[rows].to(device)
            loss, count = batch_loss(
                model, ids, train.labels[rows].to(device),
                train.position_ids[rows].to(device), self.setup.autocast,
            )  # fmt: skip
            scaled = loss / step_labels
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_sum, label_count = loss_sum + float(loss.detach()), label_count + count
            step_tokens += int(ids.numel())
        self.preference_gradients(step)
        return loss_sum / max(label_count, 1), step_tokens

    def preference_gradients(self, step: int) -> None:
        """The step's preference pairs (ml/preference.py): their DPO loss, weighted by
        `[train] preference_weight`, joins the ordinary loss's gradients."""
        if not self.references:
            return
        pairs, device = self.data.pairs, self.setup.device
        indices = step_pairs(step, len(pairs), RANK, WORLD)
        # The step's pairs (over every rank) weigh preference_weight together.
        share = self.plan.train.preference_weight / min(len(pairs), PAIRS_PER_STEP)
        losses, differences = [], []
        for index in indices:
            loss, difference = pair_loss(
                self.model, pairs[index], self.references[index], device, self.setup.autocast
            )
            scaled = loss * share
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            losses.append(float(loss.detach()))
            differences.append(difference)
        if losses:
            self.preference = PreferenceStep(
                sum(losses) / len(losses), sum(differences) / len(differences)
            )

    def can_retry(self, exc: BaseException, steps_done: int) -> bool:
        """An out-of-memory error in the first steps of a single-process run, with rows to
        spare, is retried smaller; anything else fails the run."""
        return (
            fit.is_out_of_memory(exc)
            and steps_done < fit.RETRY_STEPS
            and self.budget.micro_batch > 1
            and WORLD == 1
        )

    def shrink(self, step: int, exc: BaseException) -> None:
        """Half the rows per pass, twice the passes: the step the optimizer sees stays."""
        self.optimizer.zero_grad(set_to_none=True)
        memory = device_memory(self.setup.device)
        if memory is not None:
            memory.empty_cache()
        budget = self.budget
        budget.micro_batch //= 2
        budget.accumulation *= 2
        log.warning("out of memory at step %d; retrying with micro-batch %d", step + 1,
                    budget.micro_batch)  # fmt: skip
        emit(
            "retry", step=step + 1, micro_batch=budget.micro_batch,
            accumulation=budget.accumulation, reason=str(exc).splitlines()[0][:200],
        )  # fmt: skip

    def report_step(self, step: int, loss: float, lr: float, tokens: int, elapsed: float) -> None:
        rate, steps = tokens / elapsed, self.budget.steps
        preference = {}
        if self.preference is not None:
            preference = {
                "preference_loss": self.preference.loss,
                "chosen_minus_rejected": self.preference.chosen_minus_rejected,
            }
        emit(
            "step", step=step, steps=steps, loss=loss, lr=lr, tokens_per_s=rate,
            elapsed_s=elapsed, eta_s=(steps - step) * self.budget.tokens_per_step / rate,
            memory_mb=round(memory_mb(self.setup.device), 1), **preference,
        )  # fmt: skip
        every = self.plan.train.eval_every
        if self.data.val is not None and every and step % every == 0 and step < steps:
            loss_val = self.validation()
            emit("eval", step=step, which="adapter", val_loss=loss_val, val_ppl=math.exp(loss_val))

    def validation(self) -> float:
        assert self.data.val is not None
        return validation_loss(
            self.model, self.data.val, self.budget.micro_batch, self.setup.device,
            self.setup.autocast,
        )  # fmt: skip

    def checkpoint_or_stop(self, step: int, base_loss: float | None) -> bool:
        """Save a checkpoint when due or asked to stop; True when the run should end here."""
        steps, stopping = self.budget.steps, self.stop.requested
        if WORLD > 1:
            stopping = collectives.any_rank(stopping, self.setup.device)
        every, seconds = self.plan.train.checkpoint_every, self.plan.train.checkpoint_seconds
        due = step % every == 0 or (seconds > 0 and time.monotonic() - self.last_saved >= seconds)
        if RANK == 0 and (stopping or due) and step < steps:
            extra = {"base_val_loss": base_loss, "steps": steps}
            path = save_checkpoint(self.run, self.model, self.optimizer, step, extra)
            self.last_saved = time.monotonic()
            emit("checkpoint", step=step, path=str(path))
        if stopping and step < steps:
            emit("finished", step=step, steps=steps, stopped=True, resumable=True)
            return True
        return False


def finish(run: RunFolder, loop: TrainLoop, base_loss, base_folder: Path, seconds: float) -> None:
    """Measure once more, save the adapter (and its GGUF) and the metrics, and say so."""
    steps = loop.budget.steps
    result = {"step": steps, "steps": steps, "stopped": False, "seconds": seconds}
    if loop.data.val is not None:
        loss_val = loop.validation()
        emit("eval", step=steps, which="adapter", val_loss=loss_val, val_ppl=math.exp(loss_val))
        result.update(
            val_loss_base=base_loss,
            val_ppl_base=math.exp(base_loss),
            val_loss=loss_val,
            val_ppl=math.exp(loss_val),
        )
    if RANK == 0:
        with atomic_folder(run.adapter) as adapter_tmp:
            loop.model.save_pretrained(str(adapter_tmp))
        result["adapter"] = str(run.adapter)
        result.update(write_adapter_gguf(run, base_folder))
        write_json_atomic(run.metrics_file, {**result, "preset": loop.setup.preset.as_dict()})
    emit("finished", **result)


def write_adapter_gguf(run: RunFolder, base_folder: Path) -> dict:
    """The adapter as a llama.cpp LoRA GGUF, so chat can use it before any export.

    A failure here does not fail the run: the adapter is saved, and export (which merges) still
    works; the reason travels with the `finished` event.
    """
    from slmtui.export.errors import ConvertError
    from slmtui.export.lora_gguf import adapter_to_gguf

    try:
        path = adapter_to_gguf(run.adapter, base_folder, run.adapter_gguf)
    except (ConvertError, OSError) as exc:
        log.warning("no adapter GGUF: %s", exc)
        return {"adapter_gguf_error": str(exc)}
    return {"adapter_gguf": str(path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.ml.train")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--max-steps", type=int, default=0)
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=RunFolder(run_dir).log("training")
        if RANK == 0
        else run_dir / f"train.rank{RANK}.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    try:
        if args.dry_run or RANK != 0:
            return run(args)
        with WorkLock(run_dir.parent.parent, "training", detail=run_dir.name):
            return run(args)
    except Busy as exc:
        log.error("%s", exc)
        emit("failed", reason=str(exc), exit_code=2)
        return 2
    except (TrainingError, PresetError) as exc:
        log.error("%s", exc)
        emit("failed", reason=str(exc))
        return 1
    except Exception as exc:
        if fit.is_out_of_memory(exc):
            log.exception("out of memory")
            emit(
                "failed",
                reason="Out of memory after the micro-batch was halved down to what the first "
                "steps allowed. Lower [train] seq_len in slmtui.toml, or set "
                '[train] qlora = "on" and gradient_checkpointing = "on".',
                detail=str(exc)[:500],
            )
            return 1
        if is_disk_full(exc):
            log.exception("disk full")
            emit(
                "failed",
                reason=f"The disk is full ({exc}): what was being written was not, and the "
                "newest checkpoint stays. Free some space, then `slmtui train --resume` (R in "
                "the Train screen) goes on from it.",
                detail=str(exc)[:500],
                exit_code=2,
            )
            return 2
        log.exception("training failed")
        emit("failed", reason=f"Training crashed: {exc.__class__.__name__}: {exc}"[:500])
        return 1
    finally:
        if WORLD > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
