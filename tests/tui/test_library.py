"""The Library screen, driven by Pilot over a real workspace with a real watcher."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from slmtui.config import with_changes
from slmtui.tui.app import HelpScreen, SlmtuiApp
from slmtui.tui.screens.chat_log import ChatLogScreen
from slmtui.tui.screens.chunks import ChunksScreen
from slmtui.tui.screens.confirm import ConfirmScreen
from tests.chat_exports import telegram_account, telegram_chat, whatsapp_android
from tests.tui.helpers import wait_for

T0 = 1767225600.0


def make_app(workspace) -> SlmtuiApp:
    config = with_changes(workspace.load_config(), "watch", debounce_seconds=0.2, poll_seconds=0.05)
    # These tests follow the folder; the background requests have tests of their own.
    config = with_changes(config, "dataset", prepare_in_background=False)
    return SlmtuiApp(workspace, config)


async def test_library_lists_files_and_follows_the_folder(samples_workspace):
    app = make_app(samples_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.library.rows) >= 40)
        table = app.screen.query_one("#files", DataTable)
        assert table.row_count == len(app.library.rows) + len(app.library.chats)
        stats = app.library.query_one("#stats")
        exports = {path for chat in app.library.chats.values() for path in chat.chat.paths}
        assert stats.stats.documents_ok == len(app.library.rows) + len(exports)

        writing = samples_workspace.writing
        (writing / "new-piece.md").write_text(
            "# New\n\nWell. The heron came back to the burn this morning, and stood there "
            "like a man waiting for a bus that had been cancelled in nineteen eighty-one."
        )
        await wait_for(pilot, lambda: "new-piece.md" in app.library.rows)
        assert app.library.rows["new-piece.md"].status == "ok"
        assert stats.stats.documents_ok == len(app.library.rows) + len(exports)

        (writing / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
        await wait_for(pilot, lambda: "scan.pdf" in app.library.rows)
        table.move_cursor(row=table.get_row_index("scan.pdf"))
        await pilot.pause()
        detail = str(app.library.query_one("#detail", Static).render())
        assert "scan.pdf: skipped: not a readable PDF" in detail

        table.move_cursor(row=table.get_row_index("new-piece.md"))
        await pilot.press("enter")
        assert isinstance(app.screen, ChunksScreen)
        await wait_for(pilot, lambda: len(app.screen.query(".chunk-text")) == 1)
        shown = str(app.screen.query_one(".chunk-text", Static).render())
        assert "The heron came back to the burn" in shown
        assert "1 · " in str(app.screen.query_one(".chunk-title", Static).render())
        await pilot.press("escape")
        assert app.screen is app.library

        (writing / "new-piece.md").unlink()
        await wait_for(pilot, lambda: "new-piece.md" not in app.library.rows)


async def test_help_opens_and_closes(workspace):
    app = make_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("x")
        assert app.screen is app.library


async def test_library_shows_a_chat_its_conversations_and_asks_who_you_are(workspace):
    rows = [
        (T0 + day * 86400 + i * 60, "Elena" if i % 2 else "Ana", f"day {day}, message {i}")
        for day in range(3)
        for i in range(6)
    ]
    (workspace.writing / "WhatsApp Chat with Ana.txt").write_bytes(whatsapp_android(rows))
    other = telegram_chat(
        [(T0 + i, s, f"hi number {i}") for i, s in enumerate(["Ben", "Elena"] * 3)],
        name="Ben",
        chat_id=3,
    )
    (workspace.writing / "result.json").write_bytes(
        telegram_account([other], first_name="", username="x")
    )
    app = make_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        # Nobody is named in [identity]: the app proposes the sender present in every chat.
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "are you [b]Elena[/b]?" in app.screen.question
        await pilot.press("n")
        assert app.config.identity.names == []
    # Asked once: the next start does not ask again.
    app = make_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.library.chats) == 2)
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
    (workspace.state / "ui.json").unlink()
    app = make_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.config.identity.names == ["Elena"])
        saved = workspace.load_config().identity
        assert saved.names == ["Elena"] and "You are Elena." in saved.system_prompt
        # A WhatsApp chat is known by its first lines, and named by its file.
        whatsapp = lambda: [k for k, o in app.library.chats.items() if o.chat.name == "Ana"]  # noqa: E731
        await wait_for(pilot, lambda: len(whatsapp()) == 1)
        table = app.library.query_one("#files", DataTable)
        assert "WhatsApp Chat with Ana.txt" not in app.library.rows  # listed as its chat
        table.move_cursor(row=table.get_row_index(whatsapp()[0]))
        await pilot.pause()
        detail = str(app.library.query_one("#detail", Static).render())
        assert "18 messages in 18 turns (9 yours), 3 conversations" in detail
        await pilot.press("enter")
        assert isinstance(app.screen, ChatLogScreen)
        await wait_for(pilot, lambda: len(app.screen.query(".turn")) == 18)
        yours = app.screen.query(".yours")
        assert len(yours) == 9 and all("▶ you" in str(w.render()) for w in yours)
        assert len(app.screen.query(".conversation-title")) == 3
        await pilot.press("escape")
        assert app.screen is app.library
