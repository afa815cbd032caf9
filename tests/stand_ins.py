"""Stand-ins for the tools of a machine with an NVIDIA card, for tests on machines without one:
a script on PATH that prints what the real tool would."""

from __future__ import annotations

from pathlib import Path


def stand_in(folder: Path, name: str, output: str) -> Path:
    """An executable `folder/name` that prints `output` (nvidia-smi's query lines, nvcc's
    version)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    script.chmod(0o755)
    return script
