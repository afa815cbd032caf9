"""What the Train screen knows about a run, folded from its events; no widgets, easy to test."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from slmtui.formats import format_seconds
from slmtui.jobs.describe import describe
from slmtui.jobs.events import JobEvent


@dataclass
class TrainProgress:
    """The plan, the loss curves, the latest speed and the log tail of one run."""

    run: str = ""
    plan: str = ""
    state: str = "idle"  # idle, preparing, running, stopping, finished, stopped, failed
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    last_step: dict = field(default_factory=dict)
    reason: str = ""
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def add(self, event: JobEvent) -> None:
        """Fold one event in; every event also goes to the log as the CLI would print it."""
        self.log.append(describe(event))
        d = event.data
        if event.kind == "started":
            self.plan = describe(event)
            self.state = "running"
        elif event.kind == "step":
            self.steps.append(d["step"])
            self.losses.append(d["loss"])
            self.last_step = d
        elif event.kind == "eval":
            # The base model's validation loss is the curve's starting point at step 0.
            self.val_steps.append(d.get("step", 0) if d.get("which") == "adapter" else 0)
            self.val_losses.append(d["val_loss"])
        elif event.kind == "finished":
            self.state = "stopped" if d.get("stopped") else "finished"
        elif event.kind == "failed":
            self.state = "failed"
            self.reason = d.get("reason", "unknown reason")
            if d.get("detail"):
                self.log.extend(str(d["detail"]).splitlines()[-5:])

    def status(self) -> str:
        """One line: where the run is and how fast it goes."""
        d = self.last_step
        if self.state == "failed":
            return f"failed: {self.reason}"
        if not d:
            return {
                "idle": "No run in progress.",
                "preparing": "Reading writing/ and building the dataset…",
                "running": "Starting…",
                "stopping": "Stopping at the next step…",
            }.get(self.state, self.state)
        return (
            f"{self.state} · step {d['step']}/{d['steps']} · loss {d['loss']:.3f} · "
            f"{d['tokens_per_s']:,.0f} tok/s · ETA {format_seconds(d['eta_s'])} · "
            f"{d['memory_mb']:,.0f} MB"
        )
