"""Which defaults make the model sound most like the author: train variants, evaluate each.

For every variant (a few settings changed from the defaults) this trains from scratch on the
same workspace with the cpu-quick preset, then runs `slmtui eval` on the new adapter, and prints
one table row: validation perplexity base -> tuned, its change, the style distance to the author
relative to the base model's, and the training time. The base model's scores are cached after
the first variant, so every row is measured against the same base numbers.

Run: .venv/bin/python benchmarks/voice_sweep.py [--workspace DIR] [--only NAME,NAME]
Without --workspace, a copy of samples/ is ingested into a temporary workspace first.
Results are also appended as JSON lines to WORKSPACE/voice_sweep.jsonl.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui.config import Config, render_default_toml, with_changes  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402

VARIANTS: dict[str, dict[str, dict]] = {
    "default": {},
    "lr 1e-3": {"train": {"learning_rate": 1e-3}},  # the default before this sweep
    "lr 5e-4": {"train": {"learning_rate": 5e-4}},
    "rank 8": {"train": {"lora_r": 8, "lora_alpha": 16.0}},
    "rank 32": {"train": {"lora_r": 32, "lora_alpha": 64.0}},
    "raw only": {"dataset": {"raw_ratio": 1.0, "backtranslate_ratio": 0.0, "continue_ratio": 0.0}},
    "no backtranslation": {
        "dataset": {"raw_ratio": 0.5, "backtranslate_ratio": 0.0, "continue_ratio": 0.5}
    },
    "48 steps": {"train": {"max_steps": 48}},
}


def slmtui(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def configure(workspace: Workspace, changes: dict[str, dict]) -> None:
    config = with_changes(Config(), "train", preset="cpu-quick")
    for section, values in changes.items():
        config = with_changes(config, section, **values)
    workspace.config_path.write_text(render_default_toml(config), encoding="utf-8")


def last_event(output: str) -> dict:
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return events[-1] if events else {}


def run_variant(workspace: Workspace, name: str) -> dict:
    configure(workspace, VARIANTS[name])
    started = time.perf_counter()
    trained = slmtui(workspace.root, "train", "--from-scratch", "--json")
    finished = last_event(trained.stdout)
    if trained.returncode != 0 or finished.get("event") != "finished":
        return {"variant": name, "error": finished.get("reason") or trained.stderr[-500:]}
    evaluated = slmtui(workspace.root, "eval", "--json", "--no-previous", "--model", "adapter")
    if evaluated.returncode != 0:
        return {"variant": name, "error": evaluated.stderr[-500:]}
    summary = last_event(evaluated.stdout)["summary"]  # the evaluation job's `finished` event
    return {
        "variant": name,
        "changes": VARIANTS[name],
        "steps": finished["steps"],
        "train_seconds": finished["seconds"],
        "wall_seconds": time.perf_counter() - started,
        **summary,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="an ingested workspace to train in")
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if args.workspace is None:
        folder = Path(tempfile.mkdtemp(prefix="slmtui-voice-sweep-"))
        workspace = Workspace.init(folder / "ws")
        shutil.rmtree(workspace.writing)
        shutil.copytree(ROOT / "samples", workspace.writing)
        slmtui(workspace.root, "ingest")
    else:
        workspace = Workspace.open(args.workspace)
    original = workspace.config_path.read_text(encoding="utf-8")
    print(f"{'variant':<20} {'steps':>5} {'ppl base':>9} {'ppl tuned':>9} {'change':>7} "
          f"{'style vs base':>13} {'train s':>8}")  # fmt: skip
    try:
        for name in names:
            row = run_variant(workspace, name)
            with (workspace.root / "voice_sweep.jsonl").open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            if "error" in row:
                print(f"{name:<20} failed: {row['error']}")
                continue
            print(
                f"{name:<20} {row['steps']:>5} {row['val_ppl_base']:>9.2f} {row['val_ppl']:>9.2f} "
                f"{100 * row['ppl_change']:>6.1f}% {row['distance_ratio']:>12.2f}x "
                f"{row['train_seconds']:>8.0f}",
                flush=True,
            )
    finally:
        workspace.config_path.write_text(original, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
