"""The held-out split: passages from several documents, about a tenth of the tokens, decided
once per text and never moved."""

import random
import sqlite3

from slmtui.config import with_changes
from slmtui.ingest.store import STATE_MIGRATIONS as MIGRATIONS
from slmtui.ingest.store import Store

WORDS = [
    "tide",
    "ferry",
    "harbour",
    "gull",
    "kettle",
    "letter",
    "morning",
    "causeway",
    "slip",
    "weed",
    "heather",
    "bees",
    "lamp",
    "boat",
    "wind",
    "rain",
    "stone",
    "wall",
    "gate",
    "field",
    "sheep",
    "path",
    "window",
    "chair",
    "bread",
    "salt",
    "rope",
    "net",
    "island",
    "croft",
    "peat",
    "fire",
    "smoke",
    "cloud",
    "river",
    "hill",
    "bridge",
    "school",
    "church",
    "post",
    "shop",
]


def prose(seed: int, paragraphs: int = 6) -> str:
    """Distinct paragraphs (never near duplicates of each other), about 40 tokens each."""
    rng = random.Random(seed)
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(36)).capitalize() + "." for _ in range(paragraphs)
    )


def small_chunks(workspace):
    return with_changes(workspace.load_config(), "ingest", chunk_tokens=48, min_chunk_tokens=4)


def write_documents(workspace, names: range, prefix: str = "doc") -> None:
    for i in names:
        (workspace.writing / f"{prefix}{i:02}.txt").write_text(prose(i))


def ingested(workspace, make_ingestor, count: int, prefix: str = "doc"):
    """An ingestor over `count` documents of distinct prose, chunked small, after one pass."""
    write_documents(workspace, range(count), prefix)
    ingestor = make_ingestor(workspace, small_chunks(workspace))
    ingestor.scan()
    return ingestor


def splits_by_text(store: Store) -> dict[str, str]:
    return {chunk.text: chunk.split for chunk in store.live_chunks()}


def held_out(store: Store) -> tuple[set[str], int, int]:
    """(documents with a held-out passage, held-out tokens, all tokens)."""
    chunks = store.live_chunks()
    documents = {chunk.path for chunk in chunks if chunk.split == "val"}
    val = sum(chunk.tokens for chunk in chunks if chunk.split == "val")
    return documents, val, sum(chunk.tokens for chunk in chunks)


def test_held_out_passages_come_from_at_least_five_documents_and_about_a_tenth(
    workspace, make_ingestor
):
    ingestor = ingested(workspace, make_ingestor, 12)
    documents, val, total = held_out(ingestor.store)
    assert len(documents) >= 5
    assert 0.08 <= val / total <= 0.2
    assert {chunk.split for chunk in ingestor.store.live_chunks()} == {"train", "val"}
    rows = {row.path: row.split for row in ingestor.store.documents()}
    assert {rows[path] for path in documents} <= {"part", "val"}
    assert "train" in rows.values()


def test_a_corpus_under_ten_documents_holds_out_a_tenth_of_its_tokens(workspace, make_ingestor):
    (workspace.writing / "only.txt").write_text(prose(1, paragraphs=30))
    ingestor = make_ingestor(workspace, small_chunks(workspace))
    ingestor.scan()
    documents, val, total = held_out(ingestor.store)
    assert documents == {"only.txt"}
    assert 0.08 <= val / total <= 0.2
    assert ingestor.store.document("only.txt").split == "part"


def test_new_documents_never_reshuffle_old_passages(workspace, make_ingestor):
    ingestor = ingested(workspace, make_ingestor, 15, "old")
    before = splits_by_text(ingestor.store)
    write_documents(workspace, range(15, 45), "new")
    ingestor.scan()
    after = splits_by_text(ingestor.store)
    assert {text: after[text] for text in before} == before
    documents, val, total = held_out(ingestor.store)
    assert any(path.startswith("new") for path in documents)  # new writing tops the share up
    assert 0.08 <= val / total <= 0.2


