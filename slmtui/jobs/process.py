"""Starting a job child, following its events, and stopping it: the parent side of every job.

A job runs in its own process so that torch and long llama.cpp work never load in the app and a
crash never takes it down. The child's stdout carries `JobEvent`s; its stderr goes to a log file
beside the job's events record, so that a child that dies without a word still leaves a reason:
`follow` then ends the stream with a `failed` event carrying the log's tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from slmtui.jobs.events import JobEvent

# How much lower than the app a job child runs (Unix nice levels; 0 would be the same priority).
JOB_NICENESS = 10


@dataclass
class RunningJob:
    """A started child: which job it is, the process, and where its log and events go."""

    job: str
    process: subprocess.Popen
    log: Path
    record: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def start_job(job: str, command: list[str], log: Path, record: Path) -> RunningJob:
    """Start `command` as a `job` child at a lower priority; stderr is appended to `log`.

    `record` is the JSON-lines file `follow` appends every event to.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
        )
    lower_priority(process)
    return RunningJob(job, process, log, record)


def follow(job: RunningJob) -> Iterator[JobEvent]:
    """Events as the child prints them, each also appended to the job's record.

    A child that dies without saying why (killed, crashed in native code) still ends the stream
    with a `failed` event carrying the tail of its log.
    """
    assert job.process.stdout is not None
    last: JobEvent | None = None
    with job.record.open("a", encoding="utf-8") as record:
        for line in job.process.stdout:
            event = JobEvent.parse(line, job.job)
            if event is None:
                continue
            record.write(event.to_line() + "\n")
            record.flush()
            last = event
            yield event
    code = job.process.wait()
    if code != 0 and (last is None or last.kind != "failed"):
        reason = f"the {job.job} process ended with code {code}"
        if code < 0:
            reason = f"the {job.job} process was killed ({signal.Signals(-code).name})"
        yield JobEvent.failed(job.job, reason, detail=tail(job.log))


def stop_job(job: RunningJob) -> None:
    """Ask the child to stop; training finishes its step and saves a checkpoint first."""
    if job.running:
        job.process.send_signal(signal.SIGTERM)


def lower_priority(process: subprocess.Popen, niceness: int = JOB_NICENESS) -> None:
    """Let a job child yield the CPU to the app when both want it.

    Called right after the start, before the child loads torch and starts its threads, which
    inherit the priority. A job alone on the machine still gets every core; only when the app
    has a frame to draw does the job wait for it. Where priorities cannot be set, nothing changes.
    """
    if not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, process.pid)
        os.setpriority(os.PRIO_PROCESS, process.pid, min(19, current + niceness))
    except OSError:  # the child already ended, or the system refuses
        pass


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, or '' when there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
