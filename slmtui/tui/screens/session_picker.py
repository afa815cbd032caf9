"""Pick a saved chat (a session) to reopen, or start a new one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from slmtui.chat.sessions import Session

NEW = "new"


class SessionPicker(ModalScreen[int | str | None]):
    """Dismisses with a session id, NEW for a fresh one, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("n", "new", "New")]
    DEFAULT_CSS = """
    SessionPicker { align: center middle; }
    SessionPicker > Vertical {
        width: 64; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $surface;
    }
    SessionPicker OptionList { height: auto; max-height: 16; border: none; }
    SessionPicker #picker-hint { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, sessions: list[Session]):
        super().__init__()
        self.sessions = sessions

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Conversations"
            options = [Option(c.title, id=str(c.id)) for c in self.sessions]
            yield OptionList(*options, id="conversations")
            hint = "enter open · n new · esc cancel"
            yield Static(
                hint if options else "No saved conversations yet. " + hint, id="picker-hint"
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_new(self) -> None:
        self.dismiss(NEW)

    def action_cancel(self) -> None:
        self.dismiss(None)
