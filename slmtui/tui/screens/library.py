"""Library: the files of the watched folder, their status or skip reason, and dataset stats."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Static

from slmtui.ingest.store import DocumentRow, Stats, Store
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
        with Store(db_path) as store:
            documents = store.documents()
            stats = store.stats()
        self.app.call_from_thread(self._show, documents, stats)

    def _show(self, documents: list[DocumentRow], stats: Stats) -> None:
        table = self.query_one("#files", DataTable)
        selected = None
        if table.row_count and table.cursor_row is not None:
            try:
                selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            except Exception:
                selected = None
        table.clear()
        self.rows = {row.path: row for row in documents}
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
        table.border_subtitle = f"{len(documents)} files"
        self.query_one(DatasetStats).show(stats)
        self._describe_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_selected(event.row_key.value if event.row_key else None)

    def _describe_selected(self, path: str | None = None) -> None:
        table = self.query_one("#files", DataTable)
        if path is None and table.row_count:
            path = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        row = self.rows.get(path or "")
        detail = self.query_one("#detail", Static)
        if row is None:
            detail.update("Put your writing in writing/: it is read as soon as you save.")
        elif row.status == "ok":
            detail.update(
                f"{row.path}: {row.chunks} chunks, {row.tokens:,} tokens, "
                + SPLIT_WORDS.get(row.split or "", "split pending")
            )
        else:
            detail.update(Text(f"{row.path}: skipped: {row.reason}", style="yellow"))
