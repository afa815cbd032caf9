"""The sources a reply was given by recall, under the reply: enter on one opens it, as the
Library opens a file or a chat."""

from __future__ import annotations

from textual.widgets import Label, ListItem, ListView

from slmtui.recall.notes import source_name, sources_line
from slmtui.tui.screens.chat_log import ChatLogScreen
from slmtui.tui.screens.chunks import ChunksScreen


class SourceList(ListView):
    """One line per source ("from: …" when there are none); a source opens on enter."""

    DEFAULT_CSS = """
    SourceList { height: auto; max-height: 8; margin: 0 0 0 2; background: transparent; }
    SourceList > ListItem { color: $text-muted; }
    SourceList:focus > ListItem.-highlight { color: $text; }
    """

    def __init__(self, sources: list[dict]) -> None:
        self.sources = sources
        if sources:
            items = [ListItem(Label(f"from: {source_name(s)}")) for s in sources]
        else:
            items = [ListItem(Label(sources_line([])))]
        super().__init__(*items, classes="sources")

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if not self.sources or self.index is None:
            return
        source = self.sources[self.index]
        if source["kind"] == "chat" and source.get("chat_key"):
            self.app.push_screen(ChatLogScreen(source["chat_key"], source["source"]))
        elif source["kind"] == "writing":
            self.app.push_screen(ChunksScreen(source["path"]))
