"""The slmtui app: one workspace, its screens, and the background work that feeds them."""

from __future__ import annotations

import time

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from slmtui.config import Config
from slmtui.core.ingest import IngestReport
from slmtui.core.watcher import LiveIngest
from slmtui.tui.messages import IngestFailed, IngestReported
from slmtui.tui.screens.library import LibraryScreen
from slmtui.tui.themes import load_themes
from slmtui.workspace import Workspace

HELP = """\
[b]slmtui[/b]: your writing in, a model that writes like you out.

  [b]l[/b]        Library: the files in writing/ and the dataset
  [b]enter[/b]    open a file to see its chunks ([b]esc[/b] back)
  [b]f5[/b]       reload the Library from the store
  [b]ctrl+p[/b]   command palette
  [b]?[/b]        this help
  [b]ctrl+q[/b]   quit

Files are read as soon as they are saved in writing/.
Press any key to close."""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static {
        width: 64; height: auto; padding: 1 2;
        border: round $accent; background: $surface;
    }
    """

    def compose(self):
        yield Static(HELP)

    def on_key(self) -> None:
        self.dismiss()


class SlmtuiApp(App[None]):
    TITLE = "slmtui"
    BINDINGS = [
        Binding("l", "show_library", "Library"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, workspace: Workspace, config: Config, *, watch: bool = True):
        super().__init__()
        self.workspace = workspace
        self.config = config
        self.watch_enabled = watch
        self.live: LiveIngest | None = None
        self._first_report = True
        for theme in load_themes():
            self.register_theme(theme)
        if config.ui.theme in self.available_themes:
            self.theme = config.ui.theme

    def on_mount(self) -> None:
        self.sub_title = str(self.workspace.root)
        self.library = LibraryScreen()
        self.push_screen(self.library)
        if self.watch_enabled:
            self.live = LiveIngest(
                self.workspace,
                self.config,
                on_report=self._post_report,
                on_error=lambda reason: self.post_message(IngestFailed(reason)),
            )
            self.live.start()

    def _post_report(self, report: IngestReport) -> None:
        """Called on the ingest thread; post_message is safe from any thread."""
        initial, self._first_report = self._first_report, False
        self.post_message(IngestReported(report, initial=initial))

    def on_unmount(self) -> None:
        if self.live is not None:
            self.live.stop()

    def on_ingest_reported(self, message: IngestReported) -> None:
        report = message.report
        self.library.load_from_store()
        self.library.set_state(f"watching · {time.strftime('%H:%M')}")
        if message.initial or not report.changes:
            return
        kinds = ", ".join(
            f"{report.count(kind)} {kind}"
            for kind in ("added", "updated", "renamed", "removed", "skipped")
            if report.count(kind)
        )
        self.notify(kinds, title="Writing folder changed")

    def on_ingest_failed(self, message: IngestFailed) -> None:
        self.library.set_state("ingest stopped")
        self.notify(message.reason, title="Ingest failed", severity="error", timeout=10)

    def action_show_library(self) -> None:
        if self.screen is not self.library:
            self.switch_screen(self.library)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def create_app(workspace: Workspace, *, watch: bool = True) -> SlmtuiApp:
    """The one factory used by the CLI, the tests and the snapshots."""
    return SlmtuiApp(workspace, workspace.load_config(), watch=watch)
