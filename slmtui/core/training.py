"""The parent side of a training run: its folder, the child process, and its events.

Training runs in a child process (`python -m slmtui.ml.train RUN_DIR`) so that torch never
loads in the app and a crash in training never takes the app down. This module makes the run
folder (a frozen copy of the config, the dataset snapshot, run.json), starts the child, and turns
its stdout into `TrainEvent`s. The CLI prints them; the app will post them as messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from slmtui.config import Config, render_default_toml
from slmtui.workspace import Workspace

EVENT_KINDS = ("started", "step", "eval", "checkpoint", "finished", "failed")


@dataclass(frozen=True)
class TrainEvent:
    kind: str
    data: dict

    KINDS = EVENT_KINDS
    JOB = "training"

    @classmethod
    def parse(cls, line: str) -> TrainEvent | None:
        """An event from one line of the child's stdout; anything else (a stray print) is None."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("event") not in cls.KINDS:
            return None
        kind = data.pop("event")
        return cls(kind, data)

    def to_line(self) -> str:
        return json.dumps({"event": self.kind, **self.data})

    def describe(self) -> str:
        """One line for a person reading a terminal."""
        d = self.data
        if self.kind == "started":
            what = "dry run" if d.get("dry_run") else "training"
            return (
                f"{what}: {d['preset']} preset on {d['device']} ({d['dtype']}"
                f"{', QLoRA' if d.get('qlora') else ''}), {d['steps']} steps of "
                f"{d['tokens_per_step']:,} tokens, {d['examples']} examples "
                f"({d['train_tokens']:,} tokens, {100 * d['padding_share']:.1f}% padding), "
                f"{d['trainable_params']:,} trainable parameters; "
                f"estimated {format_seconds(d['estimated_seconds'])}"
                + (f"; resuming at step {d['start_step']}" if d.get("start_step") else "")
            )
        if self.kind == "step":
            return (
                f"step {d['step']:>4}/{d['steps']}  loss {d['loss']:.4f}  lr {d['lr']:.2e}  "
                f"{d['tokens_per_s']:,.0f} tok/s  {d['memory_mb']:,.0f} MB  "
                f"eta {format_seconds(d['eta_s'])}"
            )
        if self.kind == "eval":
            who = "base model" if d["which"] == "base" else "with adapter"
            return (
                f"validation ({who}, step {d['step']}): loss {d['val_loss']:.4f}, "
                f"perplexity {d['val_ppl']:.2f}"
            )
        if self.kind == "checkpoint":
            return f"checkpoint saved at step {d['step']}"
        if self.kind == "finished":
            if d.get("stopped"):
                return f"stopped at step {d['step']}; resume with `slmtui train --resume`"
            text = f"finished {d['steps']} steps in {format_seconds(d.get('seconds', 0))}"
            if "val_ppl" in d:
                change = 100 * (1 - d["val_ppl"] / d["val_ppl_base"])
                text += (
                    f"; validation perplexity {d['val_ppl_base']:.2f} -> {d['val_ppl']:.2f} "
                    f"({change:.0f}% lower)"
                )
            return text
        return f"training failed: {d.get('reason', 'unknown reason')}"


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True)
class RunFolder:
    """One training run under .slmtui/runs/."""

    path: Path

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def dataset(self) -> Path:
        return self.path / "dataset"

    @property
    def finished(self) -> bool:
        return (self.adapter / "adapter_config.json").is_file()

    @property
    def resumable(self) -> bool:
        return not self.finished and (self.path / "checkpoints" / "latest").is_file()


def runs(workspace: Workspace) -> list[RunFolder]:
    """Every run folder, oldest first (names sort by time)."""
    if not workspace.runs.is_dir():
        return []
    return [
        RunFolder(path)
        for path in sorted(workspace.runs.iterdir())
        if path.is_dir() and (path / "run.json").is_file()
    ]


def latest_finished(workspace: Workspace) -> RunFolder | None:
    return next((run for run in reversed(runs(workspace)) if run.finished), None)


def latest_resumable(workspace: Workspace) -> RunFolder | None:
    return next((run for run in reversed(runs(workspace)) if run.resumable), None)


def new_run(workspace: Workspace, config: Config, *, from_scratch: bool = False) -> RunFolder:
    """Make a run folder with a frozen config; continue from the last adapter unless told not to.

    The dataset snapshot is written into `run.dataset` by the caller (core.dataset).
    """
    workspace.ensure_state()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = workspace.runs / f"run-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = workspace.runs / f"run-{stamp}-{suffix}"
    path.mkdir(parents=True)
    previous = None if from_scratch else latest_finished(workspace)
    plan = {
        "base": config.model.base,
        "cache_root": platformdirs.user_cache_dir("slmtui"),
        "dataset_dir": str(path / "dataset"),
        "init_adapter": str(previous.adapter) if previous else None,
        "replay_dir": str(previous.dataset) if previous else None,
        "train": asdict(config.train),
        "created": time.time(),
    }
    (path / "run.json").write_text(json.dumps(plan, indent=2), encoding="utf-8")
    (path / "config.toml").write_text(render_default_toml(config), encoding="utf-8")
    return RunFolder(path)


def start_training(
    run: RunFolder,
    *,
    resume: bool = False,
    dry_run: bool = False,
    max_steps: int = 0,
    launcher: list[str] | None = None,
) -> subprocess.Popen:
    """Start the child; its stdout carries the events, its stderr goes to RUN_DIR/stderr.log."""
    command = [*(launcher or [sys.executable, "-m"]), "slmtui.ml.train", str(run.path)]
    if resume:
        command.append("--resume")
    if dry_run:
        command.append("--dry-run")
    if max_steps:
        command += ["--max-steps", str(max_steps)]
    return start_child(run, command)


def start_child(run: RunFolder, command: list[str]) -> subprocess.Popen:
    """A job process whose stdout carries events and whose stderr goes to RUN_DIR/stderr.log."""
    stderr = (run.path / "stderr.log").open("ab")
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
        )
    finally:
        stderr.close()


def follow(
    run: RunFolder,
    process: subprocess.Popen,
    event_type: type[TrainEvent] = TrainEvent,
    record_name: str = "events.jsonl",
) -> Iterator[TrainEvent]:
    """Events as the child prints them, each also appended to RUN_DIR/events.jsonl.

    A child that dies without saying why (killed, crashed in native code) still ends the stream
    with a `failed` event carrying the tail of its stderr.
    """
    assert process.stdout is not None
    with (run.path / record_name).open("a", encoding="utf-8") as record:
        for line in process.stdout:
            event = event_type.parse(line)
            if event is None:
                continue
            record.write(event.to_line() + "\n")
            record.flush()
            yield event
    code = process.wait()
    if code not in (0, 1):  # 1 already came with a `failed` event
        tail = _tail(run.path / "stderr.log")
        reason = f"the {event_type.JOB} process ended with code {code}"
        if code < 0:
            reason = f"the {event_type.JOB} process was killed ({signal.Signals(-code).name})"
        yield event_type("failed", {"reason": reason, "detail": tail})


def stop_training(process: subprocess.Popen) -> None:
    """Ask the child to stop at the next step with a checkpoint."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
