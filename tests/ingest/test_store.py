import sqlite3

import numpy as np
import pytest

from slmtui.ingest import dedupe
from slmtui.ingest.store import SCHEMA_VERSION, NewChunk, Store, StoreError
from slmtui.ingest.store import STATE_MIGRATIONS as MIGRATIONS


def _chunk(text: str, ids: list[int]) -> NewChunk:
    return NewChunk(text, len(ids), f"h-{text}", dedupe.exact_key(text), dedupe.signature(ids))


def _add(store: Store, path: str, chunks: list[NewChunk], split: str = "train") -> int:
    """A document whose chunk texts were given `split` before (the store remembers it)."""
    store.db.executemany(
        "INSERT OR REPLACE INTO splits (hash, split) VALUES (?, ?)",
        [(chunk.hash, split) for chunk in chunks],
    )
    return store.replace_document(
        path=path, fmt="text", size=1, mtime_ns=1, content_hash=f"c-{path}",
        split_key=f"c-{path}", chars=10, chunks=chunks,
    )  # fmt: skip


def test_new_database_is_at_the_latest_version_in_wal_mode(tmp_path):
    with Store(tmp_path / "state.db") as store:
        assert store.version == SCHEMA_VERSION == len(MIGRATIONS)
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_version_one_database_migrates_keeping_rows_and_rereads_documents(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key, split,"
        " status, chars, updated_at) VALUES ('a.txt', 'text', 5, 7, 'abc', 'abc', 'train',"
        " 'ok', 5, 0)"
    )
    db.execute(
        "INSERT INTO chunks (document_id, ord, hash, text, tokens, split)"
        " VALUES (1, 0, 'h', 'hello', 1, 'train')"
    )
    db.close()
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        row = store.document("a.txt")
        assert row is not None and row.split_key == "abc"
        assert row.content_hash is None  # forces the next ingest to add signatures
        assert store.chunks_of("a.txt")[0][1] == "hello"


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this slmtui"):
        Store(path)


def test_exact_and_near_duplicates_are_marked_and_counted(tmp_path):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 49152, 300).tolist()
    near = [*ids[:295], 1, 2, 3, 4, 5]
    with Store(tmp_path / "state.db") as store:
        assert _add(store, "a.txt", [_chunk("The tide came in.", ids)]) == 0
        assert _add(store, "b.txt", [_chunk("the tide  CAME in.", list(range(10)))]) == 1
        assert _add(store, "c.txt", [_chunk("Different words.", near)]) == 1
        assert _add(store, "d.txt", [_chunk("Other.", rng.integers(0, 49152, 300).tolist())]) == 0
        stats = store.stats()
        assert stats.duplicates_removed == 2
        assert stats.chunks == 2


def test_removing_an_original_promotes_its_duplicate(tmp_path):
    ids = list(range(100))
    with Store(tmp_path / "state.db") as store:
        _add(store, "a.txt", [_chunk("Same text.", ids)])
        _add(store, "b.txt", [_chunk("Same text.", ids)])
        assert store.stats().duplicates_removed == 1
        store.remove(["a.txt"])
        stats = store.stats()
        assert stats.duplicates_removed == 0
        assert stats.chunks == 1
        assert store.chunks_of("b.txt")[0][4] is None


def test_stats_split_tokens_and_skips(tmp_path):
    with Store(tmp_path / "state.db") as store:
        _add(store, "a.txt", [_chunk("One.", list(range(30)))], split="train")
        _add(store, "b.txt", [_chunk("Two.", list(range(500, 520)))], split="val")
        store.record_skip("c.bin", "binary file", 3, 3)
        stats = store.stats().as_dict()
        assert stats["tokens_train"] == 30 and stats["tokens_val"] == 20
        assert stats["documents_ok"] == 2 and stats["documents_skipped"] == 1
        assert stats["skipped"] == [{"path": "c.bin", "reason": "binary file"}]
        assert store.paths_under("c.bin") == ["c.bin"]


def _store_at(path, version: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        migration(db)
    db.execute(f"PRAGMA user_version = {version}")
    return db


def test_a_version_seven_store_keeps_its_cached_requests(tmp_path):
    db = _store_at(tmp_path / "state.db", 7)
    db.execute(
        "INSERT INTO prompt_cache (chunk_hash, kind, generator_key, output, accepted, reason,"
        " created_at) VALUES ('h', 'backtranslate', 'g', 'Write about herons', 1, NULL, 0)"
    )
    db.close()
    with Store(tmp_path / "state.db") as store:
        cached = store.cached_requests("backtranslate", "g")
        assert cached["h"].output == "Write about herons" and cached["h"].accepted


def test_a_version_eight_store_gets_its_conversations_cut_once(tmp_path):
    """The migration fills `messages.conversation` with the default two-hour gap, each
    conversation labelled by its first message; an ingest with another gap cuts again."""
    db = _store_at(tmp_path / "state.db", 8)
    db.execute("INSERT INTO chats (key, name, format) VALUES ('c', 'Ana', 'whatsapp')")
    hours = [0.0, 0.5, 1.0, 5.0, 5.2, 30.0]
    db.executemany(
        "INSERT INTO messages (chat_id, time, sender, text, tokens, key, split)"
        " VALUES (1, ?, 'Ana', ?, 1, ?, 'train')",
        [(h * 3600, f"m{h}", f"k{h}") for h in hours],
    )
    db.close()
    with Store(tmp_path / "state.db") as store:
        assert store.version == SCHEMA_VERSION
        messages = store.chat_messages("c")
        assert [m.conversation for m in messages] == [1, 1, 1, 4, 4, 6]
        assert store.get_meta("conversation_gap_seconds") == "7200.0"
