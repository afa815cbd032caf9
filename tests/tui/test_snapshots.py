"""How each screen looks at 80x24 and 120x40 in a dark and a light theme.

Apps come from the CLI's `create_app` with the watcher off and fixed content, so nothing on screen
depends on the time, a temporary path or sampling. Update with `--snapshot-update` after a
deliberate change and look at the SVGs in __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from slmtui.chat.sessions import ChatSettings, SessionMessage, Sessions, chat_db_path
from slmtui.tui.app import create_app
from tests.tui.helpers import wait_for

SIZES = [(80, 24), (120, 40)]
THEMES = ["slmtui-dark", "slmtui-light"]

CONVERSATION = [
    SessionMessage("user", "What does the heron do in the morning?"),
    SessionMessage(
        "assistant",
        "It stands in the burn and waits.\n\n- it does not hurry\n- it does not *explain*",
        "base",
    ),
]


async def steady(pilot) -> None:
    """Stop the text cursor blinking, so the picture does not depend on when it is taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.3)


def app_for(workspace, theme: str):
    app = create_app(workspace, watch=False)
    app.theme = theme
    return app


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_library(snap_compare, workspace, theme, size):
    async def settle(pilot):
        await pilot.pause(0.3)

    assert snap_compare(app_for(workspace, theme), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_chat(snap_compare, workspace, theme, size):
    with Sessions(chat_db_path(workspace.state)) as store:
        conversation = store.create(settings=ChatSettings(temperature=0.0))
        for turn in CONVERSATION:
            store.add_message(conversation, turn)
    app = app_for(workspace, theme)

    async def open_chat(pilot):
        await pilot.press("c")
        chat = app.get_screen("chat")
        await wait_for(pilot, lambda: chat.engine is not None)
        await steady(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_chat)


@pytest.mark.parametrize("theme", THEMES)
def test_help(snap_compare, workspace, theme):
    async def open_help(pilot):
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app_for(workspace, theme), terminal_size=(80, 24), run_before=open_help)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_train_idle(snap_compare, workspace, theme, size):
    async def open_train(pilot):
        await pilot.press("t")
        await pilot.pause(0.3)

    assert snap_compare(app_for(workspace, theme), terminal_size=size, run_before=open_train)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_models_empty(snap_compare, workspace, theme, size):
    async def open_models(pilot):
        await pilot.press("m")
        await pilot.pause(0.3)

    assert snap_compare(app_for(workspace, theme), terminal_size=size, run_before=open_models)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_compare(snap_compare, workspace, theme, size):
    app = app_for(workspace, theme)

    async def open_compare(pilot):
        await pilot.press("v")
        screen = app.get_screen("compare")
        await wait_for(pilot, lambda: len(screen.engines) == 2)
        await steady(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_compare)
