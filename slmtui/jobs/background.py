"""The one owner of background work: the request writer (the "requests" job), for `slmtui watch`
and the app alike.

One pass at a time, started after an ingest pass (`poke`); new chunks arriving during a pass ask
for one more after it. A training or export job pauses it (`pause`, counted, so two heavy jobs
need two `resume`s), because they need the cores and the base model; a pass that starts just as
a pause arrives is stopped at once. Its events go to one callback, from a thread: the CLI prints
them, the app posts them as messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from slmtui.jobs.events import REQUESTS, JobEvent
from slmtui.jobs.launch import start_requests
from slmtui.jobs.process import RunningJob, follow, stop_job
from slmtui.workspace import Workspace


class BackgroundRequests:
    """Keeps the chat-pair requests of new chunks being written while slmtui is open."""

    def __init__(
        self,
        workspace: Workspace,
        on_event: Callable[[JobEvent], None],
        on_end: Callable[[], None] = lambda: None,
    ):
        self.workspace = workspace
        self.on_event = on_event
        self.on_end = on_end  # a pass ended and no other follows for now
        self.job: RunningJob | None = None
        self._thread: threading.Thread | None = None
        self._again = False  # new chunks arrived while a pass ran: one more pass after it
        self._paused = 0  # heavy jobs running
        self._lock = threading.Lock()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether a pass is running, or about to start."""
        with self._lock:
            return self._thread is not None

    def poke(self) -> None:
        """New chunks may need requests: start a pass, or one more after the running one
        (none while paused)."""
        with self._lock:
            if self._closed or self._paused:
                return
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def pause(self) -> None:
        """A training or export job starts: stop the pass (after the request being written)."""
        with self._lock:
            self._paused += 1
            job = self.job
        if job is not None:
            stop_job(job)

    def resume(self) -> None:
        """A training or export job ended; once none is left, `poke` starts passes again."""
        with self._lock:
            self._paused = max(0, self._paused - 1)

    def _run(self) -> None:
        """Passes until nothing asked for another; the decision to stop and the owner's
        `_thread` are cleared together, so a poke that comes after always starts a new one."""
        try:
            while True:
                job = start_requests(self.workspace)
                with self._lock:
                    self.job, self._again = job, False
                    stop_now = self._paused > 0 or self._closed
                if stop_now:
                    stop_job(job)
                for event in follow(job):
                    self.on_event(event)
                with self._lock:
                    self.job = None
                    if not self._again or self._closed or self._paused:
                        self._thread = None
                        break
        except Exception as exc:  # the job could not start: said like a failed pass
            with self._lock:
                self.job = self._thread = None
            self.on_event(JobEvent.failed(REQUESTS, str(exc)))
        self.on_end()

    def close(self) -> None:
        """Stop the running pass (after the request being written) and start no other."""
        with self._lock:
            self._closed = True
            job, thread = self.job, self._thread
        if job is not None:
            stop_job(job)
        if thread is not None:
            thread.join(timeout=30)
