"""A damaged store: said plainly, and rebuilt by `slmtui repair` from its newest backup, what the
damaged file still holds and writing/; an older store copied before it is migrated."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

from slmtui.ingest.store import SCHEMA_VERSION, Store
from slmtui.ingest.store.backups import KEEP, back_up, backups_folder, intact
from tests.conftest import SAMPLES


def slmtui(workspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def stored(workspace, make_ingestor):
    """The samples' essays and journal, ingested, one essay left out, one request written."""
    shutil.copytree(SAMPLES / "essays", workspace.writing / "essays")
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")
    make_ingestor(workspace).scan()
    with Store(workspace.db_path) as store, store.transaction():
        store.set_excluded("document", "essays/2025-02-the-lodger.md", True)
        chunk = store.live_chunks()[0].hash
        store.cache_request(chunk, "backtranslate", "gen", "Write about the tide.", accepted=True)
    with Store(workspace.db_path) as store:
        return dict(store.db.execute("SELECT hash, split FROM splits").fetchall())


def checkpoint(workspace) -> None:
    db = sqlite3.connect(workspace.db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_a_truncated_store_is_said_plainly_and_rebuilt_from_its_backup(workspace, make_ingestor):
    splits = stored(workspace, make_ingestor)
    backup = back_up(workspace.db_path, "before-run")
    assert backup is not None and intact(backup)
    checkpoint(workspace)
    os.truncate(workspace.db_path, workspace.db_path.stat().st_size // 3)

    broken = slmtui(workspace, "status")
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "is damaged" in broken.stderr and "slmtui repair" in broken.stderr
    repaired = slmtui(workspace, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert f"restored from the backup {backup.name}" in repaired.stdout
    assert list(workspace.state.glob("state.db.damaged-*"))  # moved aside, not deleted

    assert slmtui(workspace, "status").returncode == 0
    with Store(workspace.db_path) as store:
        assert store.exclusions().documents == {"essays/2025-02-the-lodger.md"}
        assert dict(store.db.execute("SELECT hash, split FROM splits").fetchall()) == splits
        assert store.db.execute("SELECT output FROM requests").fetchall() == [
            ("Write about the tide.",)
        ]
        assert len(store.paths()) == len(list(workspace.writing.rglob("*.*")))


def test_a_bit_flipped_store_without_a_backup_keeps_what_can_be_read(workspace, make_ingestor):
    stored(workspace, make_ingestor)
    checkpoint(workspace)
    data = bytearray(workspace.db_path.read_bytes())
    for offset in range(4096 * 3 + 100, len(data), 4096 * 2):  # a byte in every other page
        data[offset] ^= 0xFF
    workspace.db_path.write_bytes(bytes(data))
    assert not intact(workspace.db_path)

    repaired = slmtui(workspace, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "no intact backup: started a new store" in repaired.stdout
    assert intact(workspace.db_path)
    with Store(workspace.db_path) as store:
        assert len(store.paths()) == len(list(workspace.writing.rglob("*.*")))
    assert slmtui(workspace, "repair").stdout.startswith("The store")  # intact: nothing to do


def test_an_older_store_is_copied_before_it_is_migrated_and_few_copies_are_kept(workspace):
    with Store(workspace.db_path):
        pass
    db = sqlite3.connect(workspace.db_path)
    for table in ("chunks", "messages"):  # back to version 9, as the recall tests do
        for trigger in ("indexed", "unindexed", "reindexed"):
            db.execute(f"DROP TRIGGER {table}_{trigger}")
        db.execute(f"DROP TABLE {table}_text")
    db.execute("DROP TABLE feedback")  # and version 11's table
    db.execute("PRAGMA user_version = 9")
    db.commit()
    db.close()
    with Store(workspace.db_path) as store:
        assert store.version == SCHEMA_VERSION
    [copy] = backups_folder(workspace.db_path).glob("state-*.db")
    assert copy.name.endswith(f"-before-schema-{SCHEMA_VERSION}.db")
    assert sqlite3.connect(copy).execute("PRAGMA user_version").fetchone()[0] == 9
    for _ in range(KEEP + 2):
        back_up(workspace.db_path, "before-run")
    kept = sorted(backups_folder(workspace.db_path).glob("state-*.db"))
    assert len(kept) == KEEP and all(path.name.endswith("before-run.db") for path in kept)
