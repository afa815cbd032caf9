"""The Chat screen with the real bundled GGUF: send, stream, stop, settings, reopen."""

from __future__ import annotations

from textual.widgets import Input, Markdown, Static

from slmtui.chat.sessions import ChatSettings, SessionMessage, Sessions, chat_db_path
from slmtui.tui.app import create_app
from slmtui.tui.screens.chat import ChatScreen
from slmtui.tui.screens.chat_settings import ChatSettingsScreen
from slmtui.tui.screens.model_picker import ModelPicker
from slmtui.tui.screens.session_picker import SessionPicker
from tests.tui.helpers import wait_for


def chat_screen(app) -> ChatScreen:
    screen = app.get_screen("chat")
    assert isinstance(screen, ChatScreen)
    return screen


def save_settings(workspace, **changes) -> None:
    """Give the workspace one saved conversation with these settings, so chat reopens it."""
    with Sessions(chat_db_path(workspace.state)) as store:
        store.create(settings=ChatSettings(**changes))


async def open_chat(pilot, app) -> ChatScreen:
    await pilot.press("c")
    chat = chat_screen(app)
    assert app.screen is chat
    await wait_for(pilot, lambda: chat.engine is not None)
    return chat


def stats_lines(chat: ChatScreen) -> list[str]:
    return [str(s.render()) for s in chat.query(".turn-stats")]


def reply_finished(chat: ChatScreen) -> bool:
    lines = stats_lines(chat)
    return not chat.generating and bool(lines) and "tok/s" in lines[-1]


async def test_send_streams_a_reply_and_saves_it(workspace):
    save_settings(workspace, temperature=0.0, max_tokens=12)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        assert "model: base" in str(chat.query_one("#model-label", Static).render())
        await pilot.press(*"Say hello.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reply_finished(chat))
        assert chat.query_one("#prompt", Input).value == ""
        replies = chat.query(".assistant")
        assert len(replies) == 1
        answer = chat.last_answer()
        assert answer and answer.strip()
        assert isinstance(replies.first(), Markdown)
        assert "tok/s" in stats_lines(chat)[-1]

        await pilot.press("ctrl+y")
        assert app.clipboard == answer

    with Sessions(chat_db_path(workspace.state)) as store:
        [saved] = store.list()
        conversation = store.get(saved.id)
    assert [t.role for t in conversation.messages] == ["user", "assistant"]
    assert conversation.title == "Say hello."
    assert conversation.messages[1].model == "base"


async def test_escape_stops_a_long_reply_then_goes_back(workspace):
    save_settings(workspace, temperature=0.0, max_tokens=2000)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        await pilot.press(*"Write a very long story about a heron.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(chat._reply_parts) >= 3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not chat.generating)
        assert "stopped" in stats_lines(chat)[-1]
        assert app.screen is chat
        await pilot.press("escape")
        assert app.screen is app.library


async def test_settings_and_reopening_a_conversation(workspace):
    with Sessions(chat_db_path(workspace.state)) as store:
        old = store.create()
        store.add_message(old, SessionMessage("user", "An old question about herons"))
        store.add_message(old, SessionMessage("assistant", "An old **answer**.", "base"))
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        assert chat.session is not None and chat.session.id == old
        assert len(chat.query(".turn")) == 2

        await pilot.press("ctrl+n")
        assert chat.session is None
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChatSettingsScreen)
        top_p = app.screen.query_one("#top_p", Input)
        top_p.value = "3"
        top_p.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ChatSettingsScreen)  # refused: out of range
        top_p.value = "0.5"
        await pilot.press("enter")
        assert app.screen is chat
        assert chat.session is not None and chat.session.settings.top_p == 0.5

        await pilot.press("ctrl+o")
        picker = app.screen
        assert isinstance(picker, SessionPicker)
        assert [c.title for c in picker.sessions][-1] == "An old question about herons"
        picker.query_one("OptionList").highlighted = len(picker.sessions) - 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is chat and chat.session.id == old
        assert chat.last_answer() == "An old **answer**."


