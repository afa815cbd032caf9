"""The training job: `python -m slmtui.ml.train RUN_DIR [--resume] [--dry-run] [--max-steps N]`.

Read it top to bottom: load the plan the parent wrote to RUN_DIR/run.json, pick a preset, load
the base model with a LoRA, tokenize and pack the style dataset, measure the base model on the
author's held-out writing, train, save checkpoints, measure again, save the adapter.

It talks to its parent in job events (slmtui.jobs.events: started, step, eval, checkpoint,
finished, failed) and logs to RUN_DIR/train.log; RunFolder (slmtui.runs) names every path.
SIGTERM means: finish the current step, save a checkpoint, exit 0; `--resume` continues from
the latest checkpoint and ends where an uninterrupted run would. Under `accelerate launch` or
`torchrun` (WORLD_SIZE > 1) the same script runs data-parallel; only rank 0 talks and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import random
import resource
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from slmtui.files import write_json_atomic, write_text_atomic
from slmtui.gpu import cuda_problem, nvidia_gpus
from slmtui.jobs.events import emit
from slmtui.ml import collectives, fit, linear_loss
from slmtui.ml.budget import plan_steps
from slmtui.ml.checkpoint_state import UnsafeCheckpoint, read_state, write_state
from slmtui.ml.fused_lora import autocast_frozen, use_fused_lora
from slmtui.ml.packed_attention import use_packed_attention
from slmtui.ml.presets import Preset, PresetError, choose_preset, detect_hardware, measured_flops
from slmtui.runs import RunFolder, RunPlan

log = logging.getLogger("slmtui.train")
IGNORE = -100
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MIN_TRAIN_TOKENS = 2000
# Gaps in a packed row shorter than this stay padding: a piece of text this short teaches little.
MIN_PIECE = 32


class TrainingError(RuntimeError):
    """A failure with a reason a person can act on; becomes the `failed` event."""


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


# -- data: tokenize, mask, pack ----------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def encode_example(example: dict, tokenizer, seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; chat examples are trained on the assistant's replies only.

    Every assistant message is learned unless it says `"train": false` (a dialogue example's
    earlier turn of yours kept as context); each is learned up to and including its turn-end
    token, everything else in the chat is context."""
    eos = tokenizer.eos_token_id
    if "messages" not in example:
        ids = tokenizer(example["text"], add_special_tokens=False)["input_ids"] + [eos]
        ids = ids[:seq_len]
        return ids, list(ids)
    messages = [{"role": m["role"], "content": m["content"]} for m in example["messages"]]
    learned = [
        index
        for index, message in enumerate(example["messages"])
        if message["role"] == "assistant" and message.get("train", True)
    ]
    ids: list[int] = []
    labels: list[int] = []
    covered = ""
    for index in learned:
        prompt = tokenizer.apply_chat_template(
            messages[:index], add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not full.startswith(prompt) or not prompt.startswith(covered):
            raise TrainingError("The chat template renders the prompt differently inside the chat.")
        answer = full[len(prompt) :]
        # Learn the reply up to and including the turn-end token, not the template's newline.
        end = answer.rfind(tokenizer.eos_token) if tokenizer.eos_token else -1
        if end >= 0:
            answer = answer[: end + len(tokenizer.eos_token)]
        context_ids = tokenizer(prompt[len(covered) :], add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids += context_ids + answer_ids
        labels += [IGNORE] * len(context_ids) + answer_ids
        covered = prompt + answer
    return ids[:seq_len], labels[:seq_len]


@dataclass
class Packed:
    """Sequences of exactly seq_len tokens; positions restart at every example boundary."""

    input_ids: torch.Tensor  # (n, seq_len)
    labels: torch.Tensor
    position_ids: torch.Tensor
    real_tokens: int
    label_counts: torch.Tensor  # label tokens per sequence (after the shift)


def pack(
    examples: list[tuple[list[int], list[int]]],
    seq_len: int,
    pad_id: int,
    *,
    split_raw: bool = True,
) -> Packed:
    """Examples packed into rows of seq_len tokens: almost no padding, no attention across them.

    Chat examples (those with unlabelled prompt tokens) are placed whole, first-fit-decreasing.
    Raw continuation text is placed whole where it fits and otherwise, with `split_raw`, cut
    into pieces that fill the gaps left in the rows: plain text can be learned from any point,
    and a 512-token row would otherwise carry about a fifth padding on the samples.
    transformers builds a block-diagonal causal mask from position ids that restart at zero when
    no attention mask is given, so packed examples (and pieces) cannot see each other.
    """
    bins: list[list[tuple[list[int], list[int]]]] = []
    room: list[int] = []

    def place(item: tuple[list[int], list[int]]) -> bool:
        for index, free in enumerate(room):
            if len(item[0]) <= free:
                bins[index].append(item)
                room[index] -= len(item[0])
                return True
        return False

    def open_bin(item: tuple[list[int], list[int]]) -> None:
        bins.append([item])
        room.append(seq_len - len(item[0]))

    ordered = sorted(examples, key=lambda item: -len(item[0]))
    whole = [item for item in ordered if not split_raw or IGNORE in item[1]]
    raw = [item for item in ordered if split_raw and IGNORE not in item[1]]
    for item in whole:
        if not place(item):
            open_bin(item)
    for ids, labels in raw:
        if place((ids, labels)):
            continue
        while ids:
            gap = max(range(len(room)), key=room.__getitem__, default=None)
            if gap is None or room[gap] < MIN_PIECE:
                open_bin((ids[:seq_len], labels[:seq_len]))
                ids, labels = ids[seq_len:], labels[seq_len:]
                continue
            free = room[gap]
            bins[gap].append((ids[:free], labels[:free]))
            room[gap] -= len(ids[:free])
            ids, labels = ids[free:], labels[free:]
    rows_ids, rows_labels, rows_pos = [], [], []
    for content, free in zip(bins, room, strict=True):
        ids = [token for item, _ in content for token in item] + [pad_id] * free
        # An example's first token has nothing before it in its own text: without this, the
        # previous example's last position would learn to predict it across the boundary.
        labels = [label for _, item in content for label in [IGNORE, *item[1:]]]
        labels += [IGNORE] * free
        positions = [p for item, _ in content for p in range(len(item))] + list(range(free))
        rows_ids.append(ids)
        rows_labels.append(labels)
        rows_pos.append(positions)
    labels_tensor = torch.tensor(rows_labels, dtype=torch.long)
    return Packed(
        input_ids=torch.tensor(rows_ids, dtype=torch.long),
        labels=labels_tensor,
        position_ids=torch.tensor(rows_pos, dtype=torch.long),
        real_tokens=sum(len(ids) for ids, _ in examples),
        label_counts=(labels_tensor[:, 1:] != IGNORE).sum(dim=1),
    )


def drop_unlearnable(
    examples: list[tuple[list[int], list[int]]],
) -> tuple[list[tuple[list[int], list[int]]], int]:
    """The examples that still have a token to learn (after the first), and how many did not.

    A chat example longer than seq_len loses its reply to truncation; kept, it would only add
    steps whose loss is zero and look like perfect training.
    """
    kept = [(ids, labels) for ids, labels in examples if any(x != IGNORE for x in labels[1:])]
    return kept, len(examples) - len(kept)


@dataclass
class Selection:
    """The examples a run trains on: new since the run it continues, plus replayed old ones."""

    train: list[dict]
    val: list[dict]
    new: int
    replayed: int


def select_examples(plan: RunPlan) -> Selection:
    """The run's examples (see load_examples for the replay rule)."""
    train = read_jsonl(plan.dataset_dir / "train.jsonl")
    val = read_jsonl(plan.dataset_dir / "val.jsonl")
    if plan.replay_dir is None:
        return Selection(train, val, len(train), 0)
    current = {example.get("chunk") for example in train}
    old = [e for e in read_jsonl(plan.replay_dir / "train.jsonl") if e.get("chunk") in current]
    old_chunks = {example.get("chunk") for example in old}
    new = [example for example in train if example.get("chunk") not in old_chunks]
    if not new:
        raise TrainingError(
            "Nothing new to learn since the last run: add writing to writing/, "
            "or train again from scratch (`slmtui train --from-scratch`)."
        )
    rng = random.Random(plan.train.seed)
    count = min(len(old), math.ceil(len(new) * plan.train.replay_fraction))
    return Selection(new + rng.sample(old, count), val, len(new), count)


def load_examples(plan: RunPlan, tokenizer, seq_len: int) -> tuple[list, list]:
    """Encoded train and validation examples.

    Continuing from an earlier adapter, the run learns the chunks that are new since that run's
    dataset, plus a replay sample of the old ones (replay_fraction of the new count), so the
    adapter picks up new writing without drifting away from the old. Only old examples whose
    chunk is still in this run's snapshot are replayed: writing that was deleted or excluded
    since never comes back through the replay.
    """
    selection = select_examples(plan)
    train, val = selection.train, selection.val
    encode = [encode_example(example, tokenizer, seq_len) for example in train]
    return encode, [encode_example(example, tokenizer, seq_len) for example in val]


# -- model ------------------------------------------------------------------------------------


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Non-reentrant checkpointing: the reentrant kind needs inputs that require grad and warns.
CHECKPOINTING = {"use_reentrant": False}


def load_model(plan: RunPlan, preset: Preset, device: torch.device, folder: Path):
    from peft import LoraConfig, PeftModel, get_peft_model

    from slmtui.ml.base import load_base

    compute = DTYPES[preset.dtype]
    quantization = None
    if preset.qlora:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute,  # float32 stays float32: no silent float16
            bnb_4bit_use_double_quant=True,
        )
    # On a card the frozen weights are held in the compute precision; on a CPU in float32
    # (bfloat16 there is autocast, see module docstring of fused_lora).
    weights_dtype = compute if device.type == "cuda" else torch.float32
    model, tokenizer = load_base(
        folder, dtype=weights_dtype, device=str(device), quantization=quantization
    )
    # Rows hold several examples: attend within each, skipping the masked-out work (see module).
    use_packed_attention(model)
    if preset.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=preset.checkpointing,
            gradient_checkpointing_kwargs=CHECKPOINTING,
        )
    elif preset.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=CHECKPOINTING)
        model.enable_input_require_grads()
    model.config.use_cache = False
    if plan.init_adapter is not None:
        model = PeftModel.from_pretrained(model, str(plan.init_adapter), is_trainable=True)
    else:
        lora = LoraConfig(
            r=plan.train.lora_r,
            lora_alpha=plan.train.lora_alpha,
            lora_dropout=plan.train.lora_dropout,
            target_modules=LORA_TARGETS,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    # LoRA added into the base output in place, without PEFT's elementwise passes (see module).
    use_fused_lora(model)
    return model, tokenizer, folder


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


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(run: RunFolder, model, optimizer, step: int, extra: dict) -> Path:
    """Write to a temporary folder, then rename; the previous checkpoint stays until then."""
    root = run.checkpoints
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp / "adapter"))
        write_state(tmp, optimizer, step, extra)
        final = root / name
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        write_text_atomic(run.latest_pointer, name)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = run.latest_checkpoint()
        kept = f"the previous checkpoint ({previous.name}) is intact" if previous else "none kept"
        raise TrainingError(
            f"Could not save a checkpoint ({exc.strerror or exc}); {kept}."
        ) from exc
    for old in sorted(root.glob("step-*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


# -- the run ------------------------------------------------------------------------------------


def lr_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over 5% of the steps, then cosine down to 10% of the peak at the last one."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
class Data:
    """The packed training and validation rows, and what went into them."""

    train: Packed
    val: Packed | None
    examples: int
    val_examples: int
    tokens: int
    cut_off: int
    new: int = 0  # examples new since the run this one continues (all of them from scratch)
    replayed: int = 0  # old examples mixed back in


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


def prepare_data(plan: RunPlan, tokenizer, seq_len: int) -> Data:
    """Tokenize, leave out what cannot be learned, refuse too little, and pack."""
    selection = select_examples(plan)
    train_examples = [encode_example(example, tokenizer, seq_len) for example in selection.train]
    val_examples = [encode_example(example, tokenizer, seq_len) for example in selection.val]
    if not train_examples:
        raise TrainingError(
            "No training data: put writing in writing/ and run `slmtui ingest`, then train."
        )
    train_examples, cut_off = drop_unlearnable(train_examples)
    if not train_examples:
        raise TrainingError(
            f"Every example's reply is cut off at {seq_len} tokens, so there is nothing "
            "to learn: raise train.seq_len in slmtui.toml."
        )
    if cut_off:
        log.warning("%d examples had their whole reply cut off at seq_len; left out", cut_off)
    tokens = sum(len(ids) for ids, _ in train_examples)
    if plan.init_adapter is None and tokens < MIN_TRAIN_TOKENS:
        raise TrainingError(
            f"Too little data: {tokens:,} tokens of training text; at least "
            f"{MIN_TRAIN_TOKENS:,} are needed (about {MIN_TRAIN_TOKENS * 3 // 4:,} words)."
        )
    pad = tokenizer.pad_token_id
    # Validation examples stay whole, so the perplexity measures the text as it was written.
    val = pack(val_examples, seq_len, pad, split_raw=False) if val_examples else None
    return Data(
        pack(train_examples, seq_len, pad), val, len(train_examples), len(val_examples),
        tokens, cut_off, selection.new, selection.replayed,
    )  # fmt: skip


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


def restore(run: RunFolder, model, resume: bool) -> dict:
    """The adapter weights and saved state of the latest checkpoint, when resuming ({} if not)."""
    checkpoint = run.latest_checkpoint() if resume else None
    if resume and checkpoint is None:
        log.info("--resume given but no checkpoint found; starting from step 0")
    if checkpoint is None:
        return {}
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    try:  # the state first: an unsafe one is refused before anything else is read
        state = read_state(checkpoint)
    except UnsafeCheckpoint as exc:
        raise TrainingError(str(exc)) from exc
    weights = load_file(str(checkpoint / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    return state


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


def base_validation(model, data: Data, setup: Setup, budget: Budget, state: dict):
    """The base model's validation loss (measured once per run, kept in checkpoints)."""
    base_loss = state.get("base_val_loss")
    if data.val is not None and base_loss is None:
        with model.disable_adapter():
            base_loss = validation_loss(
                model, data.val, budget.micro_batch, setup.device, setup.autocast
            )
        emit("eval", step=0, which="base", val_loss=base_loss, val_ppl=math.exp(base_loss))
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
    data = prepare_data(plan, tokenizer, setup.preset.seq_len)
    budget = plan_budget(plan, setup, data, fit.parameter_count(model))
    state = restore(run_folder, model, args.resume)
    emit_started(args, plan, setup, data, budget, model, state, base_folder)
    if args.dry_run:
        return 0
    model.to(setup.device)
    fit_micro_batch(model, setup, data, budget)
    optimizer = make_optimizer(model, setup, state)
    base_loss = base_validation(model, data, setup, budget, state)
    loop = TrainLoop(run_folder, plan, setup, data, budget, model, optimizer, stop)
    seconds = loop.train(state.get("step", 0), base_loss)
    if seconds is not None:
        finish(run_folder, loop, base_loss, base_folder, seconds)
    return 0


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

    def __post_init__(self) -> None:
        if self.setup.preset.dtype == "float16" and self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.setup.device.type)

    def train(self, step: int, base_loss: float | None) -> float | None:
        """Steps until the budget is spent: the seconds taken, or None when stopped early."""
        model, budget = self.model, self.budget
        trainable = [p for p in model.parameters() if p.requires_grad]
        peak = self.setup.preset.learning_rate
        started, tokens_done, first_step = time.perf_counter(), 0, step
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
            self.report_step(step, loss, lr, tokens_done, elapsed)
            if self.checkpoint_or_stop(step, base_loss):
                return None
        return time.perf_counter() - started

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
            loss_sum, label_count = loss_sum + float(loss), label_count + count
            step_tokens += int(ids.numel())
        return loss_sum / max(label_count, 1), step_tokens

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
        emit(
            "step", step=step, steps=steps, loss=loss, lr=lr, tokens_per_s=rate,
            elapsed_s=elapsed, eta_s=(steps - step) * self.budget.tokens_per_step / rate,
            memory_mb=round(memory_mb(self.setup.device), 1),
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
            extra = {"base_val_loss": base_loss}
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
        adapter_tmp = run.path / ".adapter.tmp"
        shutil.rmtree(adapter_tmp, ignore_errors=True)
        loop.model.save_pretrained(str(adapter_tmp))
        shutil.rmtree(run.adapter, ignore_errors=True)
        adapter_tmp.rename(run.adapter)
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
        return run(args)
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
        log.exception("training failed")
        emit("failed", reason=f"Training crashed: {exc.__class__.__name__}: {exc}"[:500])
        return 1
    finally:
        if WORLD > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
