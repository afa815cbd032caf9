"""One document's chunks, as training will see them: text, token count, split, duplicates."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from slmtui.ingest.store import Store
from slmtui.tui.widgets.footer import KeyFooter


class ChunksScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    DEFAULT_CSS = """
    ChunksScreen VerticalScroll { padding: 0 1; }
    ChunksScreen .chunk-title { color: $accent; margin-top: 1; }
    ChunksScreen .chunk-text { padding: 0 0 0 2; }
    ChunksScreen .duplicate { color: $text-muted; }
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(Static("Loading…"), id="chunks")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.path
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        with Store(self.app.workspace.db_path) as store:
            chunks = store.chunks_of(self.path)
            document = store.document(self.path)
        self.app.call_from_thread(self._show, chunks, document)

    def _show(self, chunks, document) -> None:
        container = self.query_one("#chunks", VerticalScroll)
        container.remove_children()
        if document is not None and document.status == "skipped":
            container.mount(Static(Text(f"Skipped: {document.reason}", style="yellow")))
            return
        if not chunks:
            container.mount(Static("No chunks stored for this file."))
            return
        widgets = []
        for order, text, tokens, split, duplicate_of in chunks:
            title = f"#{order + 1} · {tokens:,} tokens · {split}"
            if duplicate_of is not None:
                title += " · duplicate, left out of training"
            classes = "duplicate" if duplicate_of is not None else ""
            widgets.append(Static(title, classes=f"chunk-title {classes}"))
            widgets.append(Static(Text(text), classes=f"chunk-text {classes}"))
        container.mount_all(widgets)
