"""The promises the README lists that no other test holds on its own."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

from tests.conftest import SAMPLES


def snapshot(folder) -> dict[str, tuple[int, int, str]]:
    """Every file under folder: size, modification time and content hash."""
    return {
        str(path.relative_to(folder)): (
            path.stat().st_size, path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*")) if path.is_file()
    }  # fmt: skip


def test_nothing_in_writing_is_ever_written(workspace):
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")
    shutil.copytree(SAMPLES / "chats", workspace.writing / "chats")
    before = snapshot(workspace.writing)
    root = str(workspace.root)
    for args in (
        ("ingest",), ("status", "--json"), ("dataset", "--json"),
        ("dataset", "exclude", "journal/2024-11-02.txt"), ("recall", "Bosun"),
        ("repair", "--force"), ("ingest",),
    ):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "slmtui.cli", "-w", root, *args],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stderr[-2000:])
    assert snapshot(workspace.writing) == before
