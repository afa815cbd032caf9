"""Recall over a real store: the index follows every ingest, in the same transaction.
The writing and the chats below were written for these tests.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from slmtui.cli import main
from slmtui.ingest.store import SCHEMA_VERSION, Store
from slmtui.ingest.store.migrations import STATE_MIGRATIONS, migrate
from slmtui.recall.search import Recalled, document_time, match_expression, merged, query_terms
from slmtui.recall.search import recall as search
from tests.chat_exports import whatsapp_android

T0 = 1767225600.0  # 2026-01-01 00:00 UTC

HARBOUR = (
    "The harbour wall took the worst of the storm. By morning the slipway was under a foot of "
    "shingle and the pilot boat had dragged her mooring halfway to the lighthouse.\n"
)
GARDEN = (
    "I planted the broad beans on Tuesday, two rows against the south fence, and the blackbird "
    "watched me do it with the air of someone planning a theft.\n"
)


def recall(workspace, message: str, **settings) -> list[Recalled]:
    with Store(workspace.db_path) as store:
        return search(store.db, message, **settings)


def sources(workspace, message: str) -> list[str]:
    return [item.source for item in recall(workspace, message)]


def test_a_saved_passage_is_found_with_its_source_and_date(workspace, make_ingestor):
    (workspace.writing / "2025-11-02-storm.md").write_text(HARBOUR)
    (workspace.writing / "garden.md").write_text(GARDEN)
    make_ingestor(workspace).scan()
    found = recall(workspace, "What happened to the pilot boat in the storm?")
    assert [item.source for item in found] == ["2025-11-02-storm.md"]
    assert found[0].kind == "writing" and "dragged her mooring" in found[0].text
    assert found[0].date == "2025-11-02" and found[0].label == "2025-11-02-storm.md, 2025-11-02"
    assert found[0].tokens > 10 and found[0].score > 0


def test_the_index_follows_change_delete_and_exclusion(workspace, make_ingestor):
    path = workspace.writing / "storm.md"
    path.write_text(HARBOUR)
    (workspace.writing / "garden.md").write_text(GARDEN)
    ingestor = make_ingestor(workspace)
    ingestor.scan()
    assert sources(workspace, "lighthouse") == ["storm.md"]

    path.write_text(HARBOUR.replace("lighthouse", "breakwater"))
    ingestor.scan()
    assert sources(workspace, "lighthouse") == []
    assert sources(workspace, "breakwater") == ["storm.md"]

    with Store(workspace.db_path) as store:
        store.set_excluded("document", "garden.md", True)
    assert sources(workspace, "blackbird") == []
    with Store(workspace.db_path) as store:
        store.set_excluded("document", "garden.md", False)
    assert sources(workspace, "blackbird") == ["garden.md"]

    path.unlink()
    ingestor.scan()
    assert sources(workspace, "breakwater") == []
    with Store(workspace.db_path) as store:
        # Nothing of the deleted file stays in the index (FTS5's own consistency check).
        store.db.execute("INSERT INTO chunks_text (chunks_text) VALUES ('integrity-check')")
        assert store.db.execute("SELECT COUNT(*) FROM chunks_text").fetchone()[0] == 1


def ferry_chat(extra: int = 0) -> list[tuple[float, str, str]]:
    lines = [
        (T0 + 0, "Ana", "are you coming to the island on saturday"),
        (T0 + 60, "Elena", "If the ferry runs. Last week it was cancelled twice."),
        (T0 + 120, "Ana", "bring the green tent"),
        (T0 + 180, "Elena", "The green tent has a broken pole, I'll bring the blue one."),
        (T0 + 240, "Ana", "ok"),
        (T0 + 86400 * 3, "Ana", "did you hear about the bakery"),
        (T0 + 86400 * 3 + 60, "Elena", "They closed on Monday. I'm going to miss the rye."),
    ]
    later = T0 + 86400 * 5
    lines += [(later + i * 60, "Ana", f"photo number {i} of the kayak") for i in range(extra)]
    return lines


def test_a_chat_hit_comes_with_the_turns_around_it(workspace, make_ingestor):
    (workspace.writing / "ana.txt").write_bytes(whatsapp_android(ferry_chat()))
    make_ingestor(workspace).scan()
    found = recall(workspace, "which tent did Ana want?", turns=1)
    assert len(found) == 1 and found[0].kind == "chat"
    # The hit (Ana's line about the tent) with one turn on either side, who said what.
    assert found[0].text.splitlines() == [
        "Elena: If the ferry runs. Last week it was cancelled twice.",
        "Ana: bring the green tent",
        "Elena: The green tent has a broken pole, I'll bring the blue one.",
    ]
    assert found[0].date == "2026-01-01" and found[0].path == "ana.txt"
    # A window never reaches into another conversation (the bakery, three days later).
    wide = recall(workspace, "tent", turns=10)
    assert len(wide) == 1 and "bakery" not in wide[0].text


def test_a_re_export_adds_only_what_is_new_and_deleting_it_forgets(workspace, make_ingestor):
    export = workspace.writing / "ana.txt"
    export.write_bytes(whatsapp_android(ferry_chat()))
    ingestor = make_ingestor(workspace)
    ingestor.scan()
    assert recall(workspace, "kayak") == []
    export.write_bytes(whatsapp_android(ferry_chat(extra=3)))
    ingestor.scan()
    kayak = recall(workspace, "kayak", turns=0)
    assert len(kayak) == 3 and {item.text for item in kayak} == {
        f"Ana: photo number {i} of the kayak" for i in range(3)
    }
    assert len(recall(workspace, "ferry", turns=0)) == 1  # stored once, found once
    export.unlink()
    ingestor.scan()
    assert recall(workspace, "ferry") == [] and recall(workspace, "kayak") == []


def test_writing_and_chats_are_merged_by_rank_within_the_limit_and_budget(workspace, make_ingestor):
    (workspace.writing / "storm.md").write_text(HARBOUR + "\nThe ferry did not run.\n")
    (workspace.writing / "ana.txt").write_bytes(whatsapp_android(ferry_chat()))
    make_ingestor(workspace).scan()
    both = recall(workspace, "ferry", limit=4)
    assert {item.kind for item in both} == {"writing", "chat"}
    assert [item.score for item in both] == sorted((item.score for item in both), reverse=True)
    assert len(recall(workspace, "ferry", limit=1)) == 1
    # A budget smaller than both keeps the best one only.
    smallest = min(item.tokens for item in both)
    assert len(recall(workspace, "ferry", limit=4, tokens=smallest)) == 1


def test_the_two_lists_merge_best_score_first():
    def item(name: str, rank: float) -> Recalled:
        return Recalled("writing", name, None, 0.0, name, 1, name, rank)

    merged_items = merged([item("a1", -5.0), item("a2", -1.0)], [item("b1", -3.0)])
    assert [m.source for m in merged_items] == ["a1", "b1", "a2"]
    assert [m.score for m in merged_items] == [5.0, 3.0, 1.0]


@pytest.mark.parametrize(
    ("message", "terms"),
    [
        ("What did you name your boat?", ["name", "boat"]),
        ('boat AND "ferry" OR NEAR(x y) * -tent', ["boat", "ferry", "near", "tent"]),
        ("I'm not sure, what do you think?", ["sure"]),
        ("?!", []),
    ],
)
def test_a_message_becomes_plain_words(message, terms):
    assert query_terms(message) == terms


def test_any_typed_text_is_a_valid_query(workspace, make_ingestor):
    (workspace.writing / "storm.md").write_text(HARBOUR)
    make_ingestor(workspace).scan()
    for message in ['"unbalanced', "NEAR(", "boat*", "col:umn", "a OR", "^start", "(()"]:
        recall(workspace, message)  # no sqlite3.OperationalError
    assert match_expression(['say "hi"']) == '"say ""hi"""'


