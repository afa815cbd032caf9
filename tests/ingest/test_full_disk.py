"""A full disk during ingest: a message, not a traceback, and a store that holds either the
pass whole or the state before it. On a real small file system (tmpfs), so only as root."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from slmtui.workspace import Workspace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")

WORDS = [
    "tide",
    "harbour",
    "ferry",
    "kettle",
    "gull",
    "causeway",
    "engine",
    "bees",
    "heather",
    "slipway",
    "wind",
    "rain",
    "boat",
    "island",
    "letter",
    "stove",
    "lamp",
    "rope",
    "chart",
    "bearing",
]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_during_ingest_is_said_and_the_store_stays_whole(small_disk: Path):
    workspace = Workspace.init(small_disk / "ws")
    (workspace.writing / "first.txt").write_text("A short note about the ferry and the tide.\n")
    run = [sys.executable, "-m", "slmtui.cli", "-w", str(workspace.root), "ingest"]
    assert subprocess.run(run, capture_output=True, text=True).returncode == 0
    rng = random.Random(1)
    paragraphs = (" ".join(rng.choice(WORDS) for _ in range(120)) for _ in range(1100))
    (workspace.writing / "big.txt").write_text("\n\n".join(paragraphs))  # ~0.7 MB of 3 MB

    full = subprocess.run(run, capture_output=True, text=True)
    assert full.returncode == 2, full.stderr[-2000:]
    assert "slmtui: the disk is full" in full.stderr and "Traceback" not in full.stderr
    db = sqlite3.connect(workspace.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    paths = {row[0] for row in db.execute("SELECT path FROM documents")}
    assert "first.txt" in paths  # what was stored before stays
    if "big.txt" in paths:  # stored whole, or not at all
        stored = db.execute(
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.path = 'big.txt'"
        ).fetchone()[0]
        assert stored > 100
    db.close()
