"""Library: the files of the watched folder, their status or skip reason, and dataset stats.

A chat export is listed as its chats (participants, messages, turns), each opening to its
conversations; an export that could not be used stays listed as a file, with its reason.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Static

from slmtui.dataset.dialogue import ChatOverview, DialogueSettings, chat_overviews, your_names
from slmtui.ingest.identity import aliases_of, describe_participants, matcher
from slmtui.ingest.store import DocumentRow, Stats, Store
from slmtui.tui.screens.chat_log import ChatLogScreen
from slmtui.tui.screens.chunks import ChunksScreen
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.widgets.dataset_stats import DatasetStats
from slmtui.tui.widgets.footer import KeyFooter
from slmtui.tui.widgets.table import set_up_table

SPLIT_WORDS = {
    "train": "all trained on",
    "part": "some passages held out for evaluation",
    "val": "held out for evaluation",
}


class LibraryScreen(KeptScreen):
    BINDINGS = [
        Binding("enter", "open_file", "Chunks"),
        Binding("f5", "reload", "Reload", show=False),
    ]

    DEFAULT_CSS = """
    LibraryScreen #files {
        width: 1fr;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $accent;
    }
    LibraryScreen #detail {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self) -> None:
        super().__init__(name="library")
        self.rows: dict[str, DocumentRow] = {}
        self.chats: dict[str, ChatOverview] = {}
        self.names: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="files", cursor_type="row", zebra_stripes=True)
            yield DatasetStats(id="stats")
        yield Static("", id="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Library"
        # Sized so that file, status and counts fit beside the stats panel at 80 columns.
        set_up_table(
            self.query_one("#files", DataTable),
            "Files in writing/",
            [("File", "path", 24), ("Status", "status", 7), ("Chunks", "chunks", 6),
             ("Tokens", "tokens", 7), ("Format", "format", 8), ("Reason", "reason", None)],
        )  # fmt: skip
        self.query_one(DatasetStats).show(state="reading writing/…")
        self.action_reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_file()

    def action_open_file(self) -> None:
        table = self.query_one("#files", DataTable)
        if not table.row_count:
            return
        path = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        if path in self.chats:
            self.app.push_screen(
                ChatLogScreen(self.chats[path].chat.key, self.chats[path].chat.name)
            )
        else:
            self.app.push_screen(ChunksScreen(path))

    def action_reload(self) -> None:
        self.load_from_store()

    def set_state(self, state: str) -> None:
        self.query_one(DatasetStats).show(state=state)

    @work(thread=True, exclusive=True, group="library-load")
    def load_from_store(self) -> None:
        """Read the store on a worker thread; the UI only swaps in the result."""
        db_path = self.app.workspace.db_path
        if not db_path.exists():
            return
        settings = DialogueSettings.from_config(self.app.config)
        with Store(db_path) as store:
            documents = store.documents()
            stats = store.stats()
            chats = chat_overviews(store, settings)
            names = your_names(store, settings.names, [overview.chat for overview in chats])
        self.app.call_from_thread(self._show, documents, stats, chats, names)

    def _show(
        self,
        documents: list[DocumentRow],
        stats: Stats,
        chats: list[ChatOverview] | None = None,
        names: tuple[str, ...] = (),
    ) -> None:
        table = self.query_one("#files", DataTable)
        selected = None
        if table.row_count and table.cursor_row is not None:
            try:
                selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            except Exception:
                selected = None
        table.clear()
        self.names = names
        self.chats = {f"chat:{overview.chat.key}": overview for overview in chats or []}
        exports = {path for overview in self.chats.values() for path in overview.chat.paths}
        # A used chat export is shown as its chats; a skipped one as a file with its reason.
        documents = [row for row in documents if row.path not in exports or row.status != "ok"]
        self.rows = {row.path: row for row in documents}
        is_me = matcher(names, aliases_of(o.chat for o in self.chats.values()))
        for key, overview in self.chats.items():
            chat = overview.chat
            people = ", ".join(
                name + (" (you)" if is_me(name) else "") for name in chat.participants
            )
            table.add_row(
                f"💬 {chat.name}",
                Text("chat", style="green"),
                f"{chat.messages:,}",
                f"{chat.tokens:,}",
                chat.format,
                people,
                key=key,
            )
        for row in documents:
            ok = row.status == "ok"
            status = Text("ok", style="green") if ok else Text("skipped", style="yellow")
            table.add_row(
                row.path,
                status,
                str(row.chunks) if ok else "",
                f"{row.tokens:,}" if ok else "",
                row.format or "—",
                row.reason or "",
                key=row.path,
            )
        if selected in self.rows:
            table.move_cursor(row=table.get_row_index(selected))
        table.border_subtitle = f"{len(documents)} files" + (
            f", {len(self.chats)} chats" if self.chats else ""
        )
        self.query_one(DatasetStats).show(stats)
        self._describe_selected()
        if self.chats and names and not self.app.config.identity.names:
            self.app.ask_identity(names[0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_selected(event.row_key.value if event.row_key else None)

    def _describe_selected(self, path: str | None = None) -> None:
        table = self.query_one("#files", DataTable)
        if path is None and table.row_count:
            path = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        row = self.rows.get(path or "")
        detail = self.query_one("#detail", Static)
        overview = self.chats.get(path or "")
        if overview is not None:
            detail.update(self._describe_chat(overview))
        elif row is None:
            detail.update("Put your writing in writing/: it is read as soon as you save.")
        elif row.status == "ok":
            detail.update(
                f"{row.path}: {row.chunks} chunks, {row.tokens:,} tokens, "
                + SPLIT_WORDS.get(row.split or "", "split pending")
            )
        else:
            detail.update(Text(f"{row.path}: skipped: {row.reason}", style="yellow"))

    def _describe_chat(self, overview: ChatOverview) -> str:
        chat = overview.chat
        you = (
            f"you: {', '.join(self.names)}"
            if self.names
            else "who you are is unknown: set [identity] names"
        )
        if self.names and not self.app.config.identity.names:
            you = f"you (proposed): {self.names[0]}; confirm it in [identity] names"
        return (
            f"{chat.name}: {chat.messages:,} messages in {overview.turns:,} turns "
            f"({overview.your_turns:,} yours), {overview.conversations:,} conversations "
            f"({overview.held_out} held out); {describe_participants(chat.participants)}; {you}"
            + "".join(f"; note: {note}" for note in chat.notes)
        )
