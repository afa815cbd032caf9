"""Which one is yours? The blind test for one published version (eval/blind.py).

The version writes its answers on a worker thread first (a few seconds each on a CPU); then
each round shows a held-out request and two answers, yours and the model's in random order.
1 or 2 picks; the verdict and the score so far (with its interval) show after each round, and
every round is kept in the version's card at once, so leaving early loses nothing.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from slmtui.eval.blind import BlindError, BlindScore, Round, prepare_rounds, record
from slmtui.registry import ModelRegistry
from slmtui.tui.posts import BlindFailed, BlindProgress, BlindRoundsReady
from slmtui.tui.widgets.footer import KeyFooter

ROUND_KINDS = {"continue": "How did you go on from this?", "reply": "What did you answer?"}


class BlindScreen(Screen[None]):
    BINDINGS = [
        Binding("1", "pick(1)", "First is mine"),
        Binding("2", "pick(2)", "Second is mine"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    BlindScreen #blind-state { height: auto; padding: 0 1; background: $panel; }
    BlindScreen #blind-round { height: 1fr; padding: 0 1; }
    BlindScreen .blind-context { color: $text-muted; margin: 1 0; }
    BlindScreen .blind-answer { border: round $panel-lighten-2; padding: 0 1; margin: 0 0 1 0; }
    BlindScreen #blind-score { height: auto; padding: 0 1; border-top: solid $panel-lighten-2; }
    """

    def __init__(self, version: str):
        super().__init__()
        self.version = version
        self.rounds: list[Round] = []
        self.index = 0
        self.score = BlindScore()
        self.verdict = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.version} is writing its answers…", id="blind-state")
        with VerticalScroll(id="blind-round"):
            yield Static("", classes="blind-context", id="blind-context")
            yield Static("", classes="blind-answer", id="answer-1")
            yield Static("", classes="blind-answer", id="answer-2")
        yield Static("", id="blind-score")
        yield KeyFooter()

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.app.workspace.models)

    def on_mount(self) -> None:
        self.sub_title = f"Which one is yours? · {self.version}"
        self.score = BlindScore.from_card(self.registry.get(self.version).card)
        self.show_score()
        self.prepare()

    @work(thread=True, exclusive=True, group="blind")
    def prepare(self) -> None:
        """The rounds, and the version's answers to them (llama.cpp, off the UI thread)."""
        try:
            version = self.registry.get(self.version)
            rounds = prepare_rounds(
                self.app.workspace, self.app.config, version,
                progress=lambda done, total: self.post_message(BlindProgress(done, total)),
            )  # fmt: skip
        except (BlindError, OSError, RuntimeError, ValueError) as exc:
            self.post_message(BlindFailed(str(exc)))
            return
        self.post_message(BlindRoundsReady(rounds))

    def on_blind_progress(self, message: BlindProgress) -> None:
        self.query_one("#blind-state", Static).update(
            f"{self.version} is writing its answers: {message.done}/{message.total}"
        )

    def on_blind_failed(self, message: BlindFailed) -> None:
        self.query_one("#blind-state", Static).update(Text(message.reason, style="red"))

    def on_blind_rounds_ready(self, message: BlindRoundsReady) -> None:
        self.rounds, self.index = message.rounds, 0
        self.show_round()

    @property
    def current(self) -> Round | None:
        return self.rounds[self.index] if self.index < len(self.rounds) else None

    def show_round(self) -> None:
        played = self.current
        state = self.query_one("#blind-state", Static)
        if played is None:
            state.update(f"{self.verdict} That was the last round of this sitting: esc goes back.")
            for name in ("#blind-context", "#answer-1", "#answer-2"):
                self.query_one(name, Static).update("")
            return
        state.update(
            f"{self.verdict + ' ' if self.verdict else ''}Round {self.index + 1} of "
            f"{len(self.rounds)}: {ROUND_KINDS[played.kind]} 1 or 2: which one is yours?"
        )
        self.query_one("#blind-context", Static).update(played.context)
        for number, answer in enumerate(played.answers, 1):
            widget = self.query_one(f"#answer-{number}", Static)
            widget.border_title = str(number)
            widget.update(answer)
        self.query_one("#blind-round", VerticalScroll).scroll_home(animate=False)

    def show_score(self) -> None:
        self.query_one("#blind-score", Static).update(self.score.words())

    def action_pick(self, choice: int) -> None:
        played = self.current
        if played is None:
            return
        self.score = record(self.registry, self.version, played, choice)
        found = played.picked_yours(choice)
        self.verdict = "Yes, that one was yours." if found else "No, that one was the model's."
        self.index += 1
        self.show_score()
        self.show_round()

    def action_back(self) -> None:
        self.workers.cancel_group(self, "blind")
        self.dismiss(None)
