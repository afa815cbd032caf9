"""The request writer, run for real: the bundled base model writes the requests of planned chat
pairs into the store's cache through llama.cpp, and stops when asked; `BackgroundRequests` is
its one owner, for `slmtui watch` and the app."""

from __future__ import annotations

import shutil
import threading
import time

from slmtui.ingest.ingestor import Ingestor
from slmtui.jobs.background import BackgroundRequests
from slmtui.jobs.launch import start_requests
from slmtui.jobs.process import follow, stop_job
from tests.conftest import SAMPLES, request_counts, small_workspace

ESSAYS = sorted(path.name for path in (SAMPLES / "essays").iterdir())


def test_the_writer_writes_every_pending_request_then_stops_when_asked(tmp_path):
    workspace = small_workspace(tmp_path, ESSAYS[:2])
    before = request_counts(workspace)
    assert before.total > 0 and before.pending == before.total

    events = list(follow(start_requests(workspace)))
    assert events[0].kind == "started" and events[-1].kind == "finished"
    assert events[0].data["pending"] == before.total
    assert sum(e.kind == "progress" for e in events) == before.total
    after = request_counts(workspace)
    assert after.pending == 0 and events[-1].data == {**after.as_dict(), "stopped": False,
                                                      "time": events[-1].data["time"]}  # fmt: skip
    assert (workspace.logs / "background-events.jsonl").is_file()

    # More writing: a pass stopped after its first request leaves the rest pending.
    for name in ESSAYS[2:]:
        shutil.copy(SAMPLES / "essays" / name, workspace.writing / name)
    with Ingestor(workspace, workspace.load_config()) as ingestor:
        ingestor.scan()
    waiting = request_counts(workspace).pending
    job = start_requests(workspace)
    seen = []
    for event in follow(job):
        seen.append(event)
        if event.kind == "progress":
            stop_job(job)
    assert waiting > 2  # the request being written when the stop came, and at least one more
    assert seen[-1].kind == "finished" and seen[-1].data["stopped"]
    assert job.process.returncode == 0
    assert 0 < request_counts(workspace).pending < waiting


def test_a_base_that_is_not_a_gguf_has_nothing_to_prepare(tmp_path):
    workspace = small_workspace(tmp_path, ESSAYS[:1])
    text = workspace.config_path.read_text().replace('base = "default"', 'base = "/no/such/model"')
    workspace.config_path.write_text(text)
    events = list(follow(start_requests(workspace)))
    assert [e.kind for e in events] == ["finished"]
    assert "not a GGUF" in events[0].data["reason"]


def test_the_one_owner_waits_while_paused_and_writes_after(tmp_path):
    """Paused (a training or export job runs), a poke starts nothing; resumed, the next poke
    writes every pending request; a pause during a pass stops it after its request."""
    workspace = small_workspace(tmp_path, ESSAYS)
    assert request_counts(workspace).total > 3
    events, ended = [], threading.Event()
    owner = BackgroundRequests(workspace, events.append, ended.set)
    try:
        owner.pause()
        owner.poke()
        assert not owner.running and events == []
        owner.resume()
        owner.poke()
        deadline = time.monotonic() + 300
        while not any(e.kind == "progress" for e in events) and time.monotonic() < deadline:
            time.sleep(0.1)
        owner.pause()  # a heavy job starts mid-pass
        assert ended.wait(120) and not owner.running
        assert events[-1].kind == "finished" and events[-1].data["stopped"]
        assert request_counts(workspace).pending > 0
        ended.clear()
        owner.resume()
        owner.poke()
        assert ended.wait(300)
        assert events[-1].kind == "finished" and not events[-1].data["stopped"]
        assert request_counts(workspace).pending == 0
    finally:
        owner.close()
