"""Bases people pick, with what each needs here and whether it fits: the base of the next run
is set from this list (the Train screen's `B`). The list comes from the `slmtui.ml.bases`
child (jobs/bases.py), measured for this machine, so it takes a few seconds to appear."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from slmtui.formats import format_gigabytes
from slmtui.jobs.bases import bases_report, describe_machine, use_base
from slmtui.workspace import WorkspaceError

VERDICT_STYLES = {"fits": "green", "fits with QLoRA": "yellow", "too big": "red"}


class BasesScreen(ModalScreen[str | None]):
    """Dismisses with the base that was set, or None on esc."""

    BINDINGS = [
        Binding("enter", "use", "Use", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    BasesScreen { align: center middle; }
    BasesScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: round $accent; background: $surface;
    }
    BasesScreen DataTable { height: auto; max-height: 14; margin: 1 0 0 0; }
    BasesScreen .hint { color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.repos: list[str] = []
        self.busy = True

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Measuring what each base needs on this machine…", id="machine")
            yield DataTable(id="bases", cursor_type="row", zebra_stripes=True)
            yield Static(
                "enter uses the base for the next run (a hub model downloads first; a gated "
                "one needs `hf auth login`) · esc cancel",
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one("#bases", DataTable)
        for label in ("Base", "Params", "Licence", "LoRA", "QLoRA", "Fit"):
            table.add_column(label, key=label.lower())
        self.load()

    @work(thread=True, exclusive=True, group="bases")
    def load(self) -> None:
        try:
            report = bases_report(self.app.workspace, quiet=True)
        except WorkspaceError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show, report)

    def show(self, report: dict) -> None:
        self.busy = False
        self.query_one("#machine", Static).update(describe_machine(report["machine"]))
        table = self.query_one("#bases", DataTable)
        self.repos = []
        for base in report["bases"]:
            self.repos.append(base["repo"])
            table.add_row(
                base["name"],
                f"{base['params'] / 1e9:.2f}B",
                base["licence"] + (" (gated)" if base["gated"] else ""),
                format_gigabytes(base["lora_bytes"]),
                format_gigabytes(base["qlora_bytes"]),
                Text(base["verdict"], style=VERDICT_STYLES[base["verdict"]]),
            )
        table.focus()

    def show_error(self, message: str) -> None:
        self.busy = False
        self.query_one("#machine", Static).update(Text(message, style="red"))

    def action_use(self) -> None:
        table = self.query_one("#bases", DataTable)
        if self.busy or not self.repos:
            return
        self.busy = True
        repo = self.repos[table.cursor_row]
        self.query_one("#machine", Static).update(f"Setting {repo}…")
        self.set_base(repo)

    @work(thread=True, exclusive=True, group="bases")
    def set_base(self, repo: str) -> None:
        try:
            chosen = use_base(self.app.workspace, repo, quiet=True)
        except WorkspaceError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.dismiss, chosen.base)

    def action_cancel(self) -> None:
        self.dismiss(None)