def test_dates_from_names_else_the_file_time():
    assert document_time("journal/2025-03-31.txt", 0) == 1743379200.0
    assert document_time("notes/2025-13-40 typo.txt", 5 * 10**9) == 5.0
    assert document_time("notes/plain.txt", 7 * 10**9) == 7.0


def test_an_older_store_gets_its_index_filled(workspace, make_ingestor):
    (workspace.writing / "storm.md").write_text(HARBOUR)
    (workspace.writing / "ana.txt").write_bytes(whatsapp_android(ferry_chat()))
    make_ingestor(workspace).scan()
    db = sqlite3.connect(workspace.db_path)
    # Back to version 9: the indexes and their triggers dropped, the data kept.
    for table in ("chunks", "messages"):
        for trigger in ("indexed", "unindexed", "reindexed"):
            db.execute(f"DROP TRIGGER {table}_{trigger}")
        db.execute(f"DROP TABLE {table}_text")
    db.execute("DROP TABLE feedback")  # and version 11's table
    db.execute("PRAGMA user_version = 9")
    db.commit()
    migrate(db, STATE_MIGRATIONS, workspace.db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert sources(workspace, "lighthouse") == ["storm.md"]
    assert [item.kind for item in recall(workspace, "tent")] == ["chat"]


def test_the_command_prints_sources_and_json(workspace, make_ingestor, capsys):
    (workspace.writing / "storm.md").write_text(HARBOUR)
    make_ingestor(workspace).scan()
    assert main(["-w", str(workspace.root), "recall", "pilot boat", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] storm.md, ") and "dragged her mooring" in out
    assert main(["-w", str(workspace.root), "recall", "pilot boat", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"] == "pilot boat" and data["recalled"][0]["source"] == "storm.md"
    assert main(["-w", str(workspace.root), "recall", "zeppelin"]) == 0
    assert "Nothing you wrote matches" in capsys.readouterr().out
