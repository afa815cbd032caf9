"""The parent side of an evaluation for the app: `slmtui eval` in a child process.

Evaluation loads llama.cpp models and generates for minutes; in a child process it can neither
block nor crash the app, and the result it leaves is the same `eval.json` the CLI writes. Its
progress lines ("writing: v2 3/12") arrive on stderr as they happen.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from slmtui.workspace import Workspace


@dataclass(frozen=True)
class EvalOutcome:
    """How the child ended: the saved result folder's eval.json as a dict, or why it failed."""

    result: dict | None
    error: str | None = None


def start_eval(workspace: Workspace, version: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "eval"]
    command += ["--model", version]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
    )


def follow_eval(
    workspace: Workspace, version: str, process: subprocess.Popen
) -> Iterator[str | EvalOutcome]:
    """Progress lines while the child runs, then one EvalOutcome."""
    from slmtui.eval.evaluate import load_saved

    assert process.stderr is not None
    said: list[str] = []
    for line in process.stderr:
        line = line.strip()
        if line.startswith("slmtui: "):
            said.append(line.removeprefix("slmtui: "))
        elif line:
            said.append(line)
            yield line
    code = process.wait()
    if code != 0:
        reason = said[-1] if said else f"the evaluation ended with code {code}"
        yield EvalOutcome(None, reason)
        return
    result = load_saved(workspace.models / version)
    yield EvalOutcome(result, None if result else "the evaluation left no readable eval.json")
