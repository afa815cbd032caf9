"""Saved conversations (slmtui.chat.conversations) and the pure helpers behind the screens."""

from __future__ import annotations

import sqlite3

import pytest

from slmtui.chat.conversations import ChatSettings, Conversations, Turn, chat_db_path
from slmtui.chat.engine import ReplyStats
from slmtui.jobs.events import TRAINING, JobEvent
from slmtui.tui.screens.chat import describe_reply, dropped_note
from slmtui.tui.screens.chat_settings import SettingsError, parse_settings
from slmtui.tui.train_progress import TrainProgress


def test_conversations_round_trip_newest_first_and_delete(tmp_path):
    path = chat_db_path(tmp_path / ".slmtui")
    with Conversations(path) as store:
        first = store.create(settings=ChatSettings("Be brief.", 0.2, 0.8, 64))
        store.add_turn(first, Turn("user", "  What   is a heron?  " + "x" * 60))
        store.add_turn(first, Turn("assistant", "A bird.", "v2"))
        second = store.create()
        store.add_turn(second, Turn("user", "Second"))
        assert [c.id for c in store.list()] == [second, first]
        got = store.get(first)
        assert got.title.startswith("What is a heron? x") and got.title.endswith("…")
        assert len(got.title) == 48
        assert got.settings == ChatSettings("Be brief.", 0.2, 0.8, 64)
        assert got.messages()[0] == {"role": "system", "content": "Be brief."}
        assert [t.model for t in got.turns] == ["", "v2"]
        store.update_settings(first, ChatSettings("Be long.", 1.0, 0.5, 512))
        assert store.get(first).settings.max_tokens == 512
        store.delete(first)
        assert store.get(first) is None
        left = store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert left == 1  # the deleted conversation's turns went with it
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1


def test_reopening_does_not_migrate_twice(tmp_path):
    path = tmp_path / "chat.db"
    with Conversations(path) as store:
        store.create()
    with Conversations(path) as store:
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
