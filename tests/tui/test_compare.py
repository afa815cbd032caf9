"""Compare: one prompt, two models, two streamed answers."""

from __future__ import annotations

from textual.widgets import Static

from slmtui.tui.app import create_app
from slmtui.tui.screens.compare import SIDES, CompareScreen
from tests.tui.helpers import wait_for


async def open_compare(pilot, app) -> CompareScreen:
    """Compare opened with its key, once both models have loaded."""
    await pilot.press("v")
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    await wait_for(pilot, lambda: len(screen.engines) == 2)
    return screen


async def test_one_prompt_two_answers(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app)
        assert [screen.query_one(f"#pane-{s}").border_title for s in SIDES] == ["base", "base"]
        await pilot.press(*"Name a bird.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.generating)
        for side in SIDES:
            assert screen.replies[side].strip()
            assert "tok/s" in str(screen.query_one(f"#stats-{side}", Static).render())
        # Same model, same seed: the two sides agree.
        assert screen.replies["left"] == screen.replies["right"]


async def test_both_sides_get_the_same_notes_and_their_sources_show(workspace, make_ingestor):
    (workspace.writing / "2025-03-31-boat.md").write_text(
        "The pilot boat is called the Kittiwake. Dermot painted her name on the bow in yellow.\n"
    )
    make_ingestor(workspace).scan()
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app)
        await pilot.press(*"What is the pilot boat called?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.generating)
        sources = str(screen.query_one("#compare-sources", Static).render())
        assert sources == "from: 2025-03-31-boat.md (2025-03-31)"
        # Given the note, the bundled model names the boat; both sides alike.
        assert "kittiwake" in screen.replies["left"].lower()
        assert screen.replies["left"] == screen.replies["right"]

        await pilot.press("ctrl+r")  # recall off: no notes, no sources
        await pilot.press(*"What is the pilot boat called?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.generating)
        assert str(screen.query_one("#compare-sources", Static).render()) == ""
        assert "kittiwake" not in screen.replies["left"].lower()
