"""The real `slmtui demo` in a real terminal (tmux): it opens, ingests the samples, trains, chats
with the new adapter and quits, and each step is checked on the screen as a person would see it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from slmtui.chat.sessions import Sessions, chat_db_path
from slmtui.cli.writing import make_demo_workspace

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


def start_demo(demo_dir: Path) -> str:
    """`slmtui demo --dir DEMO_DIR` in a new detached 80x24 tmux session; returns its name."""
    session = f"slmtui-{uuid.uuid4().hex[:8]}"
    command = f"{SLMTUI} demo --dir {demo_dir}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM=xterm-256color",
         command)  # fmt: skip
    return session


def wait_until_gone(session: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while session in tmux("ls") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session not in tmux("ls"), f"slmtui did not quit; the screen showed:\n{screen(session)}"


def test_demo_opens_on_the_library_and_quits(tmp_path):
    demo_dir = tmp_path / "demo"
    session = start_demo(demo_dir)
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
        samples = Path(__file__).parents[1] / "samples"
        # Chat exports are listed as their chats: the four chats of samples/chats. The
        # questions beside the writing (samples/qa.json) are not copied into a demo.
        expected = sum(
            1 for p in samples.rglob("*")
            if p.is_file() and "chats" not in p.parts and p.name != "qa.json"
        )  # fmt: skip
        wait_for_screen(session, f"{expected + 1} files, 4 chats")
        tmux("send-keys", "-t", session, "C-End")  # the new file sorts last
        wait_for_screen(session, "zz-new-note.md")
        tmux("send-keys", "-t", session, "?")
        wait_for_screen(session, "this help")
        tmux("send-keys", "-t", session, "Escape")
        tmux("send-keys", "-t", session, "C-q")
        wait_until_gone(session)
    finally:
        tmux("kill-session", "-t", session)
    # The demo folder is a real workspace that the CLI can read afterwards.
    status = subprocess.run(
        [str(SLMTUI), "-w", str(demo_dir), "status"], capture_output=True, text=True, check=True
    )
    assert "zz-new-note.md" not in status.stdout  # not skipped
    assert "documents" in status.stdout


# The demo workspace set to train in seconds rather than minutes: the cpu-quick preset and its
# 512-token sequences (shorter ones would cut the replies off the samples' examples, leaving no
# tokens to learn from), but two steps of one sequence, and no held-out validation set (whose
# evaluation, once with the base and once with the adapter, would take longer than the steps).
QUICK_TRAINING = [
    ('preset = "auto"', 'preset = "cpu-quick"'),
    ("max_steps = 0", "max_steps = 2"),
    ("batch_tokens = 0", "batch_tokens = 512"),
    ("validation_fraction = 0.1", "validation_fraction = 0.0"),
]

PROMPT = "Tell me about the weather on the hill."
NEW_ENTRY = (
    "# Saturday\n\nThe heron stood in the burn all morning, grey and patient, and I stood at the "
    "window with the kettle going cold. The ferry was late again; the fog came in off the sound "
    "and sat on the hill like a lid.\n\n" * 3
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_trains_then_chats_with_the_new_adapter(tmp_path):
    demo_dir = tmp_path / "demo"
    workspace = make_demo_workspace(demo_dir)  # what `slmtui demo --dir` makes, then reopens
    text = workspace.config_path.read_text()
    for default, quick in QUICK_TRAINING:
        assert default in text
        text = text.replace(default, quick)
    workspace.config_path.write_text(text)

    session = start_demo(demo_dir)
    try:
        wait_for_screen(session, "watching ·")  # the first ingest pass is done
        # Chat exports are listed as their chats: the four of samples/chats.
        files = sum(
            1 for p in workspace.writing.rglob("*") if p.is_file() and "chats" not in p.parts
        )
        shown = wait_for_screen(session, f"{files} files, 4 chats")  # and the table shows it
        assert "Library" in shown and "essays/" in shown

        tmux("send-keys", "-t", session, "t")
        shown = wait_for_screen(session, "s start a run")
        assert "Train" in shown and "No run in progress." in shown

        tmux("send-keys", "-t", session, "s")
        # The plan appears once the child has loaded the base model and packed the examples.
        shown = wait_for_screen(session, "cpu-quick", timeout=300)
        assert "run-" in shown
        wait_for_screen(session, "finished 2 steps in", timeout=600)  # the log
        shown = wait_for_screen(session, "Training finished")  # the notification
        status = re.search(r"finished · step 2/2 · loss (\d+\.\d+)", shown)
        assert status and float(status[1]) > 0, shown  # the status line: it learnt from tokens
        runs = sorted(workspace.runs.glob("run-*"))
        assert len(runs) == 1 and (runs[0] / "adapter.gguf").is_file()
        run = runs[0].name
        # Requests were still being written in the background: those chunks trained as
        # 'continue' pairs, and the run says how many.
        manifest = json.loads((runs[0] / "dataset" / "manifest.json").read_text())
        assert manifest["stats"]["pending"] > 0

        tmux("send-keys", "-t", session, "c")
        shown = wait_for_screen(session, f"model: {run} (adapter)", timeout=120)
        assert "New conversation. Say something." in shown

        tmux("send-keys", "-t", session, "-l", PROMPT)
        wait_for_screen(session, PROMPT)  # typed into the input
        tmux("send-keys", "-t", session, "Enter")
        shown = wait_for_screen(session, "tok/s", timeout=180)  # the line under a finished reply
        assert re.search(r"\d+ tokens · [\d.]+ tok/s", shown), shown
        with Sessions(chat_db_path(workspace.state)) as store:
            (saved,) = store.list()
            lines = store.get(saved.id).messages
        assert [line.role for line in lines] == ["user", "assistant"]
        assert lines[0].content == PROMPT
        assert lines[1].model == f"{run} (adapter)"
        words = re.findall(r"[A-Za-z]{3,}", lines[1].content)
        assert words, f"the reply has no words: {lines[1].content!r}"
        # The reply's end shows above that line (once the training notification has gone).
        wait_for_screen(session, words[-1], timeout=15)

        # Drop a new file into writing/ and retrain: the new run reads it, chat switches to it.
        (workspace.writing / "zz-new-entry.md").write_text(NEW_ENTRY)
        tmux("send-keys", "-t", session, "Escape")  # out of the chat input, back to the Library
        wait_for_screen(session, f"{files + 1} files, 4 chats", timeout=60)  # the watcher read it
        tmux("send-keys", "-t", session, "r")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = sorted(workspace.runs.glob("run-*"))
            if len(runs) == 2 and (runs[1] / "metrics.json").is_file():
                break
            time.sleep(0.5)
        wait_for_screen(session, "finished · step")
        assert len(runs) == 2 and (runs[1] / "adapter.gguf").is_file()
        started = json.loads((runs[1] / "events.jsonl").read_text().splitlines()[0])
        assert started["event"] == "started" and started["continues"] == run
        snapshot = (runs[1] / "dataset" / "train.jsonl").read_text()
        assert "heron stood in the burn" in snapshot
        tmux("send-keys", "-t", session, "c")
        wait_for_screen(session, f"model: {runs[1].name} (adapter)", timeout=120)

        tmux("send-keys", "-t", session, "C-q")
        wait_until_gone(session)
    finally:
        tmux("kill-session", "-t", session)
