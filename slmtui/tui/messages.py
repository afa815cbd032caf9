"""Messages that carry work done off the UI thread back to the app."""

from __future__ import annotations

from textual.message import Message

from slmtui.core.ingest import IngestReport


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
