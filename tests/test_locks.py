"""One writer per workspace: locks held by real processes, refused or waited for, and taken over
at once from a process that was killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from slmtui.ingest.store import Store
from slmtui.locks import Busy, WorkLock
from slmtui.workspace import Workspace

HOLD = (
    "import sys, time; from pathlib import Path; from slmtui.locks import WorkLock; "
    "lock = WorkLock(Path(sys.argv[1]), sys.argv[2], detail=sys.argv[3]); "
    "lock.acquire(wait=False); print('held', flush=True); sys.stdin.read(); lock.release()"
)


def holder(state, work: str, detail: str = "") -> subprocess.Popen:
    """Another process holding `work`'s lock until its stdin is closed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state), work, detail],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_training_is_refused_naming_who_holds_it(tmp_path):
    other = holder(tmp_path, "training", "run-20261207-140200")
    try:
        with pytest.raises(Busy) as busy:
            WorkLock(tmp_path, "training").acquire(wait=False)
        said = str(busy.value)
        assert f"a training run started by the command line at {time.strftime('%H:')}" in said
        assert f"pid {other.pid}, run-20261207-140200" in said and "Ctrl-C" in said
        WorkLock(tmp_path, "export").acquire(wait=False)  # another kind of work is free
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    # The kernel let go of the killed process's lock: the next one takes it at once.
    lock = WorkLock(tmp_path, "training")
    lock.acquire(wait=False)
    lock.release()


def test_within_a_process_the_lock_is_reentrant_for_its_thread_only(tmp_path):
    lock = WorkLock(tmp_path, "ingest")
    lock.acquire(wait=False)
    WorkLock(tmp_path, "ingest").acquire(wait=False)  # the same thread, a pass inside a pass
    refused: list[Exception] = []

    def other_thread() -> None:
        try:
            WorkLock(tmp_path, "ingest").acquire(wait=False)
        except Busy as exc:
            refused.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(refused) == 1
    lock.release()
    lock.release()
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(refused) == 1  # free again: the other thread took it (and left it held)


def test_an_ingest_waits_for_the_pass_another_process_is_making(tmp_path):
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.writing / "note.md").write_text("The ferry ran late again, and nobody minded.\n")
    other = holder(workspace.state, "ingest", "a pass")
    ingest = subprocess.Popen(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "ingest"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(3)  # far longer than the pass takes when nobody holds the lock
        assert ingest.poll() is None  # still waiting
        with Store(workspace.db_path) as store:
            assert store.paths() == set()
    finally:
        other.stdin.close()  # the other pass ends
        other.wait()
    _, err = ingest.communicate(timeout=120)
    assert ingest.returncode == 0, err
    with Store(workspace.db_path) as store:
        assert store.paths() == {"note.md"}


def test_a_second_evaluation_is_refused_before_it_loads_anything(tmp_path):
    workspace = Workspace.init(tmp_path / "ws")
    other = holder(workspace.state, "evaluation", "v3")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "eval"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        other.stdin.close()
        other.wait()
    assert done.returncode == 2
    assert "This workspace is busy: an evaluation started by the command line" in done.stderr
    assert f"pid {other.pid}, v3" in done.stderr
