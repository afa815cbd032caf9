"""The slmtui app: one workspace, its screens, and the background work that feeds them."""

from __future__ import annotations

import functools
import gc
import time
import types
from collections.abc import Iterable
from functools import partial

from rich.markup import escape
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from slmtui.config import Config, ConfigError, KeysConfig
from slmtui.config_file import write_identity
from slmtui.ingest.ingestor import IngestReport
from slmtui.ingest.watcher import LiveIngest
from slmtui.jobs.background import BackgroundRequests
from slmtui.jobs.events import REQUESTS
from slmtui.tui.keys import APP_ACTIONS, app_bindings, check_app_keys, key_names, show_keys
from slmtui.tui.posts import (
    IngestFailed,
    IngestReported,
    JobEventArrived,
    ModelPublished,
    TrainingFinished,
)  # fmt: skip
from slmtui.tui.screens.chat import ChatScreen
from slmtui.tui.screens.chat_settings import ChatSettingsScreen
from slmtui.tui.screens.chunks import ChunksScreen
from slmtui.tui.screens.compare import CompareScreen
from slmtui.tui.screens.confirm import ConfirmScreen
from slmtui.tui.screens.dataset import DatasetScreen
from slmtui.tui.screens.library import LibraryScreen
from slmtui.tui.screens.model_picker import ModelPicker
from slmtui.tui.screens.models import ModelsScreen
from slmtui.tui.screens.session_picker import SessionPicker
from slmtui.tui.screens.train import TrainScreen
from slmtui.tui.themes import load_themes
from slmtui.tui.ui_state import UIState
from slmtui.tui.widgets.dataset_stats import DatasetStats
from slmtui.workspace import Workspace

# {name} is the [keys] setting's key, bold and padded to the column (see help_text).
HELP = """\
[b]slmtui[/b]: your writing in, a model that writes like you out.

  {library}Library: files in writing/ and the dataset ([b]f5[/b] reload)
  [b]enter[/b]    open a file to see its chunks ([b]esc[/b] back)
  {dataset}Dataset: [b]x[/b] exclude · [b]X[/b] whole document · [b]n[/b] new request
             [b]k[/b] filter by kind · [b]f[/b] by document
  {train}Train: [b]s[/b] start · [b]R[/b] resume · [b]x[/b]/[b]esc[/b] stop · [b]B[/b] base
  {retrain}retrain now, from any screen
  {models}Models: [b]e[/b] export · [b]enter[/b] use · [b]b[/b] roll back · [b]d[/b] delete
             [b]E[/b] evaluate against the base · [b]w[/b] which one is yours?
  {chat}Chat with the newest model: [b]enter[/b] send · [b]esc[/b] stop or back
             [b]ctrl+n[/b] new · [b]ctrl+o[/b] open · [b]ctrl+s[/b] settings · [b]ctrl+y[/b] copy
             [b]ctrl+t[/b] model · [b]ctrl+f[/b] fix · [b]ctrl+g[/b]/[b]ctrl+b[/b] good/bad
  {compare}Compare the base and the newest model on one prompt
  [b]ctrl+p[/b]   command palette (themes too)
  {help}this help
  {quit}quit

Files in writing/ are read as soon as they are saved. Any key closes."""


def help_text(keys: KeysConfig) -> str:
    """HELP with the configured keys in its first column."""
    shown = {name: show_keys(getattr(keys, name)) for name in APP_ACTIONS}
    column = {name: f"[b]{escape(k)}[/b]" + " " * max(1, 9 - len(k)) for name, k in shown.items()}
    return HELP.format(**column)


# (setting in [keys], title, what it does); the palette adds the configured key.
PALETTE = [
    ("library", "Library", "Files in writing/ and the dataset"),
    ("dataset", "Dataset", "Every training example; exclude, include, new requests"),
    ("train", "Train", "Start, stop and resume training"),
    ("retrain", "Retrain", "Start a new training run now"),
    ("models", "Models", "Published versions, export, activate, delete"),
    ("chat", "Chat", "Chat with the newest model"),
    ("compare", "Compare", "One prompt to the base and the newest model"),
    ("help", "Help", "Every key"),
]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static {
        width: 76; max-width: 100%; height: auto; padding: 1 1;
        border: round $accent; background: $surface;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self):
        yield Static(self.text)

    def on_key(self) -> None:
        self.dismiss()


# Screens whose own keys the app keys may not take (see slmtui.tui.keys.check_app_keys).
SCREENS = (
    LibraryScreen, ChunksScreen, DatasetScreen, TrainScreen, ModelsScreen, ChatScreen,
    CompareScreen,
)  # fmt: skip
DIALOGS = (ConfirmScreen, SessionPicker, ModelPicker, ChatSettingsScreen)


