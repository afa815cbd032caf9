"""The training job: `python -m slmtui.ml.train RUN_DIR [--resume] [--dry-run] [--max-steps N]`.

Read it top to bottom: load the plan the parent wrote to RUN_DIR/run.json, pick a preset, load
the base model with a LoRA, tokenize and pack the style dataset, measure the base model on the
author's held-out writing, train, save checkpoints, measure again, save the adapter.

It talks to its parent with one JSON object per line on stdout (started, step, eval, checkpoint,
finished, failed) and logs to RUN_DIR/train.log. SIGTERM means: finish the current step, save a
checkpoint, exit 0; `--resume` continues from the latest checkpoint and ends where an
uninterrupted run would. Under `accelerate launch` or `torchrun` (WORLD_SIZE > 1) the same
script runs data-parallel; only rank 0 talks and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from slmtui.config import TrainConfig
from slmtui.ml import linear_loss
from slmtui.ml.fused_lora import autocast_frozen, use_fused_lora
from slmtui.ml.packed_attention import use_packed_attention
from slmtui.ml.presets import Preset, PresetError, choose_preset, detect_hardware, measured_flops

log = logging.getLogger("slmtui.train")
IGNORE = -100
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MIN_TRAIN_TOKENS = 2000
# Gaps in a packed row shorter than this stay padding: a piece of text this short teaches little.
MIN_PIECE = 32


class TrainingError(RuntimeError):
    """A failure with a reason a person can act on; becomes the `failed` event."""


# -- talking to the parent ---------------------------------------------------------------------

RANK = int(os.environ.get("RANK", "0"))
WORLD = int(os.environ.get("WORLD_SIZE", "1"))


def emit(event: str, **data) -> None:
    """One JSON line on stdout (rank 0 only), also kept in RUN_DIR/events.jsonl by the parent."""
    if RANK != 0:
        return
    sys.stdout.write(json.dumps({"event": event, "time": time.time(), **data}) + "\n")
    sys.stdout.flush()


class StopFlag:
    """Set by SIGTERM; checked between steps so that a stop always leaves a checkpoint."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, *_: object) -> None:
        self.requested = True
        log.info("SIGTERM received: stopping after this step")


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    run_dir: Path
    base: str
    cache_root: Path | None
    dataset_dir: Path
    init_adapter: Path | None
    replay_dir: Path | None
    train: TrainConfig

    @classmethod
    def read(cls, run_dir: Path) -> Plan:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))

        def path(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        return cls(
            run_dir=run_dir,
            base=data["base"],
            cache_root=path("cache_root"),
            dataset_dir=Path(data["dataset_dir"]),
            init_adapter=path("init_adapter"),
            replay_dir=path("replay_dir"),
            train=TrainConfig(**data.get("train", {})),
        )


# -- data: tokenize, mask, pack ----------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def encode_example(example: dict, tokenizer, seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; chat examples are trained on the assistant's reply only."""
    eos = tokenizer.eos_token_id
    if "messages" not in example:
        ids = tokenizer(example["text"], add_special_tokens=False)["input_ids"] + [eos]
        ids = ids[:seq_len]
        return ids, list(ids)
    messages = example["messages"]
    prompt = tokenizer.apply_chat_template(
        messages[:-1], add_generation_prompt=True, tokenize=False
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise TrainingError("The chat template renders the prompt differently inside the chat.")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    # Learn the reply up to and including the turn-end token, not the template's trailing newline.
    if eos in answer_ids:
        answer_ids = answer_ids[: len(answer_ids) - answer_ids[::-1].index(eos)]
    ids = (prompt_ids + answer_ids)[:seq_len]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:seq_len]
    return ids, labels


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


def load_examples(plan: Plan, tokenizer, seq_len: int) -> tuple[list, list]:
    """Encoded train and validation examples.

    Continuing from an earlier adapter, the run learns the chunks that are new since that run's
    dataset, plus a replay sample of the old ones (replay_fraction of the new count), so the
    adapter picks up new writing without drifting away from the old.
    """
    train = read_jsonl(plan.dataset_dir / "train.jsonl")
    if plan.replay_dir is not None:
        old = read_jsonl(plan.replay_dir / "train.jsonl")
        old_chunks = {example.get("chunk") for example in old}
        new = [example for example in train if example.get("chunk") not in old_chunks]
        if not new:
            raise TrainingError(
                "Nothing new to learn since the last run: add writing to writing/, "
                "or train again from scratch (`slmtui train --from-scratch`)."
            )
        rng = random.Random(plan.train.seed)
        count = min(len(old), math.ceil(len(new) * plan.train.replay_fraction))
        train = new + rng.sample(old, count)
    val = read_jsonl(plan.dataset_dir / "val.jsonl")
    encode = [encode_example(example, tokenizer, seq_len) for example in train]
    return encode, [encode_example(example, tokenizer, seq_len) for example in val]


# -- model ------------------------------------------------------------------------------------


def load_model(plan: Plan, preset: Preset, device: torch.device):
    from peft import LoraConfig, PeftModel, get_peft_model

    from slmtui.ml.base import load_base, resolve_base

    folder = resolve_base(plan.base, plan.cache_root)
    quantization = None
    if preset.qlora:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if preset.dtype == "bfloat16" else torch.float16,
            bnb_4bit_use_double_quant=True,
        )
    weights_dtype = (
        torch.bfloat16 if device.type == "cuda" and preset.dtype == "bfloat16" else torch.float32
    )
    model, tokenizer = load_base(
        folder, dtype=weights_dtype, device=str(device), quantization=quantization
    )
    # Rows hold several examples: attend within each, skipping the masked-out work (see module).
    use_packed_attention(model)
    if preset.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=plan.train.gradient_checkpointing
        )
    elif plan.train.gradient_checkpointing:
        model.gradient_checkpointing_enable()
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
def evaluate(model, data: Packed, micro_batch: int, device, autocast) -> float:
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
    if WORLD > 1:
        both = torch.tensor([total, count], dtype=torch.float64)
        dist.all_reduce(both)
        total, count = float(both[0]), int(both[1])
    return total / max(count, 1)


