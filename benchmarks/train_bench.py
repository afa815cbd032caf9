"""Training throughput: slmtui's trainer against Hugging Face Trainer + PEFT, two ways.

All train the same LoRA (r=16, alpha=32, all linear layers) on SmolLM2-135M-Instruct with the
same examples from samples/ (the style dataset slmtui builds, chat pairs included) and about the
same tokens per optimizer step, each in a fresh process so that peak RSS is its own:

- default baseline: `transformers.Trainer` with default settings (float32, batches of 8
  examples padded to the longest, full-vocabulary logits at every position);
- careful baseline: what a careful user would pick instead: the same Trainer with bf16 autocast
  where the hardware has fast bfloat16, and padding-free packing (`DataCollatorWithFlattening`:
  the 8 examples concatenated into one row, position ids restarting at each);
- slmtui: `python -m slmtui.ml.train` with the cpu-quick preset (or gpu on CUDA).

Throughput counts real tokens only (padding excluded) over the steps after a warm-up. The script
prints each, and the ratios: against the default baseline, target >= 1.5x tokens/s on CPU (on
CUDA >= 2x and <= 0.6x memory); against the careful one, target >= 1.3x.

MFU is each side's against the matmul peak of the dtype it ran in. On a CPU with fast bfloat16
(AVX512-BF16 or AMX) slmtui trains in bfloat16 autocast while the baseline's default is float32;
`--precision auto,float32` runs slmtui both ways, for the like-for-like ratio as well.

Run: .venv/bin/python benchmarks/train_bench.py [--steps 8] [--rounds 2] [--precision auto]
[--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARMUP = 2


def build_dataset(folder: Path) -> Path:
    """A workspace over samples/ and its style dataset (no generation: continue pairs)."""
    import shutil

    from slmtui.dataset.build import build_dataset as build
    from slmtui.ingest.ingestor import Ingestor
    from slmtui.workspace import Workspace

    workspace = Workspace.init(folder / "ws")
    shutil.copytree(ROOT / "samples", workspace.writing, dirs_exist_ok=True)
    config = workspace.load_config()
    with Ingestor(workspace, config) as ingestor:
        ingestor.scan()
        build(ingestor.store, folder / "dataset", config.dataset, None, "none")
    return folder / "dataset"


def run_ours(folder: Path, dataset: Path, steps: int, precision: str = "auto") -> dict:
    run = folder / "run"
    run.mkdir(parents=True)
    plan = {
        "base": "default",
        "dataset_dir": str(dataset),
        "train": {"lora_r": 16, "lora_alpha": 32.0, "lora_dropout": 0.0, "max_steps": steps,
                  "batch_tokens": 2048, "precision": precision,
                  "checkpoint_every": 10_000},
    }  # fmt: skip
    (run / "run.json").write_text(json.dumps(plan))
    code = (
        "import resource, sys; from slmtui.ml.train import main; main(sys.argv[1:]); "
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "started")
    step_events = [e for e in events if e["event"] == "step"]
    if len(step_events) < steps:
        raise SystemExit(f"slmtui run failed: {events[-1]}\n{out.stderr[-2000:]}")
    span = step_events[-1]["elapsed_s"] - step_events[WARMUP - 1]["elapsed_s"]
    real_share = 1 - started["padding_share"]
    tokens = started["tokens_per_step"] * (steps - WARMUP) * real_share
    rss = float(next(line for line in out.stdout.splitlines() if line.startswith("RSS")).split()[1])
    return {
        "tokens_per_s": tokens / span,
        "peak_rss_mb": rss,
        "peak_gpu_mb": step_events[-1]["memory_mb"] if started["device"] == "cuda" else None,
        "dtype": started["dtype"],
        "tokens_per_step": started["tokens_per_step"] * real_share,
        "final_loss": step_events[-1]["loss"],
        "total_params": started["total_params"],
    }


BASELINE = r"""
import json, resource, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import (DataCollatorForSeq2Seq, DataCollatorWithFlattening, Trainer,
    TrainerCallback, TrainingArguments)
