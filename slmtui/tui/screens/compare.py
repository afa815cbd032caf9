"""Compare: one prompt to the base model and to the newest model, answers side by side.

The point is to see what training changed, so both answer with the same sampling and seed, and
with recall on (`[recall] enabled`, toggled by the recall key) the same notes, their sources
named under the panes. The two replies are generated one after the other on one worker thread:
on a laptop CPU two models decoding at once only halve each other's speed.
"""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Header, Input, Markdown, Static

from slmtui.chat.engine import ChatEngine, ReplyStats, Sampling
from slmtui.chat.targets import resolve_target
from slmtui.recall.notes import Recaller, sources_line
from slmtui.tui.posts import Recalled
from slmtui.tui.screens.chat import describe_reply
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.streaming import Pacer, markdown_parser, per_frame
from slmtui.tui.widgets.footer import KeyFooter

SIDES = ("left", "right")
SPECS = {"left": "base", "right": None}  # None: the newest model, as Chat uses


class SideLoaded(Message):
    def __init__(self, side: str, label: str):
        super().__init__()
        self.side = side
        self.label = label


class SidePiece(Message):
    def __init__(self, side: str, text: str):
        super().__init__()
        self.side = side
        self.text = text


class SideDone(Message):
    def __init__(self, side: str, stats: ReplyStats | None, error: str = ""):
        super().__init__()
        self.side = side
        self.stats = stats
        self.error = error


class CompareScreen(KeptScreen):
    BINDINGS = [
        Binding("escape", "escape", "Stop/Back"),
        Binding("ctrl+r", "toggle_recall", "Recall"),
    ]

    DEFAULT_CSS = """
    CompareScreen #panes { height: 1fr; }
    CompareScreen .pane { width: 1fr; border: round $panel-lighten-2; padding: 0 1; }
    CompareScreen .pane-stats { color: $text-muted; }
    CompareScreen #compare-sources { height: auto; color: $text-muted; padding: 0 1; }
    CompareScreen #compare-prompt { dock: bottom; }
    """

    def __init__(self) -> None:
        super().__init__(name="compare")
        self.engines: dict[str, ChatEngine] = {}
        self.generating = False
        self.replies: dict[str, str] = {side: "" for side in SIDES}
        self._stop = threading.Event()
        self._pacer = Pacer()
        self.recall_on = True  # set from [recall] enabled on mount

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for side in SIDES:
                with VerticalScroll(id=f"pane-{side}", classes="pane"):
                    yield Markdown("", id=f"reply-{side}", parser_factory=markdown_parser)
                    yield Static("", id=f"stats-{side}", classes="pane-stats")
        yield Static("", id="compare-sources")
        yield Input(placeholder="One prompt to both models, enter to send", id="compare-prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Compare"
        self.recall_on = self.app.config.recall.enabled
        for side in SIDES:
            self.query_one(f"#pane-{side}").border_title = "loading…"
        self.query_one("#compare-prompt", Input).focus()
        self.load_models()

    def on_unmount(self) -> None:
        self._stop.set()
        for engine in self.engines.values():
            engine.close()

    @work(thread=True, exclusive=True, group="compare-load")
    def load_models(self) -> None:
        app = self.app
        for side in SIDES:
            try:
                target = resolve_target(app.workspace, app.config.model.base, SPECS[side])
                engine = ChatEngine(target, gpu_layers=app.gpu_layers())
                engine.load()
            except Exception as exc:  # shown in the pane; the other side still works
                self.post_message(SideDone(side, None, f"not loaded: {exc}"))
                continue
            self.engines[side] = engine
            self.post_message(SideLoaded(side, target.label))

    def on_side_loaded(self, message: SideLoaded) -> None:
        self.query_one(f"#pane-{message.side}").border_title = message.label

    @on(Input.Submitted, "#compare-prompt")
    def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.generating:
            return
        if len(self.engines) < len(SIDES):
            self.notify("The models are still loading.", severity="warning")
            return
        event.input.value = ""
        self.replies = {side: "" for side in SIDES}
        for side in SIDES:
            self.query_one(f"#reply-{side}", Markdown).update("")
            self.query_one(f"#stats-{side}", Static).update("")
        self.generating = True
        self._stop = threading.Event()
        messages = [
            {"role": "system", "content": self.app.assistant_prompt()},
            {"role": "user", "content": text},
        ]
        self._pacer = Pacer()
        self.query_one("#compare-sources", Static).update("")
        recaller = (
            Recaller(self.app.workspace.db_path, self.app.config.recall) if self.recall_on else None
        )
        self.generate(messages, Sampling(seed=0), self._stop, self._pacer, recaller)

    def action_toggle_recall(self) -> None:
        self.recall_on = not self.recall_on
        self.notify(f"Recall {'on' if self.recall_on else 'off'}.", title="Recall")

    def on_recalled(self, message: Recalled) -> None:
        self.query_one("#compare-sources", Static).update(sources_line(message.sources))

    @work(thread=True, exclusive=True, group="compare-reply")
    def generate(
        self,
        messages: list[dict],
        sampling: Sampling,
        stop: threading.Event,
        pacer: Pacer,
        recaller: Recaller | None = None,
    ) -> None:
        """Both models in turn, given the same notes when recall is on."""
        if recaller is not None:
            messages, sources = recaller.notes(messages)
            self.post_message(Recalled(sources))
        for side in SIDES:
            engine = self.engines[side]
            try:
                pieces = engine.stream(messages, sampling, stop)
                for text in per_frame(pieces, lambda: pacer.interval):
                    self.post_message(SidePiece(side, text))
            except Exception as exc:  # shown in that pane
                self.post_message(SideDone(side, None, str(exc)))
                continue
            self.post_message(SideDone(side, engine.last))

    async def on_side_piece(self, message: SidePiece) -> None:
        self._pacer.drawn()
        self.replies[message.side] += message.text
        reply = self.query_one(f"#reply-{message.side}", Markdown)
        await reply.append(message.text)  # parses only the new text, not the whole reply again

    def on_side_done(self, message: SideDone) -> None:
        text = describe_reply(message.stats) if message.stats else message.error
        self.query_one(f"#stats-{message.side}", Static).update(text)
        if message.side == SIDES[-1]:
            self.generating = False

    async def action_escape(self) -> None:
        if self.generating:
            self._stop.set()
        else:
            await self.app.run_action("show_library")
