"""A small modal for one conversation's system prompt and sampling settings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from slmtui.chat.sessions import ChatSettings


class SettingsError(ValueError):
    """A value the user typed is out of range; the message names the field."""


def parse_settings(
    system_prompt: str, temperature: str, top_p: str, max_tokens: str
) -> ChatSettings:
    """Typed text to settings, with ranges the model accepts; raises SettingsError."""
    try:
        t = float(temperature)
        p = float(top_p)
        n = int(max_tokens)
    except ValueError as exc:
        raise SettingsError(f"Not a number: {exc}") from exc
    if not 0.0 <= t <= 2.0:
        raise SettingsError("Temperature must be between 0 and 2.")
    if not 0.0 < p <= 1.0:
        raise SettingsError("Top-p must be above 0 and at most 1.")
    if not 1 <= n <= 4096:
        raise SettingsError("Max tokens must be between 1 and 4096.")
    return ChatSettings(system_prompt.strip(), t, p, n)


class ChatSettingsScreen(ModalScreen[ChatSettings | None]):
    """Enter saves, Esc cancels; the result goes back to the Chat screen."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ChatSettingsScreen { align: center middle; }
    ChatSettingsScreen > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 0 1;
        border: round $accent; background: $surface;
    }
    ChatSettingsScreen Grid { grid-size: 2; grid-columns: 14 1fr; height: auto; grid-rows: 3; }
    ChatSettingsScreen Label { padding: 1 0 0 0; }
    ChatSettingsScreen #settings-hint { color: $text-muted; }
    """

    def __init__(self, settings: ChatSettings):
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical() as box:
            box.border_title = "Conversation settings"
            with Grid():
                yield Label("System prompt")
                yield Input(s.system_prompt, id="system_prompt")
                yield Label("Temperature")
                yield Input(str(s.temperature), id="temperature")
                yield Label("Top-p")
                yield Input(str(s.top_p), id="top_p")
                yield Label("Max tokens")
                yield Input(str(s.max_tokens), id="max_tokens")
            yield Static("enter save · esc cancel", id="settings-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        values = {i.id: i.value for i in self.query(Input)}
        try:
            settings = parse_settings(
                values["system_prompt"], values["temperature"], values["top_p"],
                values["max_tokens"],
            )  # fmt: skip
        except SettingsError as exc:
            self.notify(str(exc), title="Settings not saved", severity="error")
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)
