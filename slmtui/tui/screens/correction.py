"""A modal to write your own version of the model's last reply, prefilled with that reply.

Ctrl+S keeps it (the Chat screen stores it beside the model's reply: `chat/feedback.py`), Esc
leaves everything as it was. A version that says what the reply said is not a correction.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea


class CorrectionScreen(ModalScreen[str | None]):
    """Your version of a reply; dismissed with the text, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Keep", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    CorrectionScreen { align: center middle; }
    CorrectionScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 90%; padding: 0 1;
        border: round $accent; background: $surface;
    }
    CorrectionScreen TextArea { height: 12; }
    CorrectionScreen #correction-hint { color: $text-muted; }
    """

    def __init__(self, reply: str):
        super().__init__()
        self.reply = reply

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "What you would have said"
            yield TextArea(self.reply, id="correction", soft_wrap=True)
            yield Static(
                "ctrl+s keep your version (the next run learns it) · esc cancel",
                id="correction-hint",
            )

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text.strip()
        if not text:
            self.notify("Write what you would have said, or esc to cancel.", severity="warning")
            return
        if text == self.reply.strip():
            self.notify("That is the model's reply as it was: change it first.", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
