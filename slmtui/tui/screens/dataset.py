"""Dataset: every training example as the model will see it, and the person's corrections.

The list is the next snapshot's examples (slmtui.dataset.examples: built from the cached requests
only, nothing generated), filtered by kind (k) and by the selected example's document (f). The
pane beside it shows the request and, highlighted, the part training learns. x leaves the
selected example out of training (or takes it back), X its whole document, n asks the base model
for a new request. The store is read and written on worker threads.
"""

from __future__ import annotations

import time
from collections import Counter

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Header, Static

from slmtui.dataset.build import PlannedExample
from slmtui.dataset.dialogue import DialogueSettings
from slmtui.dataset.examples import list_examples, regenerate
from slmtui.dataset.generator import generator_for
from slmtui.dataset.kinds import EXAMPLE_KINDS
from slmtui.ingest.store import Store
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.widgets.footer import KeyFooter
from slmtui.tui.widgets.table import set_up_table

KIND_FILTERS = (None, *EXAMPLE_KINDS)  # None: every kind


class DatasetScreen(KeptScreen):
    BINDINGS = [
        Binding("x", "toggle_example", "Exclude"),
        Binding("X", "toggle_document", "Excl. doc"),
        Binding("n", "regenerate", "New request"),
        Binding("k", "next_kind", "Kind"),
        Binding("f", "filter_document", "Doc filter"),
        Binding("escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    DatasetScreen #examples { width: 50; height: 1fr; border: round $panel-lighten-2; }
    DatasetScreen #example-pane { width: 1fr; height: 1fr; border: round $panel-lighten-2; }
    DatasetScreen #example { padding: 0 1; }
    DatasetScreen #dataset-filter { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__(name="dataset")
        self.views: list[PlannedExample] = []
        self.kind: str | None = None
        self.document: str | None = None
        self.busy = False  # a change or a new request is being written

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="examples", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="example-pane"):
                yield Static("", id="example")
        yield Static("", id="dataset-filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Dataset"
        set_up_table(
            self.query_one("#examples", DataTable),
            "Examples",
            [("ID", "id", 10), ("Kind", "kind", 18), ("Document", "path", None)],
        )
        self.query_one("#example-pane").border_title = "As the model sees it"
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    # -- reading and writing the store, off the UI thread ---------------------------------------

    @work(thread=True, exclusive=True, group="dataset-read")
    def reload(self) -> None:
        workspace = self.app.workspace
        if not workspace.db_path.exists():
            return
        config = self.app.config
        generator = generator_for(config.model.base)
        with Store(workspace.db_path) as store:
            key = generator.key if generator else None
            views = list_examples(store, config.dataset, key, DialogueSettings.from_config(config))
        self.app.call_from_thread(self.show_views, views)

    @work(thread=True, group="dataset-write")
    def write(self, kind: str, target: str, excluded: bool, what: str) -> None:
        with Store(self.app.workspace.db_path) as store:
            store.set_excluded(kind, target, excluded)
        self.app.call_from_thread(self.changed, what)

    @work(thread=True, group="dataset-write")
    def write_request(self, view: PlannedExample) -> None:
        generator = generator_for(self.app.config.model.base)
        text = None
        if generator is not None:
            with Store(self.app.workspace.db_path) as store:
                text = regenerate(store, view, generator, attempt=int(time.time()))
            generator.close()
        what = f"New request for {view.id}: {text}" if text else "This base cannot write requests."
        self.app.call_from_thread(self.changed, what)

    def changed(self, what: str) -> None:
        self.busy = False
        self.notify(what, title="Dataset")
        self.reload()

    # -- showing ---------------------------------------------------------------------------------

    def shown(self) -> list[PlannedExample]:
        return [
            view for view in self.views
            if (self.kind is None or view.kind == self.kind)
            and (self.document is None or view.path == self.document)
        ]  # fmt: skip

    def show_views(self, views: list[PlannedExample]) -> None:
        self.views = views
        table = self.query_one("#examples", DataTable)
        selected = self.selected()
        table.clear()
        for view in self.shown():
            style = "dim strike" if view.excluded else ""
            kind = view.kind + (f" ({view.status})" if view.status else "")
            table.add_row(
                Text(view.id, style=style), Text(kind, style=style),
                Text(view.path, style=style), key=view.example.id,
            )  # fmt: skip
        if selected is not None and selected.example.id in {v.example.id for v in self.shown()}:
            table.move_cursor(row=table.get_row_index(selected.example.id))
        self.show_filter()
        self.show_example()

    def show_filter(self) -> None:
        trained = [view for view in self.views if view.split == "train" and not view.excluded]
        counts = Counter(view.kind for view in trained)
        summary = ", ".join(f"{counts[kind]} {kind}" for kind in EXAMPLE_KINDS if counts[kind])
        excluded = sum(view.excluded for view in self.views)
        self.query_one("#dataset-filter", Static).update(
            f"kind: {self.kind or 'all'} · document: {self.document or 'all'} · "
            f"training gets {len(trained)} ({summary}) · {excluded} excluded"
        )
        self.query_one("#examples", DataTable).border_subtitle = f"{len(self.shown())} shown"

    def selected(self) -> PlannedExample | None:
        table = self.query_one("#examples", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((view for view in self.views if view.example.id == key), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_example()

    def show_example(self) -> None:
        view = self.selected()
        pane = self.query_one("#example", Static)
        if view is None:
            pane.update("No examples: put writing in writing/.")
            return
        text = Text()
        text.append(f"{view.id} · {view.kind} · {view.split} · {view.path}\n", style="bold")
        if view.excluded:
            text.append("left out of training (x or X takes it back)\n", style="yellow")
        if view.status:
            text.append(f"its request is {view.status}: n asks for one\n", style="yellow")
        if view.request:
            text.append("\nrequest (not trained on)\n", style="dim")
            text.append(view.request + "\n")
            text.append("\nreply (trained on)\n", style="dim")
        else:
            text.append("\nplain text (trained on)\n", style="dim")
        text.append(view.trained_text, style="green")
        if view.example.rejected is not None:
            text.append("\n\npreferred over the model's reply\n", style="dim")
            text.append(view.example.rejected, style="red")
        pane.update(text)

    # -- actions -----------------------------------------------------------------------------

    def action_next_kind(self) -> None:
        self.kind = KIND_FILTERS[(KIND_FILTERS.index(self.kind) + 1) % len(KIND_FILTERS)]
        self.show_views(self.views)

    def action_filter_document(self) -> None:
        view = self.selected()
        self.document = None if self.document is not None or view is None else view.path
        self.show_views(self.views)

    def action_toggle_example(self) -> None:
        view = self.selected()
        if view is not None and not self.busy:
            self.busy = True
            verb = "back in" if view.excluded else "left out of"
            self.write(
                "example", view.example.id, not view.excluded, f"{view.id} is {verb} training"
            )

    def action_toggle_document(self) -> None:
        view = self.selected()
        if view is None or self.busy:
            return
        if not view.path:
            self.notify("Your name's pairs come from no document: x leaves one out.")
            return
        excluded = not view.document_excluded
        self.busy = True
        verb = "left out of" if excluded else "back in"
        self.write("document", view.path, excluded, f"{view.path} is {verb} training")

    def action_regenerate(self) -> None:
        view = self.selected()
        if view is None or self.busy:
            return
        if view.planned not in ("backtranslate", "rewrite"):
            self.notify("Only chat pairs have a request the base model writes.")
            return
        self.busy = True
        self.notify(f"Writing a new request for {view.id}…")
        self.write_request(view)

    async def action_back(self) -> None:
        await self.app.run_action("show_library")
