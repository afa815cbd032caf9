"""Keys from any screen, and every screen reachable from the command palette."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, Static

from slmtui.config import ConfigError, KeysConfig
from slmtui.tui.app import HelpScreen, create_app
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


def remap(workspace, **keys: str) -> None:
    """Write a [keys] table into the workspace's slmtui.toml (init wrote one with the defaults)."""
    text = workspace.config_path.read_text()
    for name, key in keys.items():
        default = f'{name} = "{getattr(KeysConfig(), name)}"'
        assert default in text
        text = text.replace(default, f'{name} = "{key}"')
    workspace.config_path.write_text(text)


def footer_keys(app) -> dict[str, str]:
    """What the footer shows: description -> key."""
    return {key.description: key.key_display for key in app.screen.query("FooterKey")}


async def test_keys_from_slmtui_toml_replace_the_defaults(workspace):
    remap(workspace, library="f2", chat="g", train="f3", help="f1,question_mark")
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause(0.2)
        assert footer_keys(app)["Library"] == "f2"
        assert footer_keys(app)["Chat"] == "g"
        await pilot.press("t")
        assert app.screen is app.library
        await pilot.press("f3")
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("l")  # the default no longer does anything
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("f2")
        assert app.screen is app.library

        notified: list[str] = []
        notify = app.notify
        app.notify = lambda message, **kwargs: (notified.append(message), notify(message, **kwargs))
        await pilot.press("m", "e")  # nothing trained yet: the hint names the configured key
        assert any("train first (f3)" in message for message in notified), notified
        await pilot.press("escape")
        assert app.screen is app.library
        await pilot.press("c")
        assert app.screen is app.library
        await pilot.press("g")
        assert isinstance(app.screen, ChatScreen)
        prompt = app.screen.query_one("#prompt", Input)
        assert app.focused is prompt
        await pilot.press("g", "t", "l")  # text keys type into the chat input
        assert isinstance(app.screen, ChatScreen)
        assert prompt.value == "gtl"
        await pilot.press("f2")  # a key that types nothing works from the input
        assert app.screen is app.library

        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        shown = str(app.screen.query_one(Static).render())
        assert "f2       Library" in shown
        assert "g        Chat" in shown
        assert "f1/?     this help" in shown
        assert "l        Library" not in shown
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        hints = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert hints["Library"].endswith("(f2)")
        assert hints["Chat"].endswith("(g)")
        assert hints["Train"].endswith("(f3)")
        assert hints["Models"].endswith("(m)")


async def test_quit_key_is_configurable_and_ctrl_q_then_does_nothing(workspace):
    remap(workspace, quit="f10")
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press("f10")
        await pilot.pause(0.1)
        assert not app.is_running


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"library": "g", "chat": "g"}, "'keys.library' and 'keys.chat' both use 'g'"),
        ({"library": "?"}, "'keys.library' and 'keys.help' both use 'question_mark'"),
        ({"library": ""}, "'keys.library' names no key"),
        ({"library": "f2x"}, "'keys.library' has 'f2x', which is not a key name Textual knows"),
        ({"library": "s"}, "'keys.library' uses 's', which is already 'Start' on the Train screen"),
        ({"quit": "y"}, "'keys.quit' uses 'y', which is already 'Yes' on the Confirm screen"),
        ({"models": "ctrl+p"}, "'keys.models' uses 'ctrl+p', which is already the command palette"),
    ],
)
def test_bad_keys_stop_the_app_naming_the_keys_and_the_file(workspace, keys, expected):
    remap(workspace, **keys)
    with pytest.raises(ConfigError) as error:
        create_app(workspace, watch=False)
    assert str(workspace.config_path) in str(error.value)
    assert expected in str(error.value)
