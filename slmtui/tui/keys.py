"""The app-level keys from the `[keys]` settings: bindings, how help shows them, and the checks
that need Textual's own key names (the config module checks the rest without importing textual).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.binding import Binding
from textual.keys import Keys, format_key, key_to_character
from textual.screen import Screen

from slmtui.config import ConfigError, KeysConfig

# setting -> (action, what the footer and the command palette call it), in the footer's order:
# quit first, since a narrow footer cuts off the last ones.
APP_ACTIONS = {
    "quit": ("quit", "Quit"),
    "library": ("show_library", "Library"),
    "dataset": ("show_dataset", "Dataset"),
    "train": ("show_train", "Train"),
    "models": ("show_models", "Models"),
    "chat": ("show_chat", "Chat"),
    "compare": ("show_compare", "Compare"),
    "retrain": ("retrain", "Retrain"),
    "help": ("help", "Help"),
}

# Names Textual gives keys that type no character ("f2", "pageup", "escape"...).
_NAMED_KEYS = {key.value.rpartition("+")[2] for key in Keys if not key.value.startswith("<")}


def app_bindings(keys: KeysConfig) -> list[Binding]:
    """The app's bindings; quit is a priority binding so that it works on every screen."""
    return [
        Binding(getattr(keys, name), action, description, priority=name == "quit")
        for name, (action, description) in APP_ACTIONS.items()
    ]


def key_names(value: str) -> list[str]:
    """Textual's names for the keys in a setting ("?" becomes "question_mark")."""
    return [binding.key for binding in Binding.make_bindings([Binding(value, "")])]


def show_keys(value: str) -> str:
    """A setting's keys as help shows them: "f1,question_mark" is "f1/?"."""
    return "/".join(format_key(key) for key in key_names(value))


def _known(key: str) -> bool:
    name = key.rpartition("+")[2]
    return len(name) == 1 or name in _NAMED_KEYS or key_to_character(name) is not None


def _screen_keys(screens: Iterable[type[Screen]]) -> dict[str, str]:
    """Keys the screens bind themselves, each with a phrase saying what it does where."""
    taken = {key: f"'{b.description}' on every screen" for key, b in _bindings([Screen])}
    for screen in screens:
        title = screen.__name__.removesuffix("Screen")
        for key, binding in _bindings([screen]):
            taken[key] = f"'{binding.description or binding.action}' on the {title} screen"
    return taken


def _bindings(classes: Iterable[type[Screen]]) -> Iterable[tuple[str, Binding]]:
    for cls in classes:
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            yield binding.key, binding


def check_app_keys(
    keys: KeysConfig,
    source: Path | str,
    *,
    screens: Iterable[type[Screen]],
    dialogs: Iterable[type[Screen]],
    reserved: dict[str, str],
) -> None:
    """Every app key is a key Textual knows, used once, and not already a key of a screen.

    `screens` are the main screens, where a screen's own key would win over the app's; `dialogs`
    only matter for quit, a priority binding that would fire before a dialog's own key.
    """
    on_screens = _screen_keys(screens)
    in_dialogs = _screen_keys(dialogs)
    taken: dict[str, str] = {}
    for name in APP_ACTIONS:
        for key in key_names(getattr(keys, name)):
            if not _known(key):
                raise ConfigError(
                    f"{source}: 'keys.{name}' has {key!r}, which is not a key name Textual "
                    "knows (for example 'g', 'f2', 'ctrl+g', 'question_mark', 'escape')"
                )
            if taken.get(key, name) != name:
                raise ConfigError(
                    f"{source}: 'keys.{taken[key]}' and 'keys.{name}' both use {key!r}; "
                    "give each action its own key"
                )
            taken[key] = name
            where = reserved.get(key) or on_screens.get(key)
            if where is None and name == "quit":
                where = in_dialogs.get(key)
            if where is not None:
                raise ConfigError(
                    f"{source}: 'keys.{name}' uses {key!r}, which is already {where}; "
                    "pick another key"
                )
