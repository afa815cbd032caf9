"""FolderWatcher and LiveIngest against a real watchdog observer on real temporary folders."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slmtui.config import Config, with_changes
from slmtui.ingest.ingestor import Ingestor, IngestReport
from slmtui.ingest.store import DocumentRow, Store
from slmtui.ingest.watcher import FolderWatcher, LiveIngest
from slmtui.workspace import Workspace

DEBOUNCE = 0.2
POLL = 0.05
WAIT = 10.0


def wait_for(condition: Callable[[], object], timeout: float = WAIT, what: str = "") -> None:
    """Poll condition until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    if condition():
        return
    pytest.fail(f"timed out after {timeout:g}s waiting for {what or condition}")


_WORDS = (
    "river",
    "lantern",
    "quietly",
    "orbit",
    "velvet",
    "harbor",
    "mosaic",
    "thunder",
    "pencil",
    "garden",
    "meadow",
    "copper",
    "whisper",
    "ladder",
    "marble",
    "cobalt",
    "saffron",
    "tunnel",
    "compass",
    "feather",
    "glacier",
    "ember",
    "willow",
    "canyon",
    "violet",
    "anchor",
    "prairie",
    "falcon",
    "lemon",
    "signal",
    "basket",
    "hollow",
    "crimson",
    "ribbon",
    "summit",
    "pebble",
    "orchard",
    "beacon",
    "tangent",
    "shadow",
    "maple",
    "cinder",
    "walrus",
    "puzzle",
    "juniper",
)


def prose(seed: int, words: int = 60) -> str:
    """Distinct, deterministic text long enough to make at least one chunk."""
    rng = random.Random(seed)
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return f"Entry {seed}. {body.capitalize()}.\n"


# -- FolderWatcher -----------------------------------------------------------------------------


