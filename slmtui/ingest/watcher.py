"""Watch the writing folder and hand over settled changes in batches.

Editors and sync tools write a file in several steps (truncate, write, rename, touch), so a path
is only passed on once its size and mtime have stayed the same for `debounce` seconds; everything
that settled by then goes out as one batch. The workspace folder itself is watched too, so that
the writing folder can be deleted and made again without the watcher going deaf.

`LiveIngest` joins a watcher to an `Ingestor` on one thread of its own (SQLite connections belong
to one thread) and reports each pass through a callback: the CLI prints it, the app turns it
into a Textual message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from slmtui.config import Config
from slmtui.ingest.ingestor import Ingestor, IngestReport
from slmtui.workspace import Workspace

log = logging.getLogger(__name__)

Batch = list[Path]


class _Handler(FileSystemEventHandler):
    def __init__(self, on_paths: Callable[[list[str]], None]):
        self.on_paths = on_paths

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(os.fsdecode(dest))
        # Both ends of a move in one call: they must settle together (see _mark).
        self.on_paths(paths)


class FolderWatcher:
    """Calls on_batch(paths) from its own thread with paths whose changes have settled."""

    def __init__(
        self,
        folder: Path,
        on_batch: Callable[[Batch], None],
        *,
        debounce: float = 0.4,
        poll: float = 0.1,
    ):
        self.folder = Path(os.path.abspath(folder))
        self.on_batch = on_batch
        self.debounce = debounce
        self.poll = poll
        self._pending: dict[str, tuple[tuple[int, int] | None, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = Observer()
        self._folder_watch = None
        self._thread = threading.Thread(target=self._run, name="slmtui-watch", daemon=True)

    def start(self) -> None:
        self._observer.schedule(_Handler(self._on_parent_event), str(self.folder.parent))
        self._watch_folder()
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _watch_folder(self) -> None:
        """(Re)attach the recursive watch on the writing folder, if it exists now."""
        if self._folder_watch is not None:
            # KeyError/ValueError: the emitter already stopped when the folder went away.
            with contextlib.suppress(KeyError, ValueError):
                self._observer.unschedule(self._folder_watch)
            self._folder_watch = None
        if self.folder.is_dir():
            try:
                self._folder_watch = self._observer.schedule(
                    _Handler(self._mark), str(self.folder), recursive=True
                )
            except OSError as exc:  # deleted again between the check and the schedule
                log.warning("cannot watch %s: %s", self.folder, exc)

    def _on_parent_event(self, paths: list[str]) -> None:
        if str(self.folder) not in {os.path.abspath(path) for path in paths}:
            return
        self._watch_folder()
        self._mark([str(self.folder)])

    def _mark(self, paths: list[str]) -> None:
        """Note paths as changed now, with their current signature.

        Taking the signature here (not at the next poll) and one timestamp for all paths of an
        event makes a rename's source (gone) and destination (present) settle at the same poll,
        so they arrive in one batch and the consumer sees a rename, not a delete then an add.
        """
        signatures = [(path, _signature(path)) for path in paths]
        now = time.monotonic()
        with self._lock:
            for path, signature in signatures:
                self._pending[path] = (signature, now)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            ready = self._settled()
            if ready:
                try:
                    self.on_batch(ready)
                except Exception:  # a failing consumer must not kill the watcher
                    log.exception("processing a batch of %d changes failed", len(ready))

    def _settled(self) -> Batch:
        now = time.monotonic()
        ready: Batch = []
        with self._lock:
            snapshot = list(self._pending.items())
        for path, (last_seen, since) in snapshot:
            current = _signature(path)
            with self._lock:
                if self._pending.get(path, (None, None))[1] != since:
                    continue  # a new event arrived meanwhile; look again next time
                if current != last_seen:
                    self._pending[path] = (current, now)
                elif now - since >= self.debounce:
                    del self._pending[path]
                    ready.append(Path(path))
        return ready


def _signature(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


class LiveIngest:
    """A full ingest pass, then one pass per settled batch of changes, on a single thread."""

    def __init__(
        self,
        workspace: Workspace,
        config: Config,
        on_report: Callable[[IngestReport], None],
        *,
        on_error: Callable[[str], None] | None = None,
        ingestor_factory: Callable[[], Ingestor] | None = None,
    ):
        self.workspace = workspace
        self.config = config
        self.on_report = on_report
        self.on_error = on_error or (lambda message: log.error("%s", message))
        self._factory = ingestor_factory or (lambda: Ingestor(workspace, config))
        self._batches: queue.Queue[Batch | None] = queue.Queue()
        self._watcher = FolderWatcher(
            workspace.writing,
            self._batches.put,
            debounce=config.watch.debounce_seconds,
            poll=config.watch.poll_seconds,
        )
        self._thread = threading.Thread(target=self._run, name="slmtui-ingest", daemon=True)
        self.ready = threading.Event()

    def start(self) -> None:
        self._watcher.start()
        self._thread.start()

    def stop(self) -> None:
        self._watcher.stop()
        self._batches.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            ingestor = self._factory()
        except Exception as exc:
            self.on_error(f"Cannot start ingest: {exc}")
            return
        try:
            self._pass(ingestor.scan)
            self.ready.set()
            while True:
                batch = self._batches.get()
                if batch is None:
                    return
                paths = set(batch)
                while not self._batches.empty():  # coalesce what queued up meanwhile
                    more = self._batches.get()
                    if more is None:
                        return
                    paths.update(more)
                self._pass(lambda paths=paths: ingestor.sync(sorted(paths)))
        finally:
            ingestor.close()

    def _pass(self, run: Callable[[], IngestReport]) -> None:
        try:
            report = run()
        except Exception as exc:
            log.exception("ingest pass failed")
            self.on_error(f"Ingest failed: {exc.__class__.__name__}: {exc}")
            return
        self.on_report(report)