def test_trained_text_never_becomes_validation(workspace, make_ingestor):
    """Removing the held-out documents leaves a deficit; the trained passages stay trained even
    when their text comes back in another file, and only new text fills the gap."""
    ingestor = ingested(workspace, make_ingestor, 12)
    before = splits_by_text(ingestor.store)
    trained = {text for text, split in before.items() if split == "train"}
    documents, _, _ = held_out(ingestor.store)
    for path in documents:
        (workspace.writing / path).unlink()
    (workspace.writing / "doc00.txt").unlink(missing_ok=True)
    (workspace.writing / "again.txt").write_text(prose(0))  # doc00's text, trained or not
    write_documents(workspace, range(100, 106), "fresh")
    ingestor.scan()
    now = splits_by_text(ingestor.store)
    assert all(now[text] == "train" for text in trained if text in now)
    held_before = {text for text, split in before.items() if split == "val"}
    held_now = {text for text, split in now.items() if split == "val"}
    assert held_now - held_before  # the deficit was filled ...
    fresh = {c.text for c in ingestor.store.live_chunks() if c.path.startswith("fresh")}
    assert held_now - held_before <= fresh  # ... by new text only


def test_an_edit_keeps_the_split_of_unchanged_passages(workspace, make_ingestor):
    ingestor = ingested(workspace, make_ingestor, 12)
    before = splits_by_text(ingestor.store)
    for i in range(12):
        path = workspace.writing / f"doc{i:02}.txt"
        path.write_text(path.read_text() + "\n\n" + prose(500 + i, paragraphs=1))
    ingestor.scan()
    after = splits_by_text(ingestor.store)
    assert all(after[text] == split for text, split in before.items() if text in after)


def test_a_version_four_store_keeps_its_splits(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        migration(db)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key, split,"
        " status, chars, updated_at) VALUES ('a.txt', 'text', 5, 7, 'abc', 'abc', 'val',"
        " 'ok', 5, 0)"
    )
    db.execute(
        "INSERT INTO chunks (document_id, ord, hash, text, tokens, split)"
        " VALUES (1, 0, 'h', 'hello', 1, 'val')"
    )
    db.close()
    with Store(path) as store:
        assert store.db.execute("SELECT split FROM splits WHERE hash = 'h'").fetchone() == ("val",)


def test_new_messages_between_a_trained_and_a_held_out_conversation_never_join_them(tmp_path):
    """A re-export fills the silence between a trained and a held-out conversation: the new
    messages are trained (trained text never becomes validation), the held-out messages stay
    held out, and a conversation ends where the split changes."""
    from slmtui.ingest import split_policy

    hour = 3600.0
    with Store(tmp_path / "state.db") as store:
        store.db.execute("INSERT INTO chats (key, name, format) VALUES ('c', 'Ana', 'whatsapp')")
        rows = [(0.0, "a", "train"), (0.5, "b", "train"), (10.0, "c", "val"), (10.5, "d", "val")]
        store.db.executemany(
            "INSERT INTO messages (chat_id, time, sender, text, tokens, key, split)"
            " VALUES (1, ?, 'Ana', ?, 1, ?, ?)",
            [(t * hour, text, text, split) for t, text, split in rows],
        )
        split_policy.recut_conversations(store, 2 * hour)
        store.db.executemany(
            "INSERT INTO messages (chat_id, time, sender, text, tokens, key)"
            " VALUES (1, ?, 'Ana', ?, 1, ?)",
            [
                (t * hour, text, text)
                for t, text in ((2.0, "e"), (4.0, "f"), (6.0, "g"), (8.0, "h"))
            ],
        )
        split_policy.assign_message_splits(store, 0.1, 2 * hour)
        by_text = {m.text: (m.split, m.conversation) for m in store.chat_messages("c")}
    assert {t: s for t, (s, _) in by_text.items()} == {
        "a": "train", "b": "train", "e": "train", "f": "train", "g": "train", "h": "train",
        "c": "val", "d": "val",
    }  # fmt: skip
    trained = {c for s, c in by_text.values() if s == "train"}
    held = {c for s, c in by_text.values() if s == "val"}
    assert len(trained) == 1 and len(held) == 1 and not trained & held
