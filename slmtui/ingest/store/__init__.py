"""The workspace's store (`.slmtui/state.db`), one module per thing it keeps.

- `database.py`: the connection, WAL, transactions and the `meta` table;
- `migrations.py`: every schema change (this file's and the saved chats'), and their runner;
- `documents.py`: documents and their chunks; `duplicates.py`: the near-duplicate index;
- `splits.py`: where the train/validation split is kept (`ingest/split_policy.py` decides it);
- `chats.py`: chat exports, the files holding them, their messages and conversations;
- `requests.py`: the base model's written requests for chat pairs;
- `exclusions.py`: what the person left out of training;
- `feedback.py`: what the person said about a reply in chat (a correction, good, bad);
- `stats.py`: the counts `slmtui status` shows;
- `backups.py`: copies of the store, and rebuilding a damaged one (`slmtui repair`).

`Store` puts them together as one object over one connection, so a caller holds one thing and
one transaction spans every table.
"""

from __future__ import annotations

from pathlib import Path

from slmtui.ingest.store.chats import ChatPart, ChatRow, ChatTables, NewMessage, StoredMessage
from slmtui.ingest.store.database import SCHEMA_VERSION, Database
from slmtui.ingest.store.documents import DocumentRow, DocumentTables, LiveChunk, NewChunk
from slmtui.ingest.store.duplicates import DuplicateIndex
from slmtui.ingest.store.exclusions import Exclusions, ExclusionTable
from slmtui.ingest.store.feedback import FEEDBACK_KINDS, Feedback, FeedbackTable
from slmtui.ingest.store.migrations import STATE_MIGRATIONS, StoreError
from slmtui.ingest.store.requests import CachedRequest, RequestCache
from slmtui.ingest.store.splits import SplitTables
from slmtui.ingest.store.stats import Stats, StatsQueries


class Store(
    DocumentTables,
    DuplicateIndex,
    SplitTables,
    ChatTables,
    RequestCache,
    ExclusionTable,
    FeedbackTable,
    StatsQueries,
    Database,
):
    """Every table of a workspace's state over one connection; one `Store` per thread."""

    def __init__(self, path: Path, *, near_duplicate_threshold: float = 0.8):
        self.threshold = near_duplicate_threshold
        super().__init__(path)

    def __enter__(self) -> Store:
        return self


__all__ = [
    "FEEDBACK_KINDS",
    "SCHEMA_VERSION",
    "STATE_MIGRATIONS",
    "CachedRequest",
    "ChatPart",
    "ChatRow",
    "DocumentRow",
    "Exclusions",
    "Feedback",
    "LiveChunk",
    "NewChunk",
    "NewMessage",
    "Stats",
    "Store",
    "StoreError",
    "StoredMessage",
]