from slmtui.ml.base import load_base, resolve_base
from slmtui.ml.presets import detect_hardware
from slmtui.ml.data import encode_example, read_snapshot_file

dataset_dir, out_dir, steps, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
careful = sys.argv[5] == "careful"
bf16 = careful and detect_hardware().bf16
model, tokenizer = load_base(resolve_base("default"))
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
    target_modules=targets)
model = get_peft_model(model, lora)
rows = []
for example in read_snapshot_file(__import__("pathlib").Path(dataset_dir) / "train.jsonl"):
    for ids, labels in encode_example(example, tokenizer, 512).pieces:
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})

class Clock(TrainerCallback):
    def __init__(self):
        self.times, self.tokens = [], []
    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())

clock = Clock()
if careful:
    collator = DataCollatorWithFlattening()
else:
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
arguments = TrainingArguments(output_dir=out_dir, per_device_train_batch_size=8, max_steps=steps,
    learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to=[], seed=0, bf16=bf16,
    use_cpu=not torch.cuda.is_available())
trainer = Trainer(model=model, args=arguments, train_dataset=rows, data_collator=collator,
    callbacks=[clock])
# Count the real tokens the trainer's own sampler feeds, step by step.
loader = trainer.get_train_dataloader()
real = [int(batch["attention_mask"].sum()) if "attention_mask" in batch
        else batch["input_ids"].numel() for _, batch in zip(range(steps), loader)]
