"""Background preparation for `slmtui watch`: one preparation job at a time, started after
each ingest pass, its events handed to a callback from a thread (the app has its own worker for
the same job, slmtui.tui.app)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from slmtui.jobs.events import JobEvent
from slmtui.jobs.launch import start_preparation
from slmtui.jobs.process import RunningJob, follow, stop_job
from slmtui.workspace import Workspace


class BackgroundPreparation:
    """Keeps the chat-pair requests of new chunks being written while `slmtui watch` runs."""

    def __init__(self, workspace: Workspace, on_event: Callable[[JobEvent], None]):
        self.workspace = workspace
        self.on_event = on_event
        self.job: RunningJob | None = None
        self._thread: threading.Thread | None = None
        self._again = False  # new chunks arrived while a pass ran: one more pass after it
        self._lock = threading.Lock()
        self._closed = False

    def poke(self) -> None:
        """New chunks may need requests: start a pass, or one more after the running one."""
        with self._lock:
            if self._closed:
                return
            if self._thread is not None and self._thread.is_alive():
                self._again = True
                return
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            job = start_preparation(self.workspace)
            with self._lock:
                self.job, self._again = job, False
            for event in follow(job):
                self.on_event(event)
            with self._lock:
                self.job = None
                if not self._again or self._closed:
                    return

    def close(self) -> None:
        """Stop the running pass (after the request being written) and start no other."""
        with self._lock:
            self._closed = True
            job, thread = self.job, self._thread
        if job is not None:
            stop_job(job)
        if thread is not None:
            thread.join(timeout=30)
