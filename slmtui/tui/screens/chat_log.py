"""One chat from an export, as training sees it: its conversations, turn by turn, your turns
marked (they are the answers dialogue examples learn)."""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from slmtui.dataset.dialogue import DialogueSettings, chat_conversations, your_names
from slmtui.ingest.identity import aliases_of, matcher
from slmtui.ingest.store import Store
from slmtui.tui.widgets.footer import KeyFooter

# Conversations shown at once; the newest, since those are what a person checks after an export.
SHOWN = 200


class ChatLogScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    DEFAULT_CSS = """
    ChatLogScreen VerticalScroll { padding: 0 1; }
    ChatLogScreen .conversation-title { color: $accent; margin-top: 1; }
    ChatLogScreen .turn { padding: 0 0 0 2; }
    ChatLogScreen .yours { color: $success; }
    """

    def __init__(self, chat_key: str, title: str) -> None:
        super().__init__()
        self.chat_key = chat_key
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(Static("Loading…"), id="conversations")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        settings = DialogueSettings.from_config(self.app.config)
        with Store(self.app.workspace.db_path) as store:
            chats = store.chats()
            names = your_names(store, settings.names, chats)
            aliases = aliases_of(chats)
            conversations = chat_conversations(store, self.chat_key, settings)
        self.app.call_from_thread(self._show, conversations, names, aliases)

    def _show(self, conversations, names: tuple[str, ...], aliases: dict) -> None:
        container = self.query_one("#conversations", VerticalScroll)
        container.remove_children()
        if not conversations:
            container.mount(Static("No messages stored for this chat."))
            return
        is_me = matcher(names, aliases)
        widgets = []
        shown = conversations[-SHOWN:]
        if len(shown) < len(conversations):
            older = len(conversations) - len(shown)
            widgets.append(Static(f"{older} older conversations not shown", classes="turn"))
        for number, turns in enumerate(shown, len(conversations) - len(shown) + 1):
            held = any(turn.split == "val" for turn in turns)
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(turns[0].start))
            title = f"Conversation {number} · {when} · {len(turns)} turns"
            title += " · held out for evaluation" if held else ""
            widgets.append(Static(title, classes="conversation-title"))
            for turn in turns:
                yours = is_me(turn.sender)
                line = Text(("▶ you  " if yours else "") + f"{turn.sender}: ", style="bold")
                line.append(turn.text)
                widgets.append(Static(line, classes="turn yours" if yours else "turn"))
        container.mount_all(widgets)
        container.scroll_end(animate=False)
