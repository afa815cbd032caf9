"""The request writer, a background job: `python -m slmtui.jobs.requests WORKSPACE`.

While the app or `slmtui watch` runs, the base model writes the requests of the chat pairs that
new chunks are planned to become, one at a time, into the store's cache; so a retrain finds
them ready instead of spending minutes on them first. It runs at a lower priority than the app
(slmtui.jobs), is owned by `jobs/background.py`: paused while a training or export job runs,
and stops at the next request on SIGTERM. Events: started and progress (the counts of
`RequestStatus`), finished (stopped or done).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from slmtui.jobs.events import emit
from slmtui.workspace import Workspace


class Stopped(Exception):
    """SIGTERM arrived: leave after the request being written."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.jobs.requests")
    parser.add_argument("workspace", type=Path)
    args = parser.parse_args(argv)
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    try:
        return write_requests(Workspace.open(args.workspace), stop)
    except Exception as exc:
        emit("failed", reason=f"{type(exc).__name__}: {exc}"[:1000])
        return 1


def write_requests(workspace: Workspace, stop: dict) -> int:
    """Write every pending request, or until `stop` says so; the counts go out as events."""
    from slmtui.dataset.generator import generator_for
    from slmtui.dataset.requests import planned_requests, request_status, write_missing
    from slmtui.ingest.store import Store

    config = workspace.load_config()
    generator = generator_for(config.model.base)
    if generator is None:
        emit("finished", stopped=False, reason="the base model is not a GGUF: no requests")
        return 0
    with Store(workspace.db_path) as store:
        planned = planned_requests(store, config.dataset)  # read once: the chunks' texts

        def status():
            return request_status(store, config.dataset, generator.key, planned)

        emit("started", **status().as_dict())

        def progress(done: int, total: int) -> None:
            if done:
                emit("progress", **status().as_dict())

        def write(prompt: str) -> str:
            if stop["requested"]:  # checked before each request, so a stop waits for none
                raise Stopped
            return generator(prompt)

        stopped = False
        try:
            write_missing(store, planned, write, generator.key, progress)
        except Stopped:
            stopped = True
        emit("finished", stopped=stopped, **status().as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
