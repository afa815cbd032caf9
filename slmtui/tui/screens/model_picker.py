"""Pick which model Chat talks to: the newest, the base, the newest adapter or a version."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from slmtui import runs
from slmtui.registry import ModelRegistry
from slmtui.workspace import Workspace

NEWEST = "newest"


def chat_choices(workspace: Workspace) -> list[tuple[str, str]]:
    """(spec, description) pairs for every model chat could load now."""
    choices = [(NEWEST, "newest: what training or export made last"), ("base", "base model")]
    if runs.latest_finished(workspace) is not None:
        choices.append(("adapter", "newest run's adapter on the base"))
    registry = ModelRegistry(workspace.models)
    active = registry.active()
    for version in reversed(registry.versions()):
        mark = " (active)" if active is not None and active.name == version.name else ""
        choices.append((version.name, f"{version.name}{mark}"))
    return choices


class ModelPicker(ModalScreen[str | None]):
    """Dismisses with a spec for `resolve_target` (NEWEST for the default), or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 56; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $surface;
    }
    ModelPicker OptionList { height: auto; max-height: 16; border: none; }
    """

    def __init__(self, choices: list[tuple[str, str]]):
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Chat with"
            yield OptionList(*(Option(text, id=spec) for spec, text in self.choices))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
