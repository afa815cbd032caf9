"""The real `slmtui demo` in a real terminal (tmux): it opens, ingests the samples, quits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

SLMTUI = Path(sys.executable).parent / "slmtui"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for_screen(session: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen showed:\n{screen(session)}")


def test_demo_opens_on_the_library_and_quits(tmp_path):
    session = f"slmtui-{uuid.uuid4().hex[:8]}"
    demo_dir = tmp_path / "demo"
    command = f"{SLMTUI} demo --dir {demo_dir}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM=xterm-256color",
         command)  # fmt: skip
    try:
        shown = wait_for_screen(session, "essays/")
        assert "Library" in shown
        shown = wait_for_screen(session, "Documents")
        # The dataset panel fills in once the first pass is done.
        deadline = time.monotonic() + 60
        while "watching ·" not in shown and time.monotonic() < deadline:
            time.sleep(0.2)
            shown = screen(session)
        assert "watching ·" in shown
        (demo_dir / "writing" / "zz-new-note.md").write_text(
            "# Note\n\nMind you, the wind backed south-west before the kettle had boiled, "
            "and the Minister went off up the burn in a huff."
        )
        expected = sum(1 for p in (Path(__file__).parents[1] / "samples").rglob("*") if p.is_file())
        wait_for_screen(session, f"{expected + 1} files")
        tmux("send-keys", "-t", session, "C-End")  # the new file sorts last
        wait_for_screen(session, "zz-new-note.md")
        tmux("send-keys", "-t", session, "?")
        wait_for_screen(session, "this help")
        tmux("send-keys", "-t", session, "Escape")
        tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 15
        while session in tmux("ls") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session not in tmux("ls"), "slmtui did not quit on ctrl+q"
    finally:
        tmux("kill-session", "-t", session)
    # The demo folder is a real workspace that the CLI can read afterwards.
    status = subprocess.run(
        [str(SLMTUI), "-w", str(demo_dir), "status"], capture_output=True, text=True, check=True
    )
    assert "zz-new-note.md" not in status.stdout  # not skipped
    assert "documents" in status.stdout