def rows_for(micro_index: int, micro_batch: int, n: int, seed: int) -> torch.Tensor:
    """The packed sequences of one micro-batch: a fresh shuffle every epoch, fixed by the seed,
    so a resumed run sees exactly the batches an uninterrupted one would have seen."""
    epoch, offset = divmod(micro_index * micro_batch, n)
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    return permutation[[(offset + k) % n for k in range(micro_batch)]]


# -- checkpoints ------------------------------------------------------------------------------


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = run_dir / "checkpoints" / pointer.read_text().strip()
    return folder if (folder / "state.pt").is_file() else None


def save_checkpoint(run_dir: Path, model, optimizer, step: int, extra: dict) -> Path:
    """Write to a temporary folder, then rename; the previous checkpoint stays until then."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp / "adapter"))
        state = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            **extra,
        }
        torch.save(state, tmp / "state.pt")
        final = root / name
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        pointer_tmp = root / "latest.tmp"
        pointer_tmp.write_text(name)
        pointer_tmp.replace(root / "latest")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = f"the previous checkpoint ({previous.name}) is intact" if previous else "none kept"
        raise TrainingError(
            f"Could not save a checkpoint ({exc.strerror or exc}); {kept}."
        ) from exc
    for old in sorted(root.glob("step-*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


# -- the run ------------------------------------------------------------------------------------


def lr_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over 5% of the steps, then cosine down to 10% of the peak."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    plan = Plan.read(run_dir)
    stop = StopFlag()
    torch.manual_seed(plan.train.seed)
    random.seed(plan.train.seed)

    hardware = detect_hardware()
    preset = choose_preset(plan.train, hardware)
    if args.max_steps:
        preset = Preset(**{**preset.as_dict(), "max_steps": args.max_steps})
    if WORLD > 1:
        backend = "nccl" if preset.device == "cuda" else "gloo"
        dist.init_process_group(backend)
    device = torch.device(
        preset.device, int(os.environ.get("LOCAL_RANK", 0)) if preset.device == "cuda" else None
    )
    use_bf16 = preset.dtype == "bfloat16"

    def autocast():
        if use_bf16:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    model, tokenizer, base_folder = load_model(plan, preset, device)
    train_examples, val_examples = load_examples(plan, tokenizer, preset.seq_len)
    if not train_examples:
        raise TrainingError(
            "No training data: put writing in writing/ and run `slmtui ingest`, then train."
        )
    train_examples, cut_off = drop_unlearnable(train_examples)
    if not train_examples:
        raise TrainingError(
            f"Every example's reply is cut off at {preset.seq_len} tokens, so there is nothing "
            "to learn: raise train.seq_len in slmtui.toml."
        )
    if cut_off:
        log.warning("%d examples had their whole reply cut off at seq_len; left out", cut_off)
    train_tokens = sum(len(ids) for ids, _ in train_examples)
    if plan.init_adapter is None and train_tokens < MIN_TRAIN_TOKENS:
        raise TrainingError(
            f"Too little data: {train_tokens:,} tokens of training text; at least "
            f"{MIN_TRAIN_TOKENS:,} are needed (about {MIN_TRAIN_TOKENS * 3 // 4:,} words)."
        )
    train = pack(train_examples, preset.seq_len, tokenizer.pad_token_id)
    # Validation examples stay whole, so the perplexity measures the text as it was written.
    val = (
        pack(val_examples, preset.seq_len, tokenizer.pad_token_id, split_raw=False)
        if val_examples
        else None
    )

    micro_batch = preset.micro_batch
    sequences_per_step = max(1, preset.batch_tokens // preset.seq_len)
    accumulation = max(1, math.ceil(sequences_per_step / (micro_batch * WORLD)))
    steps = preset.max_steps
    if plan.init_adapter is not None:
        # Continuing on a little new writing: a few passes over it, not the preset's full run.
        steps = min(steps, max(1, math.ceil(3 * train_tokens / preset.batch_tokens)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    total_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = sequences_per_step * preset.seq_len
    # Forward plus backward through frozen weights is about 4 FLOPs per parameter per token.
    flops = measured_flops(device.type, torch.bfloat16 if use_bf16 else torch.float32)
    estimate = 4 * total_params * tokens_per_step * steps / (0.3 * flops * WORLD)

    state = {}
    checkpoint = latest_checkpoint(run_dir) if args.resume else None
    if args.resume and checkpoint is None:
        log.info("--resume given but no checkpoint found; starting from step 0")
    if checkpoint is not None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(checkpoint / "adapter" / "adapter_model.safetensors"))
        set_peft_model_state_dict(model, weights)
        state = torch.load(checkpoint / "state.pt", weights_only=False)

    emit(
        "started",
        dry_run=args.dry_run,
        device=device.type,
        hardware=hardware.name,
        dtype=preset.dtype,
        preset=preset.name,
        qlora=preset.qlora,
        world_size=WORLD,
        steps=steps,
        start_step=state.get("step", 0),
        seq_len=preset.seq_len,
        micro_batch=micro_batch,
        accumulation=accumulation,
        tokens_per_step=tokens_per_step,
        examples=len(train_examples),
        train_tokens=train_tokens,
        sequences=len(train.input_ids),
        padding_share=1 - train.real_tokens / train.input_ids.numel(),
        cut_off_examples=cut_off,
        val_examples=len(val_examples),
        trainable_params=sum(p.numel() for p in trainable),
        total_params=total_params,
        base=str(base_folder),
        estimated_seconds=round(estimate, 1),
    )
    if args.dry_run:
        return 0

    model.to(device)
    optimizer = torch.optim.AdamW(trainable, lr=preset.learning_rate, weight_decay=0.0)
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])

    base_loss = state.get("base_val_loss")
    if val is not None and base_loss is None:
        with model.disable_adapter():
            base_loss = evaluate(model, val, micro_batch, device, autocast)
        emit("eval", step=0, which="base", val_loss=base_loss, val_ppl=math.exp(base_loss))

    order_seed = plan.train.seed * 1000 + RANK
    n = len(train.input_ids)
    step = state.get("step", 0)
    started = time.perf_counter()
    tokens_done = 0
    model.train()
    while step < steps:
        micro_rows = [
            rows_for(step * accumulation + micro, micro_batch, n, order_seed)
            for micro in range(accumulation)
        ]
        # Every label token of the step weighs the same, whichever micro-batch or rank it is in.
        step_labels = torch.tensor(float(sum(int(train.label_counts[r].sum()) for r in micro_rows)))
        if WORLD > 1:
            dist.all_reduce(step_labels)
        loss_sum, label_count, step_tokens = 0.0, 0, 0
        for rows in micro_rows:
            ids = train.input_ids[rows].to(device)
            loss, count = batch_loss(
                model,
                ids,
                train.labels[rows].to(device),
                train.position_ids[rows].to(device),
                autocast,
            )
            (loss / step_labels.clamp(min=1)).backward()
            loss_sum += float(loss)
            label_count += count
            step_tokens += int(ids.numel())
        if WORLD > 1:  # LoRA gradients are small: sum them across ranks directly
            for parameter in trainable:
                if parameter.grad is not None:
                    dist.all_reduce(parameter.grad)
        lr = lr_at(step, steps, preset.learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_done += step_tokens * WORLD
        elapsed = time.perf_counter() - started
        rate = tokens_done / elapsed
        emit(
            "step",
            step=step,
            steps=steps,
            loss=loss_sum / max(label_count, 1),
            lr=lr,
            tokens_per_s=rate,
            elapsed_s=elapsed,
            eta_s=(steps - step) * tokens_per_step / rate,
            memory_mb=round(memory_mb(device), 1),
        )
        if (
            val is not None
            and plan.train.eval_every
            and step % plan.train.eval_every == 0
            and step < steps
        ):
            loss_val = evaluate(model, val, micro_batch, device, autocast)
            emit("eval", step=step, which="adapter", val_loss=loss_val, val_ppl=math.exp(loss_val))
        stopping = stop.requested
        if WORLD > 1:
            flag = torch.tensor([int(stopping)])
            dist.all_reduce(flag)
            stopping = bool(flag.item())
        if RANK == 0 and (stopping or step % plan.train.checkpoint_every == 0) and step < steps:
            path = save_checkpoint(run_dir, model, optimizer, step, {"base_val_loss": base_loss})
            emit("checkpoint", step=step, path=str(path))
        if stopping and step < steps:
            emit("finished", step=step, steps=steps, stopped=True, resumable=True)
            return 0

    result = {
        "step": step,
        "steps": steps,
        "stopped": False,
        "seconds": time.perf_counter() - started,
    }
    if val is not None:
        loss_val = evaluate(model, val, micro_batch, device, autocast)
        emit("eval", step=step, which="adapter", val_loss=loss_val, val_ppl=math.exp(loss_val))
        result.update(
            val_loss_base=base_loss,
            val_ppl_base=math.exp(base_loss),
            val_loss=loss_val,
            val_ppl=math.exp(loss_val),
        )
    if RANK == 0:
        adapter_tmp = run_dir / ".adapter.tmp"
        shutil.rmtree(adapter_tmp, ignore_errors=True)
        model.save_pretrained(str(adapter_tmp))
        shutil.rmtree(run_dir / "adapter", ignore_errors=True)
        adapter_tmp.rename(run_dir / "adapter")
        result["adapter"] = str(run_dir / "adapter")
        result.update(write_adapter_gguf(run_dir, base_folder))
        metrics_tmp = run_dir / "metrics.json.tmp"
        metrics_tmp.write_text(json.dumps({**result, "preset": preset.as_dict()}, indent=2))
        metrics_tmp.replace(run_dir / "metrics.json")
    emit("finished", **result)
    return 0


def write_adapter_gguf(run_dir: Path, base_folder: Path) -> dict:
    """The adapter as a llama.cpp LoRA GGUF, so chat can use it before any export.

    A failure here does not fail the run: the adapter is saved, and export (which merges) still
    works; the reason travels with the `finished` event.
    """
    from slmtui.export.errors import ConvertError
    from slmtui.export.lora_gguf import adapter_to_gguf

    try:
        path = adapter_to_gguf(run_dir / "adapter", base_folder, run_dir / "adapter.gguf")
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
        filename=run_dir / ("train.log" if RANK == 0 else f"train.rank{RANK}.log"),
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
    except torch.OutOfMemoryError as exc:
        log.exception("out of memory")
        emit(
            "failed",
            reason="Out of memory. Lower [train] batch_tokens or seq_len in slmtui.toml, "
            "or turn on gradient_checkpointing.",
            detail=str(exc)[:500],
        )
        return 1
    except Exception as exc:
        log.exception("training failed")
        emit("failed", reason=f"Training crashed: {exc.__class__.__name__}: {exc}"[:500])
        return 1
    finally:
        if WORLD > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
