"""Models: the published versions, export of the newest run, and activate/rollback/delete.

Export (merge, convert, quantize, verify) and evaluation run as job children followed by the one
job worker (slmtui.tui.job_worker); only a verified model is published, so a refused export
leaves the active model as it was and says why.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Log, Static
from textual.worker import get_current_worker

from slmtui import runs
from slmtui.eval.blind import BlindScore
from slmtui.eval.privacy import ADVICE, run_concerns
from slmtui.formats import card_ppl_change, card_quant_cost, format_size
from slmtui.jobs import launch
from slmtui.jobs.describe import describe
from slmtui.jobs.events import EVALUATION, EXPORT, JobEvent
from slmtui.registry import ModelRegistry, ModelVersion, RegistryError
from slmtui.tui.job_worker import follow_job
from slmtui.tui.posts import JobEnded, JobEventArrived, ModelPublished
from slmtui.tui.screens.blind import BlindScreen
from slmtui.tui.screens.confirm import ConfirmScreen
from slmtui.tui.screens.export_types import ExportTypesScreen
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.widgets.eval_panel import EvalPanel
from slmtui.tui.widgets.footer import KeyFooter
from slmtui.tui.widgets.table import set_up_table


def blind_cell(card: dict) -> str:
    """The Blind column: how often you picked yourself out ('—' before any round)."""
    score = BlindScore.from_card(card)
    return f"{score.picked_yours}/{score.rounds} {score.share:.0%}" if score.rounds else "—"


class ModelsScreen(KeptScreen):
    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("enter", "activate", "Activate"),
        Binding("b", "rollback", "Rollback"),
        Binding("d", "delete", "Delete"),
        Binding("E", "evaluate", "Evaluate"),
        Binding("w", "blind", "Which is yours?"),
        Binding("escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    ModelsScreen #versions { height: 1fr; border: round $panel-lighten-2; }
    ModelsScreen #export-state { height: 1; padding: 0 1; background: $panel; }
    ModelsScreen #export-log { height: 6; border: none; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(name="models")
        self.exporting = False
        self.evaluating: str | None = None  # the version being evaluated
        self.versions: list[ModelVersion] = []
        self._shown: tuple | None = None  # what the table shows, to skip redrawing the same
        # Whether export asks the model to end a greedy reply (off only for untrained test models).
        self.chat_check = True
        # The types the next export offers ticked: [export] quants, then the last choice.
        self.export_types: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
        yield Static("e exports the newest finished run", id="export-state")
        yield Log(id="export-log", max_lines=200)
        yield EvalPanel(id="eval")
        yield KeyFooter()

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.app.workspace.models)

    def on_mount(self) -> None:
        self.sub_title = "Models"
        set_up_table(
            self.query_one("#versions", DataTable),
            "Published versions",
            [("", "active", 1), ("Version", "version", 7), ("Val perplexity", "ppl", 16),
             ("Quant", "quant", 6), ("Cost vs F16", "cost", 22), ("Size", "size", 10),
             ("Blind", "blind", 12), ("Run", "run", None)],
        )  # fmt: skip
        self.export_types = list(self.app.config.export.quants)
        self.query_one("#export-state", Static).update(
            "e exports the newest finished run: choose its types (F16, Q8_0, … Q4_K_M)"
        )
        self.reload()

    def on_screen_resume(self) -> None:
        self.check_registry()

    @work(thread=True, exclusive=True, group="models-read")
    def check_registry(self) -> None:
        """Read the registry off the UI thread (another terminal may have changed it)."""
        registry = self.registry
        versions, active = registry.versions(), registry.active()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_versions, versions, active)

    def reload(self) -> None:
        """Read the registry (a few small files) and redraw the table; after a change made here."""
        self.workers.cancel_group(self, "models-read")
        registry = self.registry
        self._show_versions(registry.versions(), registry.active())

    def _show_versions(self, versions: list[ModelVersion], active: ModelVersion | None) -> None:
        """Redraw the table, unless it shows these already (a redraw also loses the cursor)."""
        shown = (tuple((v.name, v.card) for v in versions), active and active.name)
        if shown == self._shown:
            return
        self._shown = shown
        self.versions = versions
        table = self.query_one("#versions", DataTable)
        table.clear()
        for version in reversed(self.versions):
            is_active = active is not None and active.name == version.name
            table.add_row(
                Text("●", style="green") if is_active else "",
                version.name,
                card_ppl_change(version.card),
                str(version.card.get("quant", "")),
                card_quant_cost(version.card),
                format_size(version.size_bytes),
                blind_cell(version.card),
                str(version.card.get("run", "")),
                key=version.name,
            )
        table.border_subtitle = (
            f"{len(self.versions)} versions · active: {active.name if active else 'none'}"
        )

    def selected(self) -> str | None:
        table = self.query_one("#versions", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.evaluating is None:
            self.show_evaluation()

    def show_evaluation(self) -> None:
        """The selected version's saved evaluation (a small JSON file beside it), or a hint."""
        from slmtui.eval.evaluate import load_saved

        panel = self.query_one("#eval", EvalPanel)
        name = self.selected()
        if name is None:
            panel.update("")
            return
        card = next((v.card for v in self.versions if v.name == name), {})
        panel.show(name, load_saved(self.app.workspace.models / name), "E", card)

    def action_blind(self) -> None:
        """Which one is yours? Rounds for the selected version (tui/screens/blind.py)."""
        name = self.selected()
        if name is None:
            self.notify("No published version to test yet: export one first (e).")
            return
        self.app.push_screen(BlindScreen(name), lambda _: self.reload_and_show())

    def reload_and_show(self) -> None:
        self.reload()
        self.show_evaluation()

    def action_evaluate(self) -> None:
        name = self.selected()
        if name is None:
            self.notify("No published version to evaluate yet: export one first (e).")
            return
        if self.evaluating is not None:
            self.notify(f"{self.evaluating} is being evaluated.", severity="warning")
            return
        self.evaluating = name
        self.query_one("#eval", EvalPanel).progress(f"{name}: starting")
        self.run_evaluation(name)

    @work(thread=True, exclusive=True, group="evaluate")
    def run_evaluation(self, name: str) -> None:
        """The evaluation child (minutes of llama.cpp work), followed from a thread."""
        workspace = self.app.workspace
        follow_job(self, EVALUATION, lambda: (launch.start_evaluation(workspace, name), ""))

    def on_evaluation_event(self, event: JobEvent) -> None:
        name = self.evaluating or ""
        if event.kind in ("started", "progress"):
            self.query_one("#eval", EvalPanel).progress(describe(event).strip())
            return
        self.evaluating = None
        self.show_evaluation()
        if event.kind == "failed":
            self.app.notify(event.data.get("reason", ""), title=f"Evaluation of {name} failed",
                            severity="error", timeout=15)  # fmt: skip
            return
        summary = event.data["summary"]
        self.app.notify(
            f"perplexity {100 * summary['ppl_change']:+.0f}% against the base; style distance "
            f"{summary['distance_ratio']:.2f}x the base's. Report: {name}/eval.html",
            title=f"{name} evaluated",
            timeout=10,
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_activate()

    def _registry_action(self, what: str, change) -> None:
        try:
            result = change()
        except RegistryError as exc:
            self.notify(str(exc), title=f"{what} refused", severity="warning")
            return
        self.reload()
        self.app.post_message(ModelPublished())
        name = result.name if result is not None else "none"
        self.notify(f"Active model: {name}", title=what)

    def action_activate(self) -> None:
        name = self.selected()
        if name is not None:
            self._registry_action("Activated", lambda: self.registry.activate(name))

    def action_rollback(self) -> None:
        self._registry_action("Rolled back", self.registry.rollback)

    def action_delete(self) -> None:
        name = self.selected()
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._registry_action("Deleted " + name, lambda: self.registry.delete(name))

        self.app.push_screen(ConfirmScreen(f"Delete {name}? Its GGUF file is removed."), answered)

    async def action_back(self) -> None:
        await self.app.run_action("show_library")

    def action_export(self) -> None:
        if self.exporting:
            self.notify("An export is already running.", severity="warning")
            return
        run = runs.latest_finished(self.app.workspace)
        if run is None:
            train = self.app.key_hint("train")
            self.notify(f"No finished training run yet: train first ({train}).", severity="warning")
            return

        def chosen(quants: list[str] | None) -> None:
            if quants is None or self.exporting:
                return
            worries = run_concerns(run.path)
            if worries:  # personal data it repeats: asked before it is shared

                def answered(yes: bool | None) -> None:
                    if yes:
                        start(quants)

                question = f"Its evaluation found {'; '.join(worries)}.\n{ADVICE}\nExport anyway?"
                self.app.push_screen(ConfirmScreen(question), answered)
                return
            start(quants)

        def start(quants: list[str]) -> None:
            self.export_types = quants
            self.exporting = True
            self.app.heavy_job_starting()
            self.query_one("#export-log", Log).clear()
            self.query_one("#export-state", Static).update(
                f"exporting {run.name} as {' + '.join(quants)}…"
            )
            self.run_export(run, quants)

        settings = self.app.workspace.load_config().export  # budgets as the file says now
        self.app.push_screen(ExportTypesScreen(run.name, self.export_types, settings), chosen)

    @work(thread=True, exclusive=True, group="export")
    def run_export(self, run: runs.RunFolder, quants: list[str]) -> None:
        workspace, check = self.app.workspace, self.chat_check
        follow_job(
            self,
            EXPORT,
            lambda: (launch.start_export(workspace, run, quants, chat_check=check), run.name),
        )

    def on_job_ended(self, message: JobEnded) -> None:
        if message.job == EXPORT:
            self.exporting = False
            self.app.heavy_job_ended()
        elif self.evaluating is not None:  # the child ended without a final event
            self.evaluating = None
            self.show_evaluation()

    def on_job_event_arrived(self, message: JobEventArrived) -> None:
        if message.event.job == EVALUATION:
            self.on_evaluation_event(message.event)
        else:
            self.on_export_event(message.event)

    def on_export_event(self, event: JobEvent) -> None:
        self.query_one("#export-log", Log).write_lines(describe(event).splitlines())
        state = self.query_one("#export-state", Static)
        if event.kind == "stage":
            state.update(f"exporting: {event.data.get('stage', '')}")
        elif event.kind == "published":
            state.update(f"published {event.data['version']}")
            self.reload()
            self.app.post_message(ModelPublished())
            self.app.notify(describe(event), title="Model published", timeout=10)
        elif event.kind == "failed":
            reason = event.data.get("reason", "unknown reason")
            state.update(Text(f"refused: {reason}", style="red"))
            self.app.notify(reason, title="Export refused", severity="error", timeout=15)
