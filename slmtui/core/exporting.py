"""The parent side of an export: start `python -m slmtui.ml.export` and read its events.

Like training, export runs in a child process (torch, transformers and llama.cpp's quantizer
load there, never in the app). Its events go to the run's `export-events.jsonl` as well.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

from slmtui.core.training import RunFolder, TrainEvent, follow, format_seconds, start_child
from slmtui.workspace import Workspace

QUANTS = ("F16", "Q8_0", "Q4_K_M")


class ExportEvent(TrainEvent):
    KINDS = ("started", "stage", "verified", "published", "failed")
    JOB = "export"

    def describe(self) -> str:
        d = self.data
        if self.kind == "started":
            return f"exporting {d['run']} as {d['quant']} (base {d['base']})"
        if self.kind == "stage":
            what = f" ({d['what']})" if d.get("what") else ""
            return f"  {d['stage']}{what}: {format_seconds(d['seconds'])}"
        if self.kind == "verified":
            lines = [
                f"  {'ok  ' if check['passed'] else 'FAIL'} {check['name']}: {check['detail']}"
                for check in d["checks"]
            ]
            return "verification:\n" + "\n".join(lines)
        if self.kind == "published":
            return (
                f"published {d['version']} ({d['size_bytes'] / 2**20:.1f} MiB): {d['gguf']}; "
                "chat now uses it"
            )
        stage = f" during {d['stage']}" if d.get("stage") else ""
        return f"export failed{stage}: {d.get('reason', 'unknown reason')}"


def start_export(
    workspace: Workspace, run: RunFolder, quant: str = "F16", *, chat_check: bool = True
) -> subprocess.Popen:
    workspace.ensure_state()
    command = [
        sys.executable, "-m", "slmtui.ml.export", str(run.path), str(workspace.models),
        "--quant", quant,
    ]  # fmt: skip
    if not chat_check:
        command.append("--no-chat-check")
    return start_child(run, command)


def follow_export(run: RunFolder, process: subprocess.Popen) -> Iterator[ExportEvent]:
    yield from follow(run, process, ExportEvent, "export-events.jsonl")