def class_bindings(keys: KeysConfig) -> list[Binding]:
    """Every app-level binding: the configured keys, and Textual's ctrl+c hint for quitting."""
    return [*app_bindings(keys), Binding("ctrl+c", "help_quit", show=False, system=True)]


@functools.cache
def _keyed_class(base: type[SlmtuiApp], keys: KeysConfig) -> type[SlmtuiApp]:
    """A subclass of `base` whose BINDINGS are `keys` (Textual merges bindings per class)."""

    def body(namespace: dict) -> None:
        namespace.update(BINDINGS=class_bindings(keys), __module__=base.__module__)

    return types.new_class(base.__name__, (base,), {"inherit_bindings": False}, body)


class SlmtuiApp(App[None], inherit_bindings=False):
    """The app. Its class-level BINDINGS are the default keys; an app made with other `[keys]`
    is an instance of a subclass bound to them (see `__new__`), so only public Textual API
    (BINDINGS, inherit_bindings) decides which key does what. Textual's own ctrl+q is not
    inherited: quit is one of the configurable keys."""

    TITLE = "slmtui"
    BINDINGS = class_bindings(KeysConfig())
    styling_generation = 0  # counts CSS refreshes; hidden screens restyle only after one

    def __new__(cls, workspace: Workspace, config: Config, **options: object) -> SlmtuiApp:
        keyed = cls if config.keys == KeysConfig() else _keyed_class(cls, config.keys)
        return super().__new__(keyed)

    def __init__(self, workspace: Workspace, config: Config, *, watch: bool = True):
        palette = {key: "the command palette's" for key in key_names(self.COMMAND_PALETTE_BINDING)}
        check_app_keys(
            config.keys, workspace.config_path, screens=SCREENS, dialogs=DIALOGS, reserved=palette
        )
        super().__init__()
        self.workspace = workspace
        self.config = config
        self.watch_enabled = watch
        self.live: LiveIngest | None = None
        # The request writer: the same owner as `slmtui watch`'s, its events posted as messages.
        self.background = BackgroundRequests(
            workspace, lambda event: self.post_message(JobEventArrived(event))
        )
        self._heavy_jobs = 0  # training and export jobs running: the request writer waits
        self._first_report = True
        # When the last ingest pass arrived (time.monotonic()) and what it did: its `seconds`
        # say how long reading took, so arrival minus seconds is when the watcher handed it over.
        self.last_ingest: tuple[float, IngestReport] | None = None
        for theme in load_themes():
            self.register_theme(theme)
        chosen = UIState.load(workspace.state).theme
        for name in (chosen, config.ui.theme):
            if name in self.available_themes:
                self.theme = name
                break

    def refresh_css(self, animate: bool = True) -> None:
        self.styling_generation += 1
        super().refresh_css(animate)

    def key_hint(self, setting: str) -> str:
        """The configured key for an app action, as help shows it ("t", "f1/?")."""
        return show_keys(getattr(self.config.keys, setting))

    def _remember_theme(self, theme) -> None:
        """A theme picked in the app (ctrl+p, theme) is the one the next start uses."""
        state = UIState.load(self.workspace.state)
        if state.theme != theme.name:
            state.theme = theme.name
            state.save(self.workspace.state)

    def assistant_prompt(self) -> str:
        """The system prompt a new chat starts with: the one training gave (who you are), or
        the generic one when nobody is known."""
        from slmtui.chat.sessions import DEFAULT_SYSTEM_PROMPT
        from slmtui.dataset.dialogue import assistant_prompt
        from slmtui.ingest.store import Store

        with Store(self.workspace.db_path) as store:
            return assistant_prompt(store, self.config) or DEFAULT_SYSTEM_PROMPT

    def ask_identity(self, proposed: str) -> None:
        """Ask once whether the proposed sender is you; yes writes `[identity] names`."""
        state = UIState.load(self.workspace.state)
        if state.identity_asked or self.config.identity.names:
            return
        state.identity_asked = True
        state.save(self.workspace.state)

        def answered(yes: bool | None) -> None:
            if not yes:
                self.notify("Set [identity] names in slmtui.toml when you are ready.")
                return
            try:
                self.config = write_identity(self.workspace.config_path, proposed)
            except (OSError, ConfigError) as exc:
                self.notify(f"Could not save it: {exc}", severity="error")
                return
            self.notify(f"Saved: you are {proposed} ([identity] names in slmtui.toml).")
            self.library.load_from_store()

        question = (
            f"Your chats: are you [b]{proposed}[/b]?\n\nYour replies in chats become what the "
            "model learns to answer; others' messages are only the questions."
        )
        self.push_screen(ConfirmScreen(question), answered)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.sub_title = str(self.workspace.root)
        self.library = LibraryScreen()
        # Installed screens live on when another is shown, so a loaded chat model stays loaded.
        self.install_screen(self.library, "library")
        self.install_screen(ChatScreen(), "chat")
        self.install_screen(TrainScreen(), "train")
        self.install_screen(DatasetScreen(), "dataset")
        self.install_screen(ModelsScreen(), "models")
        self.install_screen(CompareScreen(), "compare")
        self.push_screen("library")
        # What starting loaded (modules, screens) lives as long as the app: frozen, it is left out
        # of Python's full garbage collections, which otherwise stopped the UI thread for 50-100 ms.
        self.call_after_refresh(gc.freeze)
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
        self.background.close()

    # -- the request writer: chat-pair requests written while the person writes ---------------

    def start_requests(self) -> None:
        """Poke the background request writer, unless it is off (`jobs/background.py` waits
        for training and export by itself)."""
        if self.watch_enabled and self.config.dataset.prepare_in_background:
            self.background.poke()

    @property
    def preparing(self) -> bool:
        """Whether the background request writer is running (or about to)."""
        return self.background.running

    def gpu_layers(self) -> int:
        """What a model loaded now puts on the GPU: `[chat] gpu_layers`, none while a training
        or export job holds the card."""
        from slmtui.chat.llama import offloaded_layers

        return offloaded_layers(self.config.chat.gpu_layers, card_busy=self._heavy_jobs > 0)

    def heavy_job_starting(self) -> None:
        """Training or export is about to start: it gets the cores, the request writer pauses."""
        self._heavy_jobs += 1
        self.background.pause()

    def heavy_job_ended(self) -> None:
        """A training or export job is gone: the request writer may go on."""
        self._heavy_jobs = max(0, self._heavy_jobs - 1)
        self.background.resume()
        self.start_requests()

    def on_job_event_arrived(self, message: JobEventArrived) -> None:
        """The request writer's counts for the Library (other jobs' events are the screens')."""
        if message.event.job == REQUESTS and "total" in message.event.data:
            self.library.query_one(DatasetStats).show_requests(message.event.data)

    def on_ingest_reported(self, message: IngestReported) -> None:
        report = message.report
        self.last_ingest = (time.monotonic(), report)
        self.library.load_from_store()
        self.library.set_state(f"watching · {time.strftime('%H:%M')}")
        self.start_requests()
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

    async def action_show_library(self) -> None:
        await self._show("library")

    async def action_show_dataset(self) -> None:
        await self._show("dataset")

    async def action_show_train(self) -> None:
        await self._show("train")

    async def action_retrain(self) -> None:
        """From anywhere: show Train and start a new run on the writing as it is now."""
        await self._show("train")
        self.get_screen("train").action_start()

    def on_training_finished(self, message: TrainingFinished) -> None:
        self._reload_chat_model()

    def on_model_published(self, message: ModelPublished) -> None:
        self._reload_chat_model()

    def _reload_chat_model(self) -> None:
        """The newest or active model changed: chat loads it (if chat was opened)."""
        chat = self.get_screen("chat")
        if chat.is_mounted:
            chat.reload_model()

    async def action_show_models(self) -> None:
        await self._show("models")

    async def action_show_compare(self) -> None:
        await self._show("compare")

    async def action_show_chat(self) -> None:
        await self._show("chat")

    async def _show(self, name: str) -> None:
        """Show a main screen, closing whatever was opened on top of the current one."""
        target = self.get_screen(name)
        while len(self.screen_stack) > 2 and self.screen is not target:
            await self.pop_screen()
        if self.screen is not target:
            await self.switch_screen(name)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every screen and job in the command palette, beside Textual's own (theme, keys)."""
        yield from super().get_system_commands(screen)
        for setting, title, text in PALETTE:
            action = APP_ACTIONS[setting][0]
            hint = f"{text} ({self.key_hint(setting)})"
            yield SystemCommand(title, hint, partial(self.run_action, action))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text(self.config.keys)))


def create_app(workspace: Workspace, *, watch: bool = True) -> SlmtuiApp:
    """The one factory used by the CLI, the tests and the snapshots."""
    return SlmtuiApp(workspace, workspace.load_config(), watch=watch)
