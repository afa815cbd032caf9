"""Copies of the store, and rebuilding it when it is damaged (`slmtui repair`).

Most of `state.db` can be read again from `writing/`; some of it cannot: what you left out of
training, the requests the base model wrote (minutes of work), and the split every passage and
message was given once (a held-out reply that became training text would make evaluation lie).
So the store is copied with SQLite's online backup (consistent while others read and write)
into `.slmtui/backups/` before each migration and before each run, the newest `KEEP` kept.

A damaged store (a disk error, a copy taken mid-write, a sync tool) is moved aside, not
deleted; the newest backup that passes SQLite's integrity check takes its place, whatever rows
of those three tables can still be read from the damaged file are added to it, and an ingest
pass brings the rest up to date with `writing/`.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from slmtui.ingest.store.migrations import StoreError

KEEP = 3
# The tables only the store holds (besides what ingest reads again from writing/).
PRECIOUS = ("exclusions", "requests", "splits", "feedback")
DAMAGE = ("malformed", "not a database", "file is encrypted", "disk i/o error")


def is_damage(exc: BaseException) -> bool:
    """An SQLite error that says the file is damaged (not a lock or a missing table)."""
    return isinstance(exc, sqlite3.DatabaseError) and any(
        words in str(exc).lower() for words in DAMAGE
    )


def backups_folder(db_path: Path) -> Path:
    return db_path.parent / "backups"


def back_up(db_path: Path, reason: str) -> Path | None:
    """A consistent copy of the store named by time and reason; None when there is no store
    yet. Older copies beyond the newest KEEP are removed."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return None
    folder = backups_folder(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")  # sorts in time order
    target = folder / f"state-{stamp}-{reason}.db"
    partial = target.with_suffix(".partial")
    source = sqlite3.connect(db_path, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    partial.replace(target)
    for old in sorted(folder.glob("state-*.db"))[:-KEEP]:
        old.unlink()
    return target


def intact(path: Path) -> bool:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False


def newest_backup(db_path: Path) -> Path | None:
    """The newest copy that SQLite finds intact, if any."""
    for path in sorted(backups_folder(db_path).glob("state-*.db"), reverse=True):
        if intact(path):
            return path
    return None


@dataclass
class Repair:
    """What `repair` did, for the person."""

    moved_to: Path
    restored_from: Path | None
    salvaged: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        source = (
            f"restored from the backup {self.restored_from.name}"
            if self.restored_from
            else "no intact backup: started a new store"
        )
        kept = ", ".join(f"{count} {table}" for table, count in self.salvaged.items())
        return (
            f"moved the damaged store to {self.moved_to.name}; {source}; read back from the "
            f"damaged store: {kept or 'nothing'}"
        )


def move_aside(db_path: Path) -> Path:
    """The store and its WAL files renamed out of the way; the store's new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        path = db_path.with_name(db_path.name + suffix)
        if path.exists():
            path.replace(moved.with_name(moved.name + suffix))
    return moved


def restore(db_path: Path) -> Repair:
    """Move the damaged store aside and put the newest intact backup in its place (nothing,
    when there is none: opening the store then makes a new one). The caller then salvages."""
    backup = newest_backup(db_path)
    moved = move_aside(db_path)
    if backup is not None:
        shutil.copyfile(backup, db_path)
    return Repair(moved, backup)


def salvage(damaged: Path, db: sqlite3.Connection) -> dict[str, int]:
    """The rows of the PRECIOUS tables that can still be read from the damaged file, added to
    the store `db` holds (rows it has already are kept as they are)."""
    found: dict[str, int] = {}
    try:
        source = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return found
    try:
        for table in PRECIOUS:
            found[table] = _copy_rows(source, db, table)
    finally:
        source.close()
    return found


def _copy_rows(source: sqlite3.Connection, db: sqlite3.Connection, table: str) -> int:
    """Row by row until the damage stops the reading; returns how many were added."""
    added = 0
    try:
        wanted = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        have = {row[1] for row in source.execute(f"PRAGMA table_info({table})")}
        columns = [column for column in wanted if column in have]
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})"
        for row in source.execute(f"SELECT {names} FROM {table}") if columns else ():
            added += db.execute(insert, row).rowcount
    except sqlite3.DatabaseError:
        pass  # the damage ends the reading here; what was read before it is kept
    return added


class StoreDamaged(StoreError):
    """The store cannot be read; the message says what `slmtui repair` will do."""

    def __init__(self, db_path: Path, cause: BaseException):
        backup = newest_backup(db_path)
        source = f"the backup {backup.name}" if backup else "what can still be read from it"
        super().__init__(
            f"The store {db_path} is damaged (SQLite: {cause}). `slmtui repair` moves it aside "
            f"and rebuilds it from writing/ and {source}, keeping what you left out of "
            "training, the written requests and the held-out splits."
        )
