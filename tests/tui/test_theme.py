"""A theme picked in the app is the one the next start uses."""

from __future__ import annotations

from slmtui.tui.app import create_app
from slmtui.tui.ui_state import UIState


async def test_theme_choice_persists(workspace):
    app = create_app(workspace, watch=False)
    assert app.theme == "slmtui-dark"  # from [ui] theme
    assert {"slmtui-dark", "slmtui-light", "slmtui-heather"} <= set(app.available_themes)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "slmtui-heather"
        await pilot.pause()
    assert UIState.load(workspace.state).theme == "slmtui-heather"
    assert create_app(workspace, watch=False).theme == "slmtui-heather"


def test_a_broken_state_file_is_ignored(workspace):
    (workspace.state / "ui.json").write_text("{not json")
    assert UIState.load(workspace.state).theme is None
    assert create_app(workspace, watch=False).theme == "slmtui-dark"
