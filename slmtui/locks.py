"""One writer per workspace: an advisory lock per kind of work, across every slmtui process.

The app, `slmtui watch` and every command may touch one workspace at once. Each kind of work
that writes it takes its lock in `.slmtui/locks/` for as long as it runs: an ingest pass (a
second one waits for the first), a training run, an export, an evaluation (a second one is
refused, with who holds the lock and how to stop it). The locks are `flock`s, so the kernel
releases the lock of a process that dies however it dies, and the next one takes it at once;
the file also says who holds it, for the message.

Within one process a lock is re-entrant for the thread holding it (an ingest pass that starts
another pass) and excludes the process's other threads, as it excludes other processes.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WORK = {
    "ingest": "an ingest pass",
    "training": "a training run",
    "export": "an export",
    "evaluation": "an evaluation",
}
# Who starts slmtui's processes: the app says so in the environment its children inherit.
STARTED_BY = "SLMTUI_STARTED_BY"


class Busy(RuntimeError):
    """Another process (or thread) holds the lock; the message says who and what to do."""


@dataclass(frozen=True)
class Holder:
    work: str
    pid: int
    started: float
    by: str
    detail: str = ""

    def describe(self) -> str:
        """'a training run started by the app at 14:02 (pid 4121, run-20261207-140200)'."""
        when = time.strftime("%H:%M", time.localtime(self.started))
        what = ", ".join(part for part in (f"pid {self.pid}", self.detail) if part)
        return f"{WORK.get(self.work, self.work)} started by {self.by} at {when} ({what})"


@dataclass
class _Held:
    fd: int
    depth: int


_guard = threading.Lock()
_threads: dict[Path, threading.RLock] = {}
_held: dict[Path, _Held] = {}


class WorkLock:
    """The lock of one kind of work on one workspace (`state`: its `.slmtui/` folder)."""

    def __init__(self, state: Path, work: str, detail: str = "") -> None:
        if work not in WORK:
            raise ValueError(f"unknown work {work!r}")
        self.path = state / "locks" / f"{work}.lock"
        self.work = work
        self.detail = detail

    def acquire(self, wait: bool) -> None:
        """Take the lock, waiting for it or refusing (Busy) when another holds it."""
        with _guard:
            local = _threads.setdefault(self.path, threading.RLock())
        if not local.acquire(blocking=wait):
            raise Busy(self._busy_message(self._holder()))
        try:
            self._take(wait)
        except BaseException:
            local.release()
            raise

    def _take(self, wait: bool) -> None:
        held = _held.get(self.path)
        if held is not None:  # this thread holds it already (the RLock let it in)
            held.depth += 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise Busy(self._busy_message(self._holder())) from None
        holder = Holder(self.work, os.getpid(), time.time(), started_by(), self.detail)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder.__dict__).encode(), 0)
        _held[self.path] = _Held(fd, 1)

    def release(self) -> None:
        held = _held[self.path]
        held.depth -= 1
        if held.depth == 0:
            del _held[self.path]
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)
        _threads[self.path].release()

    def _holder(self) -> Holder | None:
        try:
            return Holder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _busy_message(self, holder: Holder | None) -> str:
        if holder is None:
            return f"Another slmtui process is running {WORK[self.work]} on this workspace."
        return f"This workspace is busy: {holder.describe()}; {how_to_stop(holder)}."

    def __enter__(self) -> WorkLock:
        self.acquire(wait=self.work == "ingest")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def how_to_stop(holder: Holder) -> str:
    if holder.by == "the command line":
        return "stop it with Ctrl-C where it runs, or wait for it"
    if holder.by == "the app" and holder.work == "training":
        return "stop it with x on the app's Train screen, or wait for it"
    return "wait for it"


def started_by() -> str:
    return os.environ.get(STARTED_BY, "the command line")
