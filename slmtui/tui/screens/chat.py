"""Chat: talk to the newest model (or a chosen one), replies streamed in as Markdown.

The model loads and answers on worker threads; pieces come back as messages, so the screen stays
responsive and Esc can stop a reply mid-sentence. Sessions are saved as they go and can be
reopened with their own system prompt and sampling settings.

With recall on (`[recall] enabled`, toggled for the screen by its key), the reply's worker first
finds what you wrote that bears on the message (recall/), gives it to the model as notes, and
the reply shows its sources under it; enter on a source opens it.

Your feedback on the last reply: ctrl+f opens it for editing (your version is kept beside the
model's in the store, and the conversation goes on from yours), ctrl+g and ctrl+b mark it good
or bad. The bar says how many corrections and marks
wait for the next training run (`chat/feedback.py`), which `r` starts.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Input, LoadingIndicator, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from slmtui.chat.engine import ChatEngine, ReplyStats, Sampling
from slmtui.chat.feedback import FeedbackError, keep_feedback, waiting, waiting_words
from slmtui.chat.sessions import (
    ChatSettings,
    Session,
    SessionMessage,
    Sessions,
    chat_db_path,
)
from slmtui.chat.targets import resolve_target
from slmtui.recall.notes import Recaller
from slmtui.tui.posts import (
    ModelFailed,
    ModelLoaded,
    Recalled,
    ReplyDone,
    ReplyFailed,
    ReplyPiece,
)
from slmtui.tui.screens.chat_settings import ChatSettingsScreen
from slmtui.tui.screens.correction import CorrectionScreen
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.screens.model_picker import NEWEST, ModelPicker, chat_choices
from slmtui.tui.screens.session_picker import NEW, SessionPicker
from slmtui.tui.streaming import Pacer, markdown_parser, per_frame
from slmtui.tui.widgets.footer import KeyFooter
from slmtui.tui.widgets.sources import SourceList


def describe_reply(stats: ReplyStats) -> str:
    """The line under a reply: length, speed and why it ended, in words."""
    parts = [f"{stats.tokens} tokens", f"{stats.tokens_per_second:.1f} tok/s"]
    if stats.finish_reason == "stopped":
        parts.append("stopped")
    elif stats.finish_reason == "length":
        parts.append("max tokens reached")
    return " · ".join(parts)


def dropped_note(count: int) -> str:
    turns = "turn" if count == 1 else "turns"
    return f"⋯ {count} older {turns} left out to fit the context window"


class ChatScreen(KeptScreen):
    BINDINGS = [
        Binding("escape", "escape", "Stop/Back"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+o", "open_conversation", "Open"),
        Binding("ctrl+s", "settings", "Settings"),
        Binding("ctrl+y", "copy_last", "Copy"),
        Binding("ctrl+t", "pick_model", "Model"),
        Binding("ctrl+r", "toggle_recall", "Recall"),
        Binding("ctrl+f", "correct", "Fix"),
        Binding("ctrl+g", "mark('good')", "Good"),
        Binding("ctrl+b", "mark('bad')", "Bad"),
    ]

    DEFAULT_CSS = """
    ChatScreen #model-bar { height: 1; padding: 0 1; background: $panel; }
    ChatScreen #model-label { width: 1fr; }
    ChatScreen #recall-state { width: auto; color: $text-muted; }
    ChatScreen #feedback-state { width: auto; color: $warning; padding: 0 2 0 0; }
    ChatScreen .correction { border-left: thick $warning; }
    ChatScreen #model-bar LoadingIndicator { width: 8; height: 1; min-height: 1; }
    ChatScreen #log { height: 1fr; padding: 0 1; }
    ChatScreen .turn { margin: 1 0 0 0; padding: 0 1; }
    ChatScreen .user { border-left: thick $accent; background: $boost; }
    ChatScreen .assistant { border-left: thick $success; }
    ChatScreen .turn-stats { color: $text-muted; padding: 0 2; }
    ChatScreen .dropped { color: $warning; padding: 0 2; }
    ChatScreen #prompt { dock: bottom; }
    """

    def __init__(self, target_spec: str | None = None) -> None:
        super().__init__(name="chat")
        self.target_spec = target_spec
        self.engine: ChatEngine | None = None
        self.session: Session | None = None
        self.generating = False
        self._stop = threading.Event()
        self._stream: MarkdownStream | None = None
        self._reply_parts: list[str] = []
        self._pacer = Pacer()
        self._store: Sessions | None = None
        self.recall_on = True  # set from [recall] enabled on mount
        self._sources: list[dict] | None = None  # the reply in progress's, None: recall off
        # What the model wrote for the last reply when you corrected it (None: not corrected)
        self.model_reply: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="model-bar"):
            yield Static("loading model…", id="model-label")
            yield LoadingIndicator()
            yield Static("", id="feedback-state")
            yield Static("", id="recall-state")
        yield VerticalScroll(id="log")
        yield Input(placeholder="Write a message, enter to send", id="prompt")
        yield KeyFooter()

    @property
    def store(self) -> Sessions:
        if self._store is None:
            self._store = Sessions(chat_db_path(self.app.workspace.state))
        return self._store

    def on_mount(self) -> None:
        self.sub_title = "Chat"
        self.recall_on = self.app.config.recall.enabled
        self._show_recall_state()
        self.show_waiting()
        recent = self.store.list()
        self.show_session(self.store.get(recent[0].id) if recent else None)
        self.query_one("#prompt", Input).focus()
        self.load_model()

    def on_unmount(self) -> None:
        self._stop.set()
        if self.engine is not None:
            self.engine.close()
        if self._store is not None:
            self._store.close()

    # The model -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="chat-load")
    def load_model(self) -> None:
        """Find and load the model off the UI thread; the bar shows a spinner meanwhile."""
        try:
            target = resolve_target(
                self.app.workspace, self.app.config.model.base, self.target_spec
            )
            engine = ChatEngine(target, gpu_layers=self.app.gpu_layers())
            engine.load()
        except Exception as exc:  # any failure is shown; chat without a model cannot go on
            self.post_message(ModelFailed(str(exc)))
            return
        self.engine = engine
        self.post_message(ModelLoaded(target.label))

    def reload_model(self) -> None:
        """Pick up a newer model (after training); waits for no reply in progress."""
        self.show_waiting()  # a finished run took what was waiting
        if self.generating:
            return
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self._set_bar("loading model…", loading=True)
        self.load_model()

    def action_pick_model(self) -> None:
        if self.generating:
            return

        def picked(spec: str | None) -> None:
            if spec is not None:
                self.target_spec = None if spec == NEWEST else spec
                self.reload_model()

        self.app.push_screen(ModelPicker(chat_choices(self.app.workspace)), picked)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self._set_bar(f"model: {message.label}", loading=False)

    def on_model_failed(self, message: ModelFailed) -> None:
        self._set_bar(Text(f"no model: {message.reason}", style="red"), loading=False)
        self.notify(message.reason, title="Chat model not loaded", severity="error", timeout=10)

    def _set_bar(self, label: str | Text, *, loading: bool) -> None:
        self.query_one("#model-label", Static).update(label)
        indicator = self.query_one("#model-bar LoadingIndicator", LoadingIndicator)
        indicator.display = loading
        # A hidden indicator still redraws 16 times a second; each wake-up takes the GIL from
        # the decoding thread (5% of decode speed measured), so it only animates while shown.
        indicator.auto_refresh = 1 / 16 if loading else None

    # Recall ----------------------------------------------------------------------------------

    def action_toggle_recall(self) -> None:
        self.recall_on = not self.recall_on
        self._show_recall_state()
        state = "on: replies get notes from your writing and chats" if self.recall_on else "off"
        self.notify(f"Recall {state}.", title="Recall")

    def _show_recall_state(self) -> None:
        self.query_one("#recall-state", Static).update(
            "recall on" if self.recall_on else "recall off"
        )

    def on_recalled(self, message: Recalled) -> None:
        self._sources = message.sources

    # Your feedback on the last reply ---------------------------------------------------------

    def show_waiting(self) -> None:
        """'3 corrections since the last run' in the bar (nothing when none wait)."""
        self.query_one("#feedback-state", Static).update(waiting_words(waiting(self.app.workspace)))

    def _keep(self, kind: str, text: str | None = None) -> bool:
        """Keep feedback on the session's last reply; False (and a notice) when there is none."""
        if self.generating or self.session is None:
            self.notify("No finished reply to correct or mark yet.", severity="warning")
            return False
        model = next(
            (t.model for t in reversed(self.session.messages) if t.role == "assistant"), ""
        )
        try:
            said = keep_feedback(
                self.app.workspace.db_path, kind, self.session.chat_messages(),
                model=model or "unknown", text=text, session_id=self.session.id,
                model_reply=self.model_reply,
            )  # fmt: skip
        except FeedbackError as exc:
            self.notify(str(exc), severity="warning")
            return False
        self.notify(said[0].upper() + said[1:] + ".", title="Feedback")
        self.show_waiting()
        return True

    def action_correct(self) -> None:
        answer = self.last_answer()
        if answer is None or self.generating:
            self.notify("No finished reply to correct yet.", severity="warning")
            return

        def corrected(text: str | None) -> None:
            if text is not None and self._keep("correction", text):
                # The conversation goes on from your version, as in `slmtui chat`.
                assert self.session is not None
                last = next(t for t in reversed(self.session.messages) if t.role == "assistant")
                if self.model_reply is None:
                    self.model_reply = last.content
                last.content = text
                self.store.correct_last_reply(self.session.id, text)
                log = self.query_one("#log", VerticalScroll)
                log.mount(Markdown(f"*your version:* {text}", classes="turn correction"))
                log.scroll_end(animate=False)

        self.app.push_screen(CorrectionScreen(answer), corrected)

    def action_mark(self, kind: str) -> None:
        self._keep(kind)

    # Saved chats -------------------------------------------------------------------------

    def show_session(self, session: Session | None) -> None:
        """Replace the log with a conversation's turns (None: a fresh, unsaved one)."""
        self.session = session
        self.model_reply = None
        log = self.query_one("#log", VerticalScroll)
        log.remove_children()
        if session is None:
            log.mount(Static("New conversation. Say something.", classes="turn-stats"))
            return
        for turn in session.messages:
            log.mount(Markdown(turn.content, classes=f"turn {turn.role}"))
            if turn.sources:
                log.mount(SourceList(turn.sources))
        log.scroll_end(animate=False)

    def _settings(self) -> ChatSettings:
        if self.session:
            return self.session.settings
        return ChatSettings(system_prompt=self.app.assistant_prompt())

    def action_new_conversation(self) -> None:
        if not self.generating:
            self.show_session(None)

    def action_open_conversation(self) -> None:
        if self.generating:
            return

        def opened(choice: int | str | None) -> None:
            if choice == NEW:
                self.show_session(None)
            elif isinstance(choice, int):
                self.show_session(self.store.get(choice))

        self.app.push_screen(SessionPicker(self.store.list()), opened)

    def action_settings(self) -> None:
        def saved(settings: ChatSettings | None) -> None:
            if settings is None:
                return
            if self.session is None:
                self.session = self.store.get(self.store.create(settings=settings))
            else:
                self.session.settings = settings
                self.store.update_settings(self.session.id, settings)
            self.notify("Saved for this conversation.", title="Settings")

        self.app.push_screen(ChatSettingsScreen(self._settings()), saved)

    # Sending and streaming -------------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.engine is None:
            self.notify("The model is still loading.", severity="warning")
            return
        if self.generating:
            self.notify("Still answering: esc stops it.", severity="warning")
            return
        event.input.value = ""
        if self.session is None:
            log = self.query_one("#log", VerticalScroll)
            log.remove_children()
            self.session = self.store.get(self.store.create())
        turn = SessionMessage("user", text)
        self.session.messages.append(turn)
        self.store.add_message(self.session.id, turn)
        log = self.query_one("#log", VerticalScroll)
        log.mount(Markdown(text, classes="turn user"))
        reply = Markdown("", classes="turn assistant", parser_factory=markdown_parser)
        log.mount(reply)
        log.scroll_end(animate=False)
        self._stream = Markdown.get_stream(reply)
        self._reply_parts = []
        self._pacer = Pacer()
        self._stop = threading.Event()
        self.generating = True
        s = self.session.settings
        sampling = Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
        # Decoding starts once the message and the empty reply are drawn: drawing them is the
        # UI's busiest moment of a reply, and the decoding thread would otherwise wait on it.
        messages = self.session.chat_messages()
        recaller = (
            Recaller(self.app.workspace.db_path, self.app.config.recall) if self.recall_on else None
        )
        self._sources = None
        self.call_after_refresh(
            self.generate, messages, sampling, self._stop, self._pacer, recaller
        )

    @work(thread=True, exclusive=True, group="chat-reply")
    def generate(
        self,
        messages: list[dict],
        sampling: Sampling,
        stop: threading.Event,
        pacer: Pacer,
        recaller: Recaller | None = None,
    ) -> None:
        """Notes first when recall is on; then the reply's pieces, joined, as often as the
        screen can draw them cheaply (see Pacer)."""
        engine = self.engine
        assert engine is not None
        try:
            if recaller is not None:
                messages, sources = recaller.notes(messages)
                self.post_message(Recalled(sources))
            for text in per_frame(engine.stream(messages, sampling, stop), lambda: pacer.interval):
                self.post_message(ReplyPiece(text))
        except Exception as exc:  # shown to the user; the conversation stays usable
            self.post_message(ReplyFailed(str(exc)))
            return
        self.post_message(ReplyDone(engine.last))

    async def on_reply_piece(self, message: ReplyPiece) -> None:
        self._pacer.drawn()
        self._reply_parts.append(message.text)
        if self._stream is not None:
            await self._stream.write(message.text)
        self.query_one("#log", VerticalScroll).scroll_end(animate=False)

    async def on_reply_done(self, message: ReplyDone) -> None:
        await self._finish_stream()
        stats = message.stats
        text = "".join(self._reply_parts)
        sources = self._sources
        self.model_reply = None
        if self.session is not None and text:
            model = self.engine.target.label if self.engine else ""
            turn = SessionMessage("assistant", text, model, sources or [])
            self.session.messages.append(turn)
            self.store.add_message(self.session.id, turn)
        log = self.query_one("#log", VerticalScroll)
        if sources is not None:
            await log.mount(SourceList(sources))
        if stats.dropped_turns:
            await log.mount(Static(dropped_note(stats.dropped_turns), classes="dropped"))
        await log.mount(Static(describe_reply(stats), classes="turn-stats"))
        log.scroll_end(animate=False)
        self.generating = False

    async def on_reply_failed(self, message: ReplyFailed) -> None:
        await self._finish_stream()
        self.generating = False
        self.notify(message.reason, title="Reply failed", severity="error", timeout=10)

    async def _finish_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    @property
    def reply_so_far(self) -> str:
        """The reply being streamed (or the last one), as far as it has arrived."""
        return "".join(self._reply_parts)

    def last_answer(self) -> str | None:
        if self.session is None:
            return None
        answers = [t.content for t in self.session.messages if t.role == "assistant"]
        return answers[-1] if answers else None

    def action_copy_last(self) -> None:
        answer = self.last_answer()
        if answer is None:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(answer)
        self.notify("Last answer copied to the clipboard.")

    async def action_escape(self) -> None:
        """Stop a reply in progress; otherwise go back to the Library."""
        if self.generating:
            self._stop.set()
        else:
            await self.app.run_action("show_library")