class Batches:
    """Thread-safe record of (arrival time, batch) pairs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[float, list[Path]]] = []

    def __call__(self, batch: list[Path]) -> None:
        with self._lock:
            self._items.append((time.monotonic(), list(batch)))

    @property
    def items(self) -> list[tuple[float, list[Path]]]:
        with self._lock:
            return list(self._items)

    def union(self) -> set[Path]:
        return {path for _, batch in self.items for path in batch}

    def containing(self, path: Path) -> list[tuple[float, list[Path]]]:
        return [(at, batch) for at, batch in self.items if path in batch]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "root" / "writing"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def batches() -> Batches:
    return Batches()


@pytest.fixture
def watcher(folder: Path, batches: Batches) -> Iterator[FolderWatcher]:
    watcher = FolderWatcher(folder, batches, debounce=DEBOUNCE, poll=POLL)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()


def settle() -> None:
    """Long enough for any further batch to have been delivered."""
    time.sleep(DEBOUNCE + 6 * POLL)


def test_new_file_arrives_once_after_debounce(watcher, folder, batches):
    path = folder / "note.md"
    written = time.monotonic()
    path.write_text("hello\n")
    wait_for(lambda: path in batches.union(), what="note.md")
    settle()
    hits = batches.containing(path)
    assert len(hits) == 1
    assert hits[0][0] - written >= DEBOUNCE
    assert watcher.pending == 0


def test_file_written_in_steps_arrives_once_after_it_settles(watcher, folder, batches):
    path = folder / "draft.txt"
    with path.open("w") as handle:
        handle.write("first part\n")
        handle.flush()
        for _ in range(3):
            time.sleep(DEBOUNCE / 2)
            handle.write("more\n")
            handle.flush()
    finished = time.monotonic()
    wait_for(lambda: path in batches.union(), what="draft.txt")
    settle()
    hits = batches.containing(path)
    assert len(hits) == 1
    assert hits[0][0] - finished >= DEBOUNCE * 0.9  # only after the last write settled
    assert path.read_text() == "first part\nmore\nmore\nmore\n"


def test_modified_file_arrives(watcher, folder, batches):
    path = folder / "a.txt"
    path.write_text("one\n")
    wait_for(lambda: path in batches.union(), what="creation")
    settle()
    batches.clear()
    with path.open("a") as handle:
        handle.write("two\n")
    wait_for(lambda: path in batches.union(), what="modification")
    settle()
    assert len(batches.containing(path)) == 1


@pytest.mark.parametrize("poll", [POLL, 0.15])
def test_rename_delivers_source_and_destination_together(folder, batches, poll):
    # A poll interval near the debounce makes a split (source one poll before destination)
    # likely if the two ends of a move do not settle together; try a few moves.
    watcher = FolderWatcher(folder, batches, debounce=DEBOUNCE, poll=poll)
    watcher.start()
    try:
        (folder / "sub").mkdir()
        here = folder / "old.md"
        here.write_text("text\n")
        wait_for(lambda: here in batches.union(), what="creation")
        for step in range(3):
            wait_for(lambda: watcher.pending == 0, what="nothing pending")
            batches.clear()
            there = folder / "sub" / f"new{step}.md"
            here.rename(there)
            both = {here, there}
            wait_for(lambda both=both: both <= batches.union(), what="both rename paths")
            # One batch holds both, so a consumer sees a rename, not a delete then an add.
            assert any(here in batch and there in batch for _, batch in batches.items)
            here = there
    finally:
        watcher.stop()


def test_deleted_file_arrives(watcher, folder, batches):
    path = folder / "gone.txt"
    path.write_text("bye\n")
    wait_for(lambda: path in batches.union(), what="creation")
    settle()
    batches.clear()
    path.unlink()
    wait_for(lambda: path in batches.union(), what="deletion")
    assert not path.exists()


def test_burst_of_files_all_arrive(watcher, folder, batches):
    names = {folder / f"f{i:04d}.txt" for i in range(1000)}
    for path in names:
        path.write_text(f"{path.name}\n")
    wait_for(lambda: names <= batches.union(), what="all 1000 files")
    settle()
    assert names <= batches.union()
    assert len(batches.items) < 50  # settled changes travel together, not one by one
    assert watcher.pending == 0


def test_writing_folder_deleted_and_made_again(watcher, folder, batches):
    (folder / "sub").mkdir()
    (folder / "sub" / "x.txt").write_text("x\n")
    wait_for(lambda: folder / "sub" / "x.txt" in batches.union(), what="first file")
    settle()
    batches.clear()

    shutil.rmtree(folder)
    wait_for(lambda: folder in batches.union(), what="the folder's deletion")
    wait_for(lambda: watcher.pending == 0, what="nothing pending")
    batches.clear()
    folder.mkdir()
    wait_for(lambda: folder in batches.union(), what="the folder made again")
    wait_for(lambda: watcher.pending == 0, what="nothing pending")
    batches.clear()

    path = folder / "after.txt"
    path.write_text("still watched\n")
    wait_for(lambda: path in batches.union(), what="file in the new folder")
    settle()

    # Deleted and made again at once, with a file straight away: the file may be written
    # before the new folder is watched, so the folder itself (rescan it) is the signal then.
    batches.clear()
    shutil.rmtree(folder)
    folder.mkdir()
    again = folder / "again.txt"
    again.write_text("and again\n")
    wait_for(lambda: {again, folder} & batches.union(), what="the remade folder or its file")
    wait_for(lambda: watcher.pending == 0, what="nothing pending")
    batches.clear()
    last = folder / "last.txt"
    last.write_text("last\n")
    wait_for(lambda: last in batches.union(), what="file in the remade folder")


def test_failing_consumer_does_not_stop_the_watcher(folder):
    seen: list[Path] = []

    def consume(batch: list[Path]) -> None:
        seen.extend(batch)
        raise RuntimeError("boom")

    watcher = FolderWatcher(folder, consume, debounce=DEBOUNCE, poll=POLL)
    watcher.start()
    try:
        (folder / "one.txt").write_text("1\n")
        wait_for(lambda: folder / "one.txt" in seen, what="first batch")
        (folder / "two.txt").write_text("2\n")
        wait_for(lambda: folder / "two.txt" in seen, what="second batch")
    finally:
        watcher.stop()


# -- LiveIngest --------------------------------------------------------------------------------


class Reports:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: list[IngestReport] = []
        self.errors: list[str] = []

    def __call__(self, report: IngestReport) -> None:
        with self._lock:
            self._reports.append(report)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    @property
    def all(self) -> list[IngestReport]:
        with self._lock:
            return list(self._reports)

    def changes(self, kind: str) -> list[str]:
        return [c.path for report in self.all for c in report.changes if c.kind == kind]


def fast(config: Config) -> Config:
    return with_changes(config, "watch", debounce_seconds=DEBOUNCE, poll_seconds=POLL)


class Live:
    """A running LiveIngest plus a main-thread view of its store."""

    def __init__(self, workspace: Workspace, tokenizer) -> None:
        self.workspace = workspace
        self.writing = workspace.writing
        self.reports = Reports()
        config = fast(workspace.load_config())
        self.threads: set[str] = set()

        def factory() -> Ingestor:
            self.threads.add(threading.current_thread().name)
            return Ingestor(workspace, config, tokenizer=tokenizer)

        self.live = LiveIngest(
            workspace,
            config,
            self.reports,
            on_error=self.reports.error,
            ingestor_factory=factory,
        )
        self.store = Store(workspace.db_path)

    def start(self) -> Live:
        self.live.start()
        wait_for(self.live.ready.is_set, what="the initial scan")
        return self

    def stop(self) -> None:
        self.live.stop()
        self.store.close()

    def doc(self, rel: str) -> DocumentRow | None:
        return next((row for row in self.store.documents() if row.path == rel), None)

    def wait_doc(self, rel: str, check: Callable[[DocumentRow], bool] = lambda row: True):
        def ok() -> bool:
            row = self.doc(rel)
            return row is not None and check(row)

        wait_for(ok, what=f"document {rel}")
        return self.doc(rel)


@pytest.fixture
def live(workspace: Workspace, tokenizer) -> Iterator[Live]:
    (workspace.writing / "existing.md").write_text(prose(1), encoding="utf-8")
    running = Live(workspace, tokenizer)
    try:
        yield running.start()
    finally:
        running.stop()
    assert not running.live._thread.is_alive()
    assert running.reports.errors == []


def test_initial_scan_is_reported(live):
    first = live.reports.all[0]
    assert [(c.path, c.kind) for c in first.changes] == [("existing.md", "added")]
    assert live.threads == {"slmtui-ingest"}
    assert live.doc("existing.md").status == "ok"


def test_new_edited_renamed_and_deleted_file(live):
    path = live.writing / "essay.md"
    path.write_text("# Essay\n\n" + prose(2), encoding="utf-8")
    row = live.wait_doc("essay.md", lambda row: row.status == "ok" and row.chunks >= 1)
    assert "essay.md" in live.reports.changes("added")
    before = live.store.chunks_of("essay.md")

    # Edit: the chunks follow the new text; the split key stays that of the first version.
    path.write_text("# Essay\n\n" + prose(3, words=400), encoding="utf-8")
    edited = live.wait_doc("essay.md", lambda r: r.content_hash != row.content_hash)
    after = live.store.chunks_of("essay.md")
    assert after != before
    assert edited.chunks > row.chunks
    assert edited.split_key == row.split_key
    assert "essay.md" in live.reports.changes("updated")

    # Rename: same row, same split key, reported as a rename.
    (live.writing / "archive").mkdir()
    path.rename(live.writing / "archive" / "essay.md")
    moved = live.wait_doc("archive/essay.md")
    wait_for(lambda: live.doc("essay.md") is None, what="old path gone")
    assert moved.id == edited.id
    assert moved.split_key == row.split_key
    assert moved.content_hash == edited.content_hash
    assert "archive/essay.md" in live.reports.changes("renamed")
    assert "essay.md" not in live.reports.changes("removed")
    assert "archive/essay.md" not in live.reports.changes("added")

    # Delete.
    (live.writing / "archive" / "essay.md").unlink()
    wait_for(lambda: live.doc("archive/essay.md") is None, what="row removed")
    assert "archive/essay.md" in live.reports.changes("removed")
    assert live.doc("existing.md").status == "ok"


def test_writing_folder_deleted_and_recreated(live):
    shutil.rmtree(live.writing)
    live.writing.mkdir()
    (live.writing / "fresh.md").write_text(prose(4), encoding="utf-8")
    fresh = live.wait_doc("fresh.md", lambda row: row.status == "ok")
    assert fresh.chunks >= 1
    wait_for(lambda: live.doc("existing.md") is None, what="the old file's row removed")

    # Still watching the new folder afterwards.
    (live.writing / "later.txt").write_text(prose(5), encoding="utf-8")
    live.wait_doc("later.txt", lambda row: row.status == "ok")


def test_burst_of_files_all_ingested(live):
    expected = {"existing.md"} | {f"burst/n{i:04d}.txt" for i in range(1000)}
    burst = live.writing / "burst"
    burst.mkdir()
    for i in range(1000):
        (burst / f"n{i:04d}.txt").write_text(prose(100 + i, words=30), encoding="utf-8")

    def all_in() -> bool:
        rows = live.store.documents()
        return {row.path for row in rows if row.status == "ok"} >= expected

    wait_for(all_in, timeout=30, what="all 1000 documents")
    rows = live.store.documents()
    assert {row.path for row in rows} == expected
    assert all(row.status == "ok" and row.chunks >= 1 for row in rows)
    assert len(live.reports.all) < 100


def test_stopping_twice_is_harmless(workspace, tokenizer):
    running = Live(workspace, tokenizer)
    running.start()
    running.stop()
    running.stop()  # stopping twice is harmless
    assert not running.live._thread.is_alive()
    assert os.path.isdir(workspace.writing)