async def test_old_turns_dropped_to_fit_the_context_are_marked(workspace):
    with Sessions(chat_db_path(workspace.state)) as store:
        long = store.create(settings=ChatSettings(temperature=0.0, max_tokens=4))
        store.add_message(long, SessionMessage("user", "heron " * 1800))
        store.add_message(long, SessionMessage("assistant", "Yes.", "base"))
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        await pilot.press(*"And now?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reply_finished(chat))
        notes = [str(s.render()) for s in chat.query(".dropped")]
        assert notes == ["⋯ 1 older turn left out to fit the context window"]


async def test_picking_a_model_reloads_chat(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        await pilot.press("ctrl+t")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        assert [spec for spec, _ in picker.choices] == ["newest", "base"]  # nothing trained
        picker.query_one("OptionList").highlighted = 1
        await pilot.press("enter")
        assert app.screen is chat and chat.target_spec == "base"
        await wait_for(pilot, lambda: chat.engine is not None)
        assert "model: base" in str(chat.query_one("#model-label", Static).render())


NOTE = (
    "The pilot boat is called the Kittiwake. Dermot painted her name on the bow in yellow, "
    "and the harbour master made him paint it again because the letters ran.\n"
)


async def test_recall_gives_notes_shows_their_sources_and_turns_off(workspace, make_ingestor):
    from slmtui.tui.screens.chunks import ChunksScreen
    from slmtui.tui.widgets.sources import SourceList

    (workspace.writing / "2025-03-31-boat.md").write_text(NOTE)
    make_ingestor(workspace).scan()
    save_settings(workspace, temperature=0.0, max_tokens=16)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        assert str(chat.query_one("#recall-state", Static).render()) == "recall on"
        await pilot.press(*"What is the name of the pilot boat?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reply_finished(chat))
        [sources] = chat.query(SourceList)
        assert [str(label.render()) for label in sources.query("Label")] == [
            "from: 2025-03-31-boat.md (2025-03-31)"
        ]
        assert "kittiwake" in (chat.last_answer() or "").lower()  # the note reached the model
        sources.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ChunksScreen)
        await pilot.press("escape")
        assert app.screen is chat

        await pilot.press("ctrl+r")
        assert str(chat.query_one("#recall-state", Static).render()) == "recall off"
        chat.query_one("#prompt", Input).focus()
        await pilot.press(*"And who painted it?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reply_finished(chat) and len(chat.query(".assistant")) == 2)
        assert len(chat.query(SourceList)) == 1  # no notes, no sources for the second reply

    with Sessions(chat_db_path(workspace.state)) as store:
        [saved] = store.list()
        turns = store.get(saved.id).messages
    assert [t.sources for t in turns if t.role == "assistant"] == [
        [{"kind": "writing", "source": "2025-03-31-boat.md", "date": "2025-03-31",
          "path": "2025-03-31-boat.md", "chat_key": ""}],
        [],
    ]  # fmt: skip

    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await open_chat(pilot, app)
        assert len(chat.query(SourceList)) == 1  # reopened with the sources it was given


async def test_a_corrected_and_marked_reply_is_trained_by_the_next_run(tmp_path, tiny_base):
    """Edit the last reply (prefilled), mark it bad, go back, `r`: the run's plan and snapshot
    hold the correction and the pair; the bar said what was waiting, and says nothing after."""
    import json

    from textual.widgets import TextArea

    from slmtui import runs
    from slmtui.dataset.snapshot import read_examples
    from slmtui.ingest.store import Store
    from slmtui.tui.screens.correction import CorrectionScreen
    from slmtui.tui.screens.train import TrainScreen
    from tests.tui.conftest import tiny_workspace

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    save_settings(workspace, temperature=0.0, max_tokens=8)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await open_chat(pilot, app)
        await pilot.press(*"Coming tonight?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reply_finished(chat))
        reply = chat.last_answer()
        assert reply
        await pilot.press("ctrl+f")
        editor = app.screen
        assert isinstance(editor, CorrectionScreen)
        assert editor.query_one(TextArea).text == reply  # prefilled with the model's reply
        editor.query_one(TextArea).text = "Yes, after the tide. A"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is chat)
        # The conversation goes on from your version, also when the session is reopened.
        assert chat.last_answer() == "Yes, after the tide. A"
        with Sessions(chat_db_path(workspace.state)) as saved:
            assert saved.get(chat.session.id).messages[-1].content == "Yes, after the tide. A"
        await pilot.press("ctrl+b")
        waiting = chat.query_one("#feedback-state", Static)
        await wait_for(pilot, lambda: "1 correction and 1 mark" in str(waiting.render()))
        await pilot.press("escape")
        await pilot.press("r")
        train = app.screen
        assert isinstance(train, TrainScreen)
        await wait_for(pilot, lambda: train.progress.state == "finished", timeout=300)
        assert "your feedback: 1 correction, 1 preference pair" in train.progress.plan
        await pilot.press("c")
        await wait_for(pilot, lambda: str(waiting.render()) == "")
    [run] = runs.runs(workspace)
    examples = list(read_examples(run.dataset / "train.jsonl"))
    [correction] = [e for e in examples if e.kind == "correction"]
    [pair] = [e for e in examples if e.kind == "preference"]
    assert correction.messages[-1]["content"] == "Yes, after the tide. A"
    assert correction.messages[-2] == {"role": "user", "content": "Coming tonight?"}
    assert pair.messages[-1]["content"] == "Yes, after the tide. A" and pair.rejected == reply
    with Store(workspace.db_path) as store:
        marked = [item for item in store.feedback() if item.kind == "bad"]
    assert [item.reply for item in marked] == [reply]  # the model's reply, not your version
    manifest = json.loads((run.dataset / "manifest.json").read_text())
    assert manifest["stats"]["kinds"]["correction"] == 1
