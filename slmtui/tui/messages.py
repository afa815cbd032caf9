"""Messages that carry work done off the UI thread back to the app."""

from __future__ import annotations

from textual.message import Message

from slmtui.chat.engine import ReplyStats
from slmtui.core.exporting import ExportEvent
from slmtui.core.ingest import IngestReport
from slmtui.core.training import TrainEvent


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


class ReplyDone(Message):
    """The reply ended (finished, hit max tokens, or stopped); stats describe it."""

    def __init__(self, stats: ReplyStats):
        super().__init__()
        self.stats = stats


class ReplyFailed(Message):
    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class TrainEventArrived(Message):
    """One event from the training child (run: its folder name, empty if it never started)."""

    def __init__(self, event: TrainEvent, *, run: str):
        super().__init__()
        self.event = event
        self.run = run


class TrainJobEnded(Message):
    """The training child is gone (finished, stopped, failed or never started)."""


class TrainingFinished(Message):
    """A run finished normally, so its adapter is the newest model to chat with."""

    def __init__(self, run: str):
        super().__init__()
        self.run = run


class ExportEventArrived(Message):
    """One event from the export child."""

    def __init__(self, event: ExportEvent):
        super().__init__()
        self.event = event


class ModelPublished(Message):
    """A new version passed verification and is active: chat should switch to it."""


class ExportJobEnded(Message):
    """The export child is gone, whatever it said last."""
