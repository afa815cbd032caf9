"""The dataset summary beside the file list: what training would see right now."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from slmtui.ingest.store import Stats


class DatasetStats(Static):
    """Counts from the store, rendered as a compact two-column table."""

    DEFAULT_CSS = """
    DatasetStats {
        width: 24;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $accent;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.border_title = "Dataset"
        self.state = "starting"
        self.stats = Stats()
        self.requests: dict | None = None  # the request writer's last counts

    def show_requests(self, counts: dict) -> None:
        """The chat-pair requests written so far (total, ready, rejected, pending)."""
        self.requests = counts
        self.update(self._render_table())

    def show(self, stats: Stats | None = None, state: str | None = None) -> None:
        if stats is not None:
            self.stats = stats
        if state is not None:
            self.state = state
            self.border_subtitle = state
        self.update(self._render_table())

    def rows(self) -> list[tuple[str, str]]:
        """The (label, value) rows the panel shows."""
        stats = self.stats
        rows = [
            ("Documents", f"{stats.documents_ok:,}"),
            ("Skipped", f"{stats.documents_skipped:,}"),
            ("Chunks", f"{stats.chunks:,}"),
            ("Tokens", f"{stats.tokens_train + stats.tokens_val:,}"),
            ("  train", f"{stats.tokens_train:,}"),
            ("  validation", f"{stats.tokens_val:,}"),
            ("Duplicates", f"{stats.duplicates_removed:,}"),
        ]
        if self.requests and self.requests.get("total"):
            counts = self.requests
            rows.append(("Chat pairs", f"{counts['ready']:,}/{counts['total']:,}"))
            if counts.get("rejected"):
                rows.append(("  rejected", f"{counts['rejected']:,}"))
        if stats.per_format:
            rows.append(("", ""))
            rows += [(fmt, f"{counts['documents']:,}") for fmt, counts in stats.per_format.items()]
        return rows

    def _render_table(self) -> Table:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim")
        table.add_column(justify="right")
        for label, value in self.rows():
            table.add_row(label, value)
        return table