trainer.train()
span = clock.times[-1] - clock.times[warmup - 1]
tokens = sum(real[warmup:steps])
peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({"tokens_per_s": tokens / span, "tokens_per_step": sum(real) / len(real),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "peak_gpu_mb": peak_gpu, "dtype": "bfloat16" if bf16 else "float32"}))
"""


BASELINES = ("default", "careful")


def run_baseline(folder: Path, dataset: Path, steps: int, kind: str) -> dict:
    command = [sys.executable, "-c", BASELINE, str(dataset), str(folder / "hf"), str(steps)]
    out = subprocess.run([*command, str(WARMUP), kind], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"baseline failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mfu(tokens_per_s: float, params: int, peak: float) -> float:
    """Model FLOPs utilisation: forward plus backward through frozen weights is about four
    FLOPs per parameter per token (no weight gradients but the LoRA's), over the matmul peak."""
    return 4 * params * tokens_per_s / peak


def median_run(runs: list[dict]) -> dict:
    """One run's details with the median tokens/s of all (the mean of the two middle ones for an
    even count, not the better one), peak memory the highest seen."""
    ordered = sorted(runs, key=lambda run: run["tokens_per_s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["tokens_per_s"] = statistics.median(run["tokens_per_s"] for run in runs)
    middle["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    if middle.get("peak_gpu_mb") is not None:
        middle["peak_gpu_mb"] = max(run["peak_gpu_mb"] for run in runs)
    middle["all_tokens_per_s"] = [round(run["tokens_per_s"], 1) for run in runs]
    return middle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="baseline and slmtui runs, taken in turns so all see the machine's load drift",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        help="slmtui's [train] precision, or several joined by commas (auto,float32 also shows "
        "the like-for-like float32 ratio on a machine where auto means bfloat16)",
    )
    parser.add_argument(
        "--baselines", default="default,careful", help="which baselines to run (default,careful)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    from slmtui.ml.presets import measured_flops

    precisions = args.precision.split(",")
    kinds = [kind for kind in args.baselines.split(",") if kind in BASELINES]
    folder = Path(tempfile.mkdtemp(prefix="slmtui-train-bench-"))
    dataset = build_dataset(folder)
    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    ours_runs: dict[str, list[dict]] = {precision: [] for precision in precisions}
    for round_index in range(args.rounds):
        line = f"  round {round_index + 1}:"
        for kind in kinds:
            run = run_baseline(folder / f"b{round_index}-{kind}", dataset, args.steps, kind)
            base_runs[kind].append(run)
            line += f" {kind} baseline ({run['dtype']}) {run['tokens_per_s']:.0f},"
        for precision in precisions:
            run = run_ours(folder / f"o{round_index}-{precision}", dataset, args.steps, precision)
            ours_runs[precision].append(run)
            line += f" slmtui {precision} ({run['dtype']}) {run['tokens_per_s']:.0f}"
        if not args.json:
            print(line + " real tokens/s", flush=True)
    baselines = {kind: median_run(runs) for kind, runs in base_runs.items()}
    ours = {precision: median_run(runs) for precision, runs in ours_runs.items()}
    # Each side's utilisation against the matmul peak of the dtype it ran in.
    dtypes = {run["dtype"] for run in (*baselines.values(), *ours.values())}
    peaks = {dtype: measured_flops(device, getattr(torch, dtype), 1.0) for dtype in dtypes}
    params = next(iter(ours.values()))["total_params"]
    for result in (*baselines.values(), *ours.values()):
        result["mfu"] = mfu(result["tokens_per_s"], params, peaks[result["dtype"]])
    # Paired ratios: each round's sides saw the same machine load; the median of them is kept.
    round_ratios = {
        f"{p} vs {kind}": [
            o["tokens_per_s"] / b["tokens_per_s"]
            for b, o in zip(base_runs[kind], ours_runs[p], strict=True)
        ]
        for p in precisions
        for kind in kinds
    }
    results = {
        "steps": args.steps,
        "rounds": args.rounds,
        "matmul_peak_gflops": {dtype: peak / 1e9 for dtype, peak in peaks.items()},
        "baselines": baselines,
        "slmtui": ours,
        "round_ratios": round_ratios,
        "speed_ratio": {key: statistics.median(ratios) for key, ratios in round_ratios.items()},
        "rss_ratio": {
            f"{p} vs {kind}": ours[p]["peak_rss_mb"] / baselines[kind]["peak_rss_mb"]
            for p in precisions
            for kind in kinds
        },
        "seconds": time.perf_counter() - started,
        "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        results["gpu_memory_ratio"] = {
            f"{p} vs {kind}": ours[p]["peak_gpu_mb"] / baselines[kind]["peak_gpu_mb"]
            for p in precisions
            for kind in kinds
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results, args.rounds, device, peaks)


TARGETS = {"default": {"cpu": 1.5, "cuda": 2.0}, "careful": {"cpu": 1.3, "cuda": 1.3}}


def report(results: dict, rounds: int, device: str, peaks: dict) -> None:
    print(
        f"SmolLM2-135M, LoRA r=16 on all linear layers, same examples, after warm-up; medians of "
        f"{rounds} rounds (ratios: median of each round's); {device} matmul peak "
        + ", ".join(f"{dtype} {peak / 1e9:.0f} GFLOP/s" for dtype, peak in peaks.items())
    )
    sides = [(f"HF Trainer, {kind}", run) for kind, run in results["baselines"].items()]
    sides += [(f"slmtui ({precision})", run) for precision, run in results["slmtui"].items()]
    for name, result in sides:
        print(
            f"  {name:<22} {result['tokens_per_s']:8.0f} real tokens/s  "
            f"{result['tokens_per_step']:7.0f} tokens/step  {result['dtype']:<9} "
            f"peak RSS {result['peak_rss_mb']:6.0f} MB  MFU {result['mfu']:.0%}"
        )
    for key, ratio in results["speed_ratio"].items():
        target = TARGETS[key.split(" vs ")[1]][device]
        rounds_text = ", ".join(f"{value:.2f}x" for value in results["round_ratios"][key])
        print(
            f"  slmtui {key}: speed ratio {ratio:.2f}x (target >= {target}x); per round "
            f"{rounds_text}; peak RSS ratio {results['rss_ratio'][key]:.2f}"
        )
        if "gpu_memory_ratio" in results:
            print(f"    GPU memory ratio {results['gpu_memory_ratio'][key]:.2f}")


if __name__ == "__main__":
    main()
