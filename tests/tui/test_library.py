"""The Library screen, driven by Pilot over a real workspace with a real watcher."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from slmtui.config import with_changes
from slmtui.tui.app import HelpScreen, SlmtuiApp
from slmtui.tui.screens.chunks import ChunksScreen
from tests.tui.helpers import wait_for


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
        assert table.row_count == len(app.library.rows)
        stats = app.library.query_one("#stats")
        assert stats.stats.documents_ok == len(app.library.rows)

        writing = samples_workspace.writing
        (writing / "new-piece.md").write_text(
            "# New\n\nWell. The heron came back to the burn this morning, and stood there "
            "like a man waiting for a bus that had been cancelled in nineteen eighty-one."
        )
        await wait_for(pilot, lambda: "new-piece.md" in app.library.rows)
        assert app.library.rows["new-piece.md"].status == "ok"
        assert stats.stats.documents_ok == len(app.library.rows)

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
