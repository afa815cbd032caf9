"""`slmtui train` from the command line, on a workspace whose base is the tiny llama."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from slmtui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def slmtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", *args], capture_output=True, text=True, timeout=600
    )


def tiny_workspace(tmp_path: Path, base: Path) -> Workspace:
    workspace = Workspace.init(tmp_path / "ws")
    shutil.copytree(SAMPLES / "essays", workspace.writing / "essays")
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")
    text = workspace.config_path.read_text().replace('base = "default"', f'base = "{base}"')
    workspace.config_path.write_text(text)
    return workspace


def test_train_json_events_then_dry_run_and_resume_errors(tmp_path, tiny_base):
    workspace = tiny_workspace(tmp_path, tiny_base)
    root = str(workspace.root)
    done = slmtui("-w", root, "train", "--no-generate", "--max-steps", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "started"
    assert events[-1]["event"] == "finished" and events[-1]["steps"] == 2
    assert "Dataset" in done.stderr and "continue" in done.stderr
    runs = sorted(workspace.runs.iterdir())
    assert len(runs) == 1 and (runs[0] / "adapter" / "adapter_config.json").is_file()
    manifest = json.loads((runs[0] / "dataset" / "manifest.json").read_text())
    assert manifest["stats"]["train"] == events[0]["examples"]

    plan = slmtui("-w", root, "train", "--no-generate", "--dry-run", "--from-scratch")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "dry run: cpu-quick preset on cpu" in plan.stdout and "estimated" in plan.stdout
    # No step count set: the quick preset plans by time, and this tiny model is fast, so the
    # small corpus's two passes come first.
    assert "2 passes over the training text (the corpus is small" in plan.stdout, plan.stdout
    assert len(list(workspace.runs.iterdir())) == 1  # the dry run left nothing behind
    assert "of 5m00s" in plan.stdout and "validation on" in plan.stdout

    evening = slmtui("-w", root, "train", "--no-generate", "--dry-run", "--minutes", "evening",
                     "--from-scratch", "--json")  # fmt: skip
    started = json.loads(evening.stdout.splitlines()[0])
    assert started["time_budget_s"] == 3600.0 and started["replies_lost"] == 0
    wrong = slmtui("-w", root, "train", "--dry-run", "--minutes", "forever")
    assert wrong.returncode != 0 and "training budget is minutes" in wrong.stderr

    nothing = slmtui("-w", root, "train", "--resume")
    assert nothing.returncode == 2 and "no stopped run to resume" in nothing.stderr


def test_a_second_training_of_a_workspace_is_refused_while_one_runs(tmp_path, tiny_base):
    from tests.test_locks import holder

    workspace = tiny_workspace(tmp_path, tiny_base)
    other = holder(workspace.state, "training", "run-20261207-140200")
    try:
        done = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "1")
    finally:
        other.stdin.close()
        other.wait()
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "This workspace is busy: a training run started by the command line" in said
    assert f"pid {other.pid}, run-20261207-140200" in said
    # Free again: it trains.
    again = slmtui("-w", str(workspace.root), "train", "--no-generate", "--max-steps", "1")
    assert again.returncode == 0, again.stderr[-3000:]
