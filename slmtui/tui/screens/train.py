"""Train: start, stop and resume a LoRA run in a child process, and watch it learn.

The child prints JSON-lines events; a thread worker follows them and posts each one here, so the
loss plot, speed, ETA and log tail update live while the UI stays responsive. Step events are
drawn at most every REDRAW_SECONDS (a fast run sends many a second, and each plot redraw costs the
UI thread milliseconds); the other events are drawn at once. The child runs at a lower CPU
priority than the app, so keys stay quick on a machine whose cores it fills. A crash of the child
arrives as a `failed` event with its reason, and the screen stays usable.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Log, Static

from slmtui import runs
from slmtui.config import TRAINING_BUDGETS, Config, with_changes
from slmtui.dataset.generator import generator_for
from slmtui.ingest.ingestor import Ingestor
from slmtui.ingest.store import Store
from slmtui.jobs import launch, prepare
from slmtui.jobs.describe import describe
from slmtui.jobs.events import TRAINING
from slmtui.jobs.process import RunningJob, follow, stop_job
from slmtui.tui.job_worker import follow_job
from slmtui.tui.posts import JobEnded, JobEventArrived, TrainingFinished
from slmtui.tui.screens.kept import KeptScreen
from slmtui.tui.streaming import Throttle
from slmtui.tui.train_progress import TrainProgress
from slmtui.tui.widgets.footer import KeyFooter
from slmtui.tui.widgets.loss_plot import LossPlot

IDLE_HINT = (
    "s start a run · M how long · R resume the last stopped one · x or esc stop · B the base"
)
REDRAW_SECONDS = 0.25  # the most often step events redraw the plot, status and log


class TrainScreen(KeptScreen):
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("M", "budget", "Minutes"),
        Binding("R", "resume", "Resume"),
        Binding("x", "stop", "Stop", show=False),
        # Out of the footer, which is full at 80 columns: the plan line and ? help name it.
        Binding("B", "bases", "Bases", show=False),
        Binding("escape", "escape", "Stop/Back"),
    ]

    DEFAULT_CSS = """
    TrainScreen #plan { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    TrainScreen #loss { height: 1fr; min-height: 6; }
    TrainScreen #status { height: 1; padding: 0 1; background: $panel; }
    TrainScreen #log { height: 6; border: none; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(name="train")
        self.progress = TrainProgress()
        self.job: RunningJob | None = None
        self.preview = ""  # the plan of the next run, shown while idle
        self._preview_job: RunningJob | None = None
        self._planned_for: tuple | None = None  # what the store and runs were for that plan
        self._unshown: list[str] = []  # log lines that arrived since the last redraw
        self._redraw = Throttle(REDRAW_SECONDS)
        self._behind = False  # events arrived while the screen was hidden
        self._redraw_timer = None
        # How long the next run trains, chosen with `M`: None is the settings' own ([train]
        # minutes, else the preset's five); the others are config.TRAINING_BUDGETS.
        self.minutes: float | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(IDLE_HINT, id="plan")
        yield LossPlot(id="loss")
        yield Static("", id="status")
        yield Log(id="log", max_lines=200)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "Train"
        resumable = runs.latest_resumable(self.app.workspace)
        if resumable is not None:
            self.progress.log.append(f"{resumable.name} was stopped: R resumes it")
        self._render_progress()

    def on_screen_resume(self) -> None:
        if self._behind:
            self.call_after_refresh(self._schedule_redraw, at_once=True)
        if not self.busy:
            self.plan_next_run()

    def on_unmount(self) -> None:
        if self.job is not None:
            stop_job(self.job)
        self._stop_preview()

    # -- the plan of the next run, before `s` ----------------------------------------------------

    @work(thread=True, exclusive=True, group="train-preview")
    def plan_next_run(self) -> None:
        """A dry run of what `s` would start: preset, device, steps, how much of the corpus,
        the estimate, and whether it continues the last run. Made again only when the store or
        the runs changed since the last plan; a start kills it."""
        workspace, config = self.app.workspace, self.app.config
        # The app's watcher keeps the store current; only an app that does not watch reads
        # writing/ here, once.
        if self.app.live is None:
            with Ingestor(workspace, config) as ingestor:
                ingestor.scan()
        with Store(workspace.db_path) as store:
            stats = store.stats()
        latest = runs.latest_finished(workspace)
        signature = (
            json.dumps(stats.as_dict(), sort_keys=True),
            latest and latest.name,
            self.minutes,
        )
        if not stats.chunks or signature == self._planned_for:
            return
        config = self.run_config()
        run = prepare.prepare_run(
            workspace, config, generator=generator_for(config.model.base), generate=False,
            preview=True, scan=False,
        )  # fmt: skip
        self._preview_job = launch.start_training(run, dry_run=True)
        job, started, last = self._preview_job, None, None
        for last in follow(job):
            started = last if last.kind == "started" else started
        self._preview_job = None
        if started is not None:
            text = (
                "next run" + describe(started).removeprefix("dry run")
                + " · s starts it · B picks the base"
            )  # fmt: skip
        elif last is not None and job.process.returncode == 1:  # the trainer's own refusal
            text = f"next run: cannot start: {last.data.get('reason', '')}"
        else:  # killed by a start, or gone without a word: plan again next time
            return
        # The same store and runs give the same plan (or refusal): not made again for them.
        self._planned_for = signature
        self.app.call_from_thread(self._show_preview, text)

    def _show_preview(self, text: str) -> None:
        self.preview = text
        self._render_progress()

    def _stop_preview(self) -> None:
        job = self._preview_job
        if job is not None and job.running:
            job.process.kill()  # a dry run has nothing to save

    @property
    def busy(self) -> bool:
        return self.progress.state in ("preparing", "running", "stopping")

    def action_bases(self) -> None:
        """The bases that fit this machine; the one chosen is the next run's."""
        from slmtui.tui.screens.bases import BasesScreen

        def chosen(base: str | None) -> None:
            if base is None:
                return
            self.app.config = self.app.workspace.load_config()
            self._planned_for = None  # the plan is made again, for the new base
            self.notify(f"The next run trains {base} ([model] base in slmtui.toml).")
            self.plan_next_run()

        if self.busy:
            self.notify("A run is in progress: change the base after it.", severity="warning")
            return
        self.app.push_screen(BasesScreen(), chosen)

    def run_config(self) -> Config:
        """The settings the next run trains with: the app's, and the budget chosen with `M`."""
        config = self.app.config
        if self.minutes is None:
            return config
        return with_changes(config, "train", minutes=self.minutes)

    def action_budget(self) -> None:
        """The next run's budget, in turn: the settings' own, then each named budget."""
        if self.busy:
            self.notify("A run is in progress: choose how long the next one trains after it.")
            return
        choices: list[float | None] = [None, *TRAINING_BUDGETS.values()]
        self.minutes = choices[(choices.index(self.minutes) + 1) % len(choices)]
        own = self.app.config.train.minutes or TRAINING_BUDGETS["quick"]
        name = next((k for k, v in TRAINING_BUDGETS.items() if v == self.minutes), None)
        said = f"{name}, {self.minutes:g} minutes" if name else f"as set, {own:g} minutes"
        self.notify(f"The next run trains for {said} (M again for another).")
        self.preview = f"next run: {said}; planning it…"
        self._render_progress()
        self.plan_next_run()

    def action_start(self) -> None:
        self._begin(resume=False)

    def action_resume(self) -> None:
        self._begin(resume=True)

    def _begin(self, *, resume: bool) -> None:
        if self.busy:
            self.notify("A run is already in progress.", severity="warning")
            return
        self._stop_preview()
        self.app.heavy_job_starting()
        self.progress = TrainProgress(state="preparing")
        self._unshown = []
        self.query_one("#log", Log).clear()
        self._render_progress()
        self.run_training(resume)

    @work(thread=True, exclusive=True, group="train")
    def run_training(self, resume: bool) -> None:
        """Prepare (or pick the run to resume), start the child, and follow it to the end."""
        workspace = self.app.workspace

        def start() -> tuple[RunningJob, str]:
            if resume:
                run = runs.latest_resumable(workspace)
                if run is None:
                    raise RuntimeError("There is no stopped run to resume: press s to start one.")
            else:
                # The CLI's dataset from the same store: the requests the background request writer
                # has written so far; those still pending train as "continue" pairs this time.
                config = self.run_config()
                run = prepare.prepare_run(
                    workspace,
                    config,
                    generator=generator_for(config.model.base),
                    generate=False,
                    say=lambda text: self.app.call_from_thread(self._say, text),
                )
            return launch.start_training(run, resume=resume), run.name

        follow_job(self, TRAINING, start, self._set_job)

    def _say(self, text: str) -> None:
        """A line from preparing the run (dataset made, requests pending) in the log."""
        self.progress.log.append(text)
        self._unshown.append(text)
        self._schedule_redraw(at_once=True)

    def _set_job(self, job: RunningJob | None) -> None:
        self.job = job

    def on_job_event_arrived(self, message: JobEventArrived) -> None:
        event = message.event
        if message.run:
            self.progress.run = message.run
        self.progress.add(event)
        self._unshown.append(describe(event))
        if event.kind == "failed" and event.data.get("detail"):
            self._unshown.extend(str(event.data["detail"]).splitlines()[-5:])
        self._schedule_redraw(at_once=event.kind != "step")
        if event.kind == "finished" and not event.data.get("stopped"):
            self.app.notify(describe(event), title="Training finished", timeout=10)
            self.app.post_message(TrainingFinished(message.run))
        elif event.kind == "failed":
            self.app.notify(
                event.data.get("reason", ""), title="Training failed", severity="error", timeout=15
            )

    def on_job_ended(self, message: JobEnded) -> None:
        self.app.heavy_job_ended()
        if self.progress.state in ("preparing", "running", "stopping"):
            self.progress.state = "stopped"
        self._schedule_redraw(at_once=True)

    def _schedule_redraw(self, *, at_once: bool) -> None:
        """Redraw now if asked or due, else once the throttle allows (one timer at a time).

        A hidden screen draws nothing: it is shown again as it was, in a frame of its own, and
        what arrived meanwhile is drawn right after (see on_screen_resume), so that a key press
        never waits for a plot and a layout of events nobody saw.
        """
        if not self.is_current:
            self._behind = True
            return
        if at_once or self._redraw.due():
            if self._redraw_timer is not None:
                self._redraw_timer.stop()
            self._redraw_now()
        elif self._redraw_timer is None:
            self._redraw_timer = self.set_timer(self._redraw.wait(), self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_timer = None
        if not self.is_current:  # the timer was set while it was shown
            self._behind = True
            return
        self._behind = False
        self._redraw.mark()
        if self._unshown:
            lines, self._unshown = self._unshown, []
            self.query_one("#log", Log).write_lines(lines)
        self._render_progress()

    def action_stop(self) -> None:
        if self.job is None or self.progress.state != "running":
            return
        self.progress.state = "stopping"
        stop_job(self.job)
        self._render_progress()

    async def action_escape(self) -> None:
        if self.progress.state == "running":
            self.action_stop()
        else:
            await self.app.run_action("show_library")

    def _render_progress(self) -> None:
        p = self.progress
        title = f"{p.run}: " if p.run else ""
        plan = p.plan or (self.preview if p.state == "idle" else "") or IDLE_HINT
        self.query_one("#plan", Static).update(title + plan)
        style = "red" if p.state == "failed" else ""
        self.query_one("#status", Static).update(Text(p.status(), style=style))
        log = self.query_one("#log", Log)
        if not log.line_count and p.log:
            log.write_lines(list(p.log))
        plot = self.query_one("#loss", LossPlot)
        plot.show_curves(p.steps, p.losses, p.val_steps, p.val_losses)
