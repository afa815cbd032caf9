"""Each job's command line, and starting it with the one job mechanism.

Training: `python -m slmtui.ml.train RUN_DIR`; export: `python -m slmtui.ml.publish RUN_DIR
MODELS_DIR`; evaluation: `python -m slmtui.eval WORKSPACE`; the request writer:
`python -m slmtui.jobs.requests WORKSPACE`. Training and export log into their run folder;
the others into `.slmtui/logs/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slmtui.jobs.events import EVALUATION, EXPORT, REQUESTS, TRAINING
from slmtui.jobs.process import RunningJob, start_job
from slmtui.runs import RunFolder
from slmtui.workspace import Workspace


def data_parallel(gpus: int) -> list[str]:
    """The launcher for training on `gpus` cards of this machine: torchrun, one process each
    (each binds its card by LOCAL_RANK, see ml/collectives.py)."""
    from slmtui.gpu import nvidia_gpus
    from slmtui.workspace import WorkspaceError

    listed = len(nvidia_gpus())
    if gpus < 1 or gpus > listed:
        raise WorkspaceError(
            f"--gpus {gpus}: nvidia-smi lists {listed} NVIDIA GPU{'s' if listed != 1 else ''} "
            "here; give a number from 1 to that"
            + ("" if listed else " (train without --gpus to use the CPU)")
        )
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(gpus), "-m"]  # fmt: skip


def start_training(
    run: RunFolder,
    *,
    resume: bool = False,
    dry_run: bool = False,
    max_steps: int = 0,
    launcher: list[str] | None = None,
) -> RunningJob:
    """The training child for `run`; `launcher` replaces `python -m` (e.g. `torchrun ...`)."""
    command = [*(launcher or [sys.executable, "-m"]), "slmtui.ml.train", str(run.path)]
    if resume:
        command.append("--resume")
    if dry_run:
        command.append("--dry-run")
    if max_steps:
        command += ["--max-steps", str(max_steps)]
    return start_job(TRAINING, command, run.stderr_log, run.events(TRAINING))


def start_export(
    workspace: Workspace,
    run: RunFolder,
    quants: list[str] | None = None,
    *,
    chat_check: bool = True,
) -> RunningJob:
    """The export child: merge `run`'s adapter, write and verify F16, quantize to each of
    `quants` (default: `[export] quants`), measure each against its budget, publish."""
    workspace.ensure_state()
    settings = workspace.load_config().export
    quants = list(quants or settings.quants)
    command = [
        sys.executable, "-m", "slmtui.ml.publish", str(run.path), str(workspace.models),
        "--quant", *quants,
    ]  # fmt: skip
    for quant in quants:
        budget = settings.budget(quant)
        if budget is not None:
            command += ["--budget", f"{quant}={budget}"]
    if not chat_check:
        command.append("--no-chat-check")
    return start_job(EXPORT, command, run.stderr_log, run.events(EXPORT))


def start_evaluation(
    workspace: Workspace,
    model: str | None = None,
    *,
    prompts: int = 12,
    write: int = 6,
    compare_previous: bool = True,
    questions: Path | None = None,
) -> RunningJob:
    """The evaluation child for `model` (a version, 'adapter', or None for the newest); with
    `questions`, a QA file, the questions too."""
    command = [sys.executable, "-m", "slmtui.eval", str(workspace.root)]
    if model:
        command += ["--model", model]
    command += ["--prompts", str(prompts), "--write", str(write)]
    if not compare_previous:
        command.append("--no-previous")
    if questions is not None:
        command += ["--qa", str(Path(questions).resolve())]
    logs = workspace.logs
    return start_job(EVALUATION, command, logs / "eval.log", logs / "eval-events.jsonl")


def start_requests(workspace: Workspace) -> RunningJob:
    """The background job that writes pending chat-pair requests with the base model."""
    command = [sys.executable, "-m", "slmtui.jobs.requests", str(workspace.root)]
    logs = workspace.logs
    return start_job(REQUESTS, command, logs / "background.log", logs / "background-events.jsonl")
