"""The connection to a workspace's store: WAL, transactions, savepoints and the `meta` table.

WAL mode lets the app read while a watcher thread or `slmtui ingest` writes. Opening a store
applies the migrations it lacks (`migrations.py`). One `Database` belongs to one thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slmtui.ingest.store.backups import StoreDamaged, back_up, is_damage
from slmtui.ingest.store.migrations import STATE_MIGRATIONS, migrate

SCHEMA_VERSION = len(STATE_MIGRATIONS)


class Database:
    """One connection to `state.db`, migrated to this slmtui's schema on opening."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            self._enable_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if 0 < self.version < SCHEMA_VERSION:  # an older store: a copy before it changes
                back_up(path, f"before-schema-{SCHEMA_VERSION}")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if is_damage(exc):
                raise StoreDamaged(path, exc) from exc
            raise

    def _enable_wal(self) -> None:
        """Switch to WAL; switching needs a moment alone with a brand-new file, so retry."""
        deadline = time.monotonic() + 30
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        migrate(self.db, STATE_MIGRATIONS, self.path, target)

    @contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        """A part of a transaction that can be undone alone (one file of an ingest group):
        an exception rolls back what was written inside it, and goes on up."""
        name = f"part{id(self)}"
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield self.db
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested uses join the outer one (ingest groups many files)."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (a full disk): nothing of it stays half written.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
