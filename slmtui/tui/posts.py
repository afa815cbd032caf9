"""What workers post back to the app: Textual messages carrying work done off the UI thread.

Named "posts" so that "message" keeps meaning a chat export's message (docs/ARCHITECTURE.md,
"Glossary").
"""

from __future__ import annotations

from textual.message import Message

from slmtui.chat.engine import ReplyStats
from slmtui.ingest.ingestor import IngestReport
from slmtui.jobs.events import JobEvent


class IngestReported(Message):
    """An ingest pass finished (the first full scan, or a batch of watched changes)."""

    def __init__(self, report: IngestReport, *, initial: bool):
        super().__init__()
        self.report = report
        self.initial = initial


class IngestFailed(Message):
    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class ModelLoaded(Message):
    """The chat model is in memory and ready to answer."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label


class ModelFailed(Message):
    """The chat model could not be found or loaded; reason is for the user."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class ReplyPiece(Message):
    """A piece of the reply being generated."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class Recalled(Message):
    """What recall gave the model for the reply being written (recall/notes.py: `source_of`)."""

    def __init__(self, sources: list[dict]):
        super().__init__()
        self.sources = sources


class ReplyDone(Message):
    """The reply ended (finished, hit max tokens, or stopped); stats describe it."""

    def __init__(self, stats: ReplyStats):
        super().__init__()
        self.stats = stats


class ReplyFailed(Message):
    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class JobEventArrived(Message):
    """One event from a job child (run: its run folder's name, empty when there is none)."""

    def __init__(self, event: JobEvent, *, run: str = ""):
        super().__init__()
        self.event = event
        self.run = run


class JobEnded(Message):
    """A job child is gone (finished, stopped, failed or never started)."""

    def __init__(self, job: str):
        super().__init__()
        self.job = job


class TrainingFinished(Message):
    """A run finished normally, so its adapter is the newest model to chat with."""

    def __init__(self, run: str):
        super().__init__()
        self.run = run


class ModelPublished(Message):
    """A new version passed verification and is active: chat should switch to it."""


class BlindRoundsReady(Message):
    """The blind test's rounds for a version, the model's answers written."""

    def __init__(self, rounds: list):
        self.rounds = rounds  # eval.blind.Round
        super().__init__()


class BlindProgress(Message):
    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        super().__init__()


class BlindFailed(Message):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__()
