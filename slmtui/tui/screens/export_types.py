"""Which GGUF types an export publishes, chosen with each type's budget in view."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from slmtui.config import EXPORT_QUANTS, ExportConfig

# What each type is for, in a few words (sizes are SmolLM2-135M's, from the README's table).
TYPE_NOTES = {
    "F16": "exact, verified (258 MiB at 135M)",
    "Q8_0": "near exact (138 MiB)",
    "Q6_K": "small loss (132 MiB)",
    "Q5_K_M": "falls back to Q5_1 on narrow rows (107 MiB)",
    "Q4_K_M": "smallest (101 MiB)",
}


class ExportTypesScreen(ModalScreen[list[str] | None]):
    """Dismisses with the chosen types, largest first (chat uses the first that passes), or None
    on esc. Space toggles a type; e exports."""

    BINDINGS = [
        Binding("e", "export", "Export", priority=True),
        Binding("escape", "cancel", "Cancel", show=False),
    ]
    DEFAULT_CSS = """
    ExportTypesScreen { align: center middle; }
    ExportTypesScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        border: round $accent; background: $surface;
    }
    ExportTypesScreen SelectionList { height: auto; margin: 1 0; }
    ExportTypesScreen .hint { color: $text-muted; }
    """

    def __init__(self, run_name: str, chosen: list[str], settings: ExportConfig):
        super().__init__()
        self.run_name = run_name
        self.chosen = chosen
        self.settings = settings

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Export {self.run_name} as:")
            yield SelectionList[str](
                *(
                    Selection(self.label(quant), quant, quant in self.chosen)
                    for quant in EXPORT_QUANTS
                ),
                id="types",
            )
            yield Static(
                "Each type is measured against F16 on your held-out writing and published only "
                "within its budget ([export] in slmtui.toml). Chat uses the largest that passes.",
                classes="hint",
            )
            yield Static("space choose · e export · esc cancel", classes="hint")

    def label(self, quant: str) -> str:
        budget = self.settings.budget(quant)
        limit = "no budget" if budget is None else f"budget {budget:+.1f}% perplexity"
        return f"{quant:<7} {TYPE_NOTES[quant]}; {limit}"

    def action_export(self) -> None:
        selected = set(self.query_one("#types", SelectionList).selected)
        if not selected:
            self.notify("Choose at least one type (space).", severity="warning")
            return
        self.dismiss([quant for quant in EXPORT_QUANTS if quant in selected])

    def action_cancel(self) -> None:
        self.dismiss(None)
