"""Saved sessions with the model (slmtui.chat.sessions) and the pure helpers behind the screens."""

from __future__ import annotations

import sqlite3

import pytest

from slmtui.chat.engine import ReplyStats
from slmtui.chat.sessions import ChatSettings, SessionMessage, Sessions, chat_db_path
from slmtui.jobs.events import TRAINING, JobEvent
from slmtui.tui.screens.chat import describe_reply, dropped_note
from slmtui.tui.screens.chat_settings import SettingsError, parse_settings
from slmtui.tui.train_progress import TrainProgress


def test_sessions_round_trip_newest_first_and_delete(tmp_path):
    path = chat_db_path(tmp_path / ".slmtui")
    with Sessions(path) as store:
        first = store.create(settings=ChatSettings("Be brief.", 0.2, 0.8, 64))
        store.add_message(first, SessionMessage("user", "  What   is a heron?  " + "x" * 60))
        store.add_message(first, SessionMessage("assistant", "A bird.", "v2"))
        second = store.create()
        store.add_message(second, SessionMessage("user", "Second"))
        assert [c.id for c in store.list()] == [second, first]
        got = store.get(first)
        assert got.title.startswith("What is a heron? x") and got.title.endswith("…")
        assert len(got.title) == 48
        assert got.settings == ChatSettings("Be brief.", 0.2, 0.8, 64)
        assert got.chat_messages()[0] == {"role": "system", "content": "Be brief."}
        assert [m.model for m in got.messages] == ["", "v2"]
        store.update_settings(first, ChatSettings("Be long.", 1.0, 0.5, 512))
        assert store.get(first).settings.max_tokens == 512
        store.delete(first)
        assert store.get(first) is None
        left = store.db.execute("SELECT count(*) FROM session_messages").fetchone()[0]
        assert left == 1  # the deleted session's messages went with it
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3


def test_a_chat_db_of_version_one_keeps_its_conversations_as_sessions(tmp_path):
    from slmtui.ingest.store.migrations import SESSION_MIGRATIONS

    path = tmp_path / "chat.db"
    db = sqlite3.connect(path, isolation_level=None)
    SESSION_MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO conversations (title, system_prompt, temperature, top_p, max_tokens,"
        " created_at, updated_at) VALUES ('Herons', 'Be brief.', 0.7, 0.9, 256, 1, 2)"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, model, created_at)"
        " VALUES (1, 'user', 'What is a heron?', '', 1), (1, 'assistant', 'A bird.', 'v1', 2)"
    )
    db.close()
    with Sessions(path) as store:
        (session,) = store.list()
        got = store.get(session.id)
        assert got.title == "Herons" and got.settings.system_prompt == "Be brief."
        assert [(m.role, m.content, m.model) for m in got.messages] == [
            ("user", "What is a heron?", ""), ("assistant", "A bird.", "v1"),
        ]  # fmt: skip
        assert all(m.sources == [] for m in got.messages)  # older replies had no recall
        store.add_message(session.id, SessionMessage("user", "And a crane?"))
        source = {"kind": "writing", "source": "birds.md", "date": "2025-03-31", "path": "birds.md"}
        store.add_message(session.id, SessionMessage("assistant", "A taller bird.", "v1", [source]))
        assert [m.sources for m in store.get(session.id).messages[2:]] == [[], [source]]


def test_reopening_does_not_migrate_twice(tmp_path):
    path = tmp_path / "chat.db"
    with Sessions(path) as store:
        store.create()
    with Sessions(path) as store:
        assert len(store.list()) == 1


def test_settings_are_checked():
    assert parse_settings(" Hi ", "0", "1", "8") == ChatSettings("Hi", 0.0, 1.0, 8)
    for bad in (("x", "0.9", "8"), ("3", "0.9", "8"), ("0.5", "0", "8"), ("0.5", "0.9", "0")):
        with pytest.raises(SettingsError):
            parse_settings("", *bad)


def test_reply_lines():
    stats = ReplyStats(tokens=20, seconds=2.0, finish_reason="stopped")
    assert describe_reply(stats) == "20 tokens · 10.0 tok/s · stopped"
    assert "max tokens" in describe_reply(ReplyStats(3, 1.0, "length"))
    assert dropped_note(1) == "⋯ 1 older turn left out to fit the context window"


def test_train_progress_folds_events():
    progress = TrainProgress()
    step = {
        "step": 1, "steps": 4, "loss": 3.5, "lr": 1e-4, "tokens_per_s": 900.0,
        "eta_s": 75, "memory_mb": 300.0,
    }  # fmt: skip
    progress.add(
        JobEvent("eval", TRAINING, {"which": "base", "step": 0, "val_loss": 4.0, "val_ppl": 54.6})
    )
    progress.add(JobEvent("step", TRAINING, step))
    progress.add(
        JobEvent("eval", TRAINING, {"which": "adapter", "step": 1, "val_loss": 3.0, "val_ppl": 20})
    )
    assert (progress.steps, progress.losses) == ([1], [3.5])
    assert (progress.val_steps, progress.val_losses) == ([0, 1], [4.0, 3.0])
    assert "step 1/4" in progress.status() and "ETA 1m15s" in progress.status()
    progress.add(JobEvent("failed", TRAINING, {"reason": "out of memory", "detail": "a\nb"}))
    assert progress.state == "failed" and progress.status() == "failed: out of memory"
    assert list(progress.log)[-2:] == ["a", "b"]
