"""Which bases fit this machine, and setting one: the `slmtui.ml.bases` child, asked by the CLI
and the app (neither loads torch itself)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from slmtui.config_file import write_settings
from slmtui.workspace import Workspace, WorkspaceError


def bases_report(workspace: Workspace | None, *, quiet: bool = False) -> dict:
    """{"machine": {...}, "bases": [{repo, name, params, licence, gated, lora_bytes,
    qlora_bytes, verdict}, ...]} for this machine at the workspace's [train] settings."""
    return _ask(workspace, [], quiet)


@dataclass(frozen=True)
class BaseSet:
    base: str
    folder: str


def use_base(workspace: Workspace, base: str, *, quiet: bool = False) -> BaseSet:
    """Check (for a hub id: download, with its progress on stderr unless `quiet`: the app's
    screen must not be written over) and set `[model] base`; a base that cannot be trained is
    refused with the reason and the setting stays."""
    answer = _ask(workspace, ["--use", base], quiet)
    if answer.get("error"):
        raise WorkspaceError(answer["error"])
    write_settings(workspace.config_path, "model", {"base": answer["base"]})
    return BaseSet(answer["base"], answer["folder"])


def _ask(workspace: Workspace | None, extra: list[str], quiet: bool) -> dict:
    command = [sys.executable, "-m", "slmtui.ml.bases", *extra]
    if workspace is not None:
        command += ["--workspace", str(workspace.root)]
    done = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None, text=True,
        timeout=3600,
    )  # fmt: skip
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise WorkspaceError(f"the bases check failed (exit {done.returncode})") from None


def describe_machine(machine: dict) -> str:
    where = "card" if machine["device"] == "cuda" else "RAM"
    checkpointing = ", gradient checkpointing" if machine["checkpointing"] else ""
    return (
        f"This machine: {machine['name']} with {machine['memory_gb']:g} GB of {where}; "
        f"{machine['preset']} preset, {machine['sequences']} x {machine['seq_len']} tokens a "
        f"pass, {machine['dtype']}{checkpointing}"
    )
