"""The run folder: every path inside `.slmtui/runs/run-*/`, and its plan `run.json`.

This module is the one place that knows the layout (docs/ARCHITECTURE.md, "The run folder"): the
trainer, the exporter, chat and the app ask it for paths instead of spelling them. Like
workspace.py and registry.py it belongs to the ground every package may import, and it is
torch-free, so the parent and the children share it.

    run-20261202-143000/
      run.json            the plan (RunPlan): base, dataset, the adapter it continues, settings
      config.toml         the workspace settings frozen at the start
      dataset/            the style dataset snapshot (train.jsonl, val.jsonl, manifest.json)
      checkpoints/        step-NNNNNN/ (adapter/, state.safetensors, state.json) and `latest`
      adapter/            the finished PEFT adapter
      adapter.gguf        the same as a llama.cpp LoRA, for chat before any export
      metrics.json        the finished run's figures
    (and ../../cache/validation/: the base model's validation losses, shared by the runs)
      train.log, export.log, stderr.log     the children's logs
      events.jsonl, export-events.jsonl      every event the parent read
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from slmtui.config import Config, TrainConfig
from slmtui.config_file import render_default_toml
from slmtui.files import read_json_if_valid, read_json_object, write_json_atomic, write_text_atomic
from slmtui.workspace import Workspace, WorkspaceError


@dataclass(frozen=True)
class RunPlan:
    """What the parent decided before the child starts; the child only reads it."""

    base: str
    dataset_dir: Path
    train: TrainConfig
    cache_root: Path | None = None
    init_adapter: Path | None = None  # the adapter this run continues from
    replay_dir: Path | None = None  # that run's dataset, for replaying old examples
    created: float = 0.0

    def as_dict(self) -> dict:
        def text(path: Path | None) -> str | None:
            return str(path) if path is not None else None

        return {
            "base": self.base,
            "cache_root": text(self.cache_root),
            "dataset_dir": str(self.dataset_dir),
            "init_adapter": text(self.init_adapter),
            "replay_dir": text(self.replay_dir),
            "train": asdict(self.train),
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RunPlan:
        def path(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        return cls(
            base=data["base"],
            dataset_dir=Path(data["dataset_dir"]),
            train=TrainConfig(**data.get("train", {})),
            cache_root=path("cache_root"),
            init_adapter=path("init_adapter"),
            replay_dir=path("replay_dir"),
            created=float(data.get("created", 0.0)),
        )


@dataclass(frozen=True)
class RunFolder:
    """One training run under .slmtui/runs/."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def plan_file(self) -> Path:
        return self.path / "run.json"

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def dataset(self) -> Path:
        return self.path / "dataset"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def latest_pointer(self) -> Path:
        return self.checkpoints / "latest"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def adapter_gguf(self) -> Path:
        return self.path / "adapter.gguf"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def validation_cache(self) -> Path:
        """The base model's validation losses, shared by the workspace's runs: the `cache/`
        beside `runs/` (Workspace.cache), so that a retrain does not measure the base again."""
        return self.path.parent.parent / "cache" / "validation"

    def log(self, job: str) -> Path:
        """The log of a job child: train.log, export.log (the logging module's own file)."""
        return self.path / ("train.log" if job == "training" else f"{job}.log")

    @property
    def stderr_log(self) -> Path:
        """Where every child of this run writes its stderr (crashes in native code land here)."""
        return self.path / "stderr.log"

    def events(self, job: str) -> Path:
        """Where the parent records a job's events: events.jsonl, export-events.jsonl."""
        return self.path / ("events.jsonl" if job == "training" else f"{job}-events.jsonl")

    # -- state ---------------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.plan_file.is_file()

    @property
    def finished(self) -> bool:
        return (self.adapter / "adapter_config.json").is_file()

    @property
    def resumable(self) -> bool:
        return not self.finished and self.latest_pointer.is_file()

    def read_plan(self) -> RunPlan:
        return RunPlan.from_dict(read_json_object(self.plan_file, error=WorkspaceError))

    def write_plan(self, plan: RunPlan) -> None:
        write_json_atomic(self.plan_file, plan.as_dict())

    def metrics(self) -> dict:
        """The finished run's figures ({} when it has none yet)."""
        return read_json_if_valid(self.metrics_file) or {}

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder, if any."""
        if not self.latest_pointer.is_file():
            return None
        folder = self.checkpoints / self.latest_pointer.read_text().strip()
        complete = (folder / "state.json").is_file() or (folder / "state.pt").is_file()
        return folder if complete else None


def runs(workspace: Workspace) -> list[RunFolder]:
    """Every run folder, oldest first (names sort by time)."""
    if not workspace.runs.is_dir():
        return []
    found = (RunFolder(path) for path in sorted(workspace.runs.iterdir()) if path.is_dir())
    return [run for run in found if run.exists]


def latest_finished(workspace: Workspace) -> RunFolder | None:
    return next((run for run in reversed(runs(workspace)) if run.finished), None)


def latest_resumable(workspace: Workspace) -> RunFolder | None:
    return next((run for run in reversed(runs(workspace)) if run.resumable), None)


def find_run(workspace: Workspace, name: str | None) -> RunFolder:
    """The run called `name`, or the newest finished one; a WorkspaceError says what to do."""
    if name:
        run = RunFolder(workspace.runs / name)
        if not run.exists:
            raise WorkspaceError(f"There is no run {name!r} in {workspace.runs}.")
        return run
    run = latest_finished(workspace)
    if run is None:
        raise WorkspaceError("No finished training run to export: run `slmtui train` first.")
    return run


def preview_folder(workspace: Workspace) -> Path:
    """Where the app plans the next run (a dry run) without adding to the runs."""
    return workspace.cache / "next-run"


def new_run(
    workspace: Workspace, config: Config, *, from_scratch: bool = False, preview: bool = False
) -> RunFolder:
    """Make a run folder with a frozen config; continue from the last adapter unless told not to.

    The dataset snapshot is written into `run.dataset` by the caller (jobs.prepare.prepare_run).
    A `preview` run is made in `preview_folder`, replacing the last one, and never listed.
    """
    workspace.ensure_state()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = workspace.runs / f"run-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = workspace.runs / f"run-{stamp}-{suffix}"
    if preview:
        path = preview_folder(workspace)
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    run = RunFolder(path)
    previous = None if from_scratch else latest_finished(workspace)
    if previous is not None and previous.read_plan().base != config.model.base:
        previous = None  # an adapter fits only the base it was trained on: a new base starts anew
    run.write_plan(
        RunPlan(
            base=config.model.base,
            cache_root=Path(platformdirs.user_cache_dir("slmtui")),
            dataset_dir=run.dataset,
            init_adapter=previous.adapter if previous else None,
            replay_dir=previous.dataset if previous else None,
            train=config.train,
            created=time.time(),
        )
    )
    write_text_atomic(run.config_file, render_default_toml(config))
    return run
