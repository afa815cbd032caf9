"""Keys from any screen, and every screen reachable from the command palette."""

from __future__ import annotations

from textual.command import CommandPalette

from slmtui.tui.app import create_app
from slmtui.tui.screens.chat import ChatScreen
from slmtui.tui.screens.models import ModelsScreen
from slmtui.tui.screens.train import TrainScreen


async def test_screen_keys_and_palette(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("m")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("escape")
        assert app.screen is app.library
        await pilot.press("c")
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("escape")  # not generating: back
        assert app.screen is app.library

        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Library", "Train", "Retrain", "Models", "Chat", "Help", "Theme"):
            assert any(t.startswith(title) for t in titles), title

        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Models")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ModelsScreen)
