"""The events a job child sends its parent: one JSON object per line on stdout.

A line is `{"event": KIND, "time": ..., **data}`. The child writes it with `emit`; the parent
turns it back into a `JobEvent` with `JobEvent.parse`, knowing which job it started. Every job
ends with `finished` (training, evaluation), `published` (export) or `failed`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

TRAINING, EXPORT, EVALUATION = "training", "export", "evaluation"
REQUESTS = "requests"  # the base model writing chat-pair requests in the background

KINDS: dict[str, tuple[str, ...]] = {
    TRAINING: (
        "started",
        "warning",
        "fitted",
        "step",
        "replanned",
        "retry",
        "eval",
        "checkpoint",
        "finished",
        "failed",
    ),
    EXPORT: ("started", "stage", "verified", "measured", "published", "failed"),
    EVALUATION: ("started", "progress", "finished", "failed"),
    REQUESTS: ("started", "progress", "finished", "failed"),
}

# The last event of a job that went well: the CLI's exit code and the app's notice come from it.
SUCCESS: dict[str, tuple[str, ...]] = {
    TRAINING: ("finished",),
    EXPORT: ("published",),
    EVALUATION: ("finished",),
    REQUESTS: ("finished",),
}


@dataclass(frozen=True)
class JobEvent:
    """One thing a job said: its kind, the job it came from, and the kind's fields."""

    kind: str
    job: str
    data: dict

    @classmethod
    def parse(cls, line: str, job: str) -> JobEvent | None:
        """An event from one line of the child's stdout; anything else (a stray print) is None."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("event") not in KINDS[job]:
            return None
        kind = data.pop("event")
        return cls(kind, job, data)

    @classmethod
    def failed(cls, job: str, reason: str, **data: object) -> JobEvent:
        return cls("failed", job, {"reason": reason, **data})

    def to_line(self) -> str:
        return json.dumps({"event": self.kind, **self.data})

    @property
    def succeeded(self) -> bool:
        """Whether this, as a job's last event, means the job did what it was asked."""
        return self.kind in SUCCESS[self.job]


def emit(kind: str, **data: object) -> None:
    """Child side: one event as a JSON line on stdout.

    Under data-parallel training (RANK set by torchrun or accelerate) only rank 0 speaks, so the
    parent hears each step once.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return
    sys.stdout.write(json.dumps({"event": kind, "time": time.time(), **data}) + "\n")
    sys.stdout.flush()
