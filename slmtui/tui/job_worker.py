"""The one way the app runs a job: start it and follow its events on a worker thread.

Training, export and evaluation all go through `follow_job`: each event is posted to the screen
as a `JobEventArrived`, and `JobEnded` comes last whatever happened. A job that cannot even start
(no run to resume, a broken settings file) arrives as a `failed` event, so a screen has a single
error path (docs/ARCHITECTURE.md, "Jobs").
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message_pump import MessagePump

from slmtui.jobs.events import JobEvent
from slmtui.jobs.process import RunningJob, follow
from slmtui.tui.posts import JobEnded, JobEventArrived

# What a screen hands the worker: a function that starts the job (slow work allowed: it runs on
# the worker thread) and returns it with the name of its run folder ("" when it has none).
Starter = Callable[[], tuple[RunningJob, str]]


def follow_job(
    screen: MessagePump,
    job: str,
    start: Starter,
    on_start: Callable[[RunningJob | None], None] = lambda running: None,
) -> None:
    """Run in a thread worker: start the job, post its events, post JobEnded.

    `on_start` is told the running job (so the screen can stop it) and None once it is gone.
    """
    try:
        running, run = start()
    except Exception as exc:  # shown as a failed job; nothing was started
        screen.post_message(JobEventArrived(JobEvent.failed(job, str(exc))))
        screen.post_message(JobEnded(job))
        return
    on_start(running)
    try:
        for event in follow(running):
            screen.post_message(JobEventArrived(event, run=run))
    finally:
        on_start(None)
        screen.post_message(JobEnded(job))
