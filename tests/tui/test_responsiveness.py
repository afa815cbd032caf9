"""What keeps the UI thread light: paced reply updates, coalesced training redraws, a footer
that is not rebuilt on every screen switch, a Models table not redrawn when nothing changed."""

from __future__ import annotations

import threading

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

import slmtui.tui.streaming as streaming
from slmtui.jobs.events import TRAINING, JobEvent
from slmtui.tui.app import create_app
from slmtui.tui.posts import JobEventArrived
from slmtui.tui.screens.models import ModelsScreen
from slmtui.tui.screens.train import TrainScreen
from slmtui.tui.streaming import Pacer, Throttle, per_frame
from slmtui.tui.widgets.footer import KeyFooter
from tests.tui.helpers import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_per_frame_joins_fast_pieces_and_loses_nothing():
    clock = FakeClock()

    def pieces():
        for i, gap in enumerate([0, 0.01, 0.01, 0.01, 0.2, 0.01, 0.01]):
            clock.now += gap
            yield str(i)

    sent = list(per_frame(pieces(), 0.1, clock=clock))
    assert sent == ["0", "1234", "56"]  # the first at once, then one text per interval, the rest
    assert "".join(sent) == "0123456"


def test_per_frame_asks_a_changing_interval():
    clock = FakeClock()
    intervals = iter([0.0, 0.0, 1.0, 1.0, 1.0])

    def pieces():
        for piece in "abcde":
            clock.now += 0.1
            yield piece

    assert list(per_frame(pieces(), lambda: next(intervals), clock=clock)) == ["a", "b", "c", "de"]


def test_pacer_spaces_updates_by_what_drawing_costs(monkeypatch):
    cpu = iter([1.0, 1.02, 1.04, 1.0401, 1.0402])
    monkeypatch.setattr(streaming.time, "thread_time", lambda: next(cpu))
    pacer = Pacer(share=0.1, fastest=0.05, slowest=0.5)
    assert pacer.interval == 0.05  # nothing measured yet: as fast as allowed
    pacer.drawn()
    pacer.drawn()  # 20 ms of UI time per update, 10% of the UI thread: one every 0.2 s
    assert abs(pacer.interval - 0.2) < 1e-9
    pacer.drawn()
    assert abs(pacer.interval - 0.2) < 1e-9
    pacer.drawn()
    pacer.drawn()  # cheap updates bring it down, smoothed, never below `fastest`
    assert 0.05 <= pacer.interval < 0.2


def test_throttle():
    clock = FakeClock()
    throttle = Throttle(0.25, clock=clock)
    assert throttle.due()
    throttle.mark()
    clock.now += 0.1
    assert not throttle.due() and abs(throttle.wait() - 0.15) < 1e-9
    clock.now += 0.15
    assert throttle.due()


class Toggle(Screen):
    BINDINGS = [Binding("a", "act", "Act"), Binding("b", "other", "Other")]
    enabled = True

    def compose(self):
        yield KeyFooter()

    def check_action(self, action: str, parameters) -> bool | None:
        return True if self.enabled or action != "act" else None  # None: shown disabled


class Other(Screen):
    def compose(self):
        yield KeyFooter()


class TwoScreens(App):
    def on_mount(self) -> None:
        self.install_screen(Toggle(), "toggle")
        self.install_screen(Other(), "other")
        self.push_screen("toggle")


async def test_footer_keeps_its_keys_unless_they_change():
    app = TwoScreens()
    async with app.run_test() as pilot:
        screen = app.get_screen("toggle")
        await wait_for(pilot, lambda: len(screen.query("FooterKey")) >= 2)
        keys = list(screen.query("FooterKey"))
        await app.switch_screen("other")
        await pilot.pause()
        await app.switch_screen("toggle")
        await pilot.pause()
        screen.refresh_bindings()
        await pilot.pause()
        assert list(screen.query("FooterKey")) == keys  # the same widgets: not rebuilt

        screen.enabled = False
        screen.refresh_bindings()
        await wait_for(
            pilot, lambda: screen.query("FooterKey") and screen.query("FooterKey")[0] not in keys
        )
        act = next(key for key in screen.query("FooterKey") if key.action == "act")
        assert act.has_class("-disabled")


def step(n: int) -> JobEvent:
    data = {"step": n, "steps": 1000, "loss": 3.0 - n / 1000, "lr": 1e-4, "tokens_per_s": 500.0}
    return JobEvent("step", TRAINING, {**data, "eta_s": 60.0, "memory_mb": 100.0})


async def test_a_burst_of_steps_is_drawn_a_few_times_with_nothing_lost(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        draws = []
        original = screen._render_progress
        screen._render_progress = lambda: (draws.append(1), original())[1]
        for n in range(1, 201):
            screen.post_message(JobEventArrived(step(n), run="r"))
        await wait_for(pilot, lambda: len(screen.progress.steps) == 200)
        await wait_for(pilot, lambda: screen.query_one("#log").line_count == 200)
        assert "step 200/1000" in str(screen.query_one("#status").render())
        assert len(draws) < 20  # 200 events, a handful of redraws
        assert screen.query_one("#loss").curves[0] == list(range(1, 201))  # the whole curve
        assert screen.progress.steps[-1] == 200


async def test_models_table_is_redrawn_only_when_the_registry_changed(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        cleared = []
        table = screen.query_one("#versions", DataTable)
        original = table.clear
        table.clear = lambda *a, **k: (cleared.append(1), original(*a, **k))[1]
        for _ in range(3):
            await pilot.press("t")
            await pilot.press("m")
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert cleared == []  # same registry: the table (and its cursor) left as it was


async def test_a_screen_shown_again_is_restyled_only_if_the_app_styling_changed(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        library = app.get_screen("library")
        await pilot.press("t", "l")
        restyled = []
        original = library.update_node_styles
        library.update_node_styles = lambda *a, **k: (restyled.append(1), original(*a, **k))[1]
        await pilot.press("t", "l")
        assert restyled == []  # nothing changed: the widgets keep their styles and drawn lines

        before = library.styles.background
        await pilot.press("t")
        app.theme = "slmtui-light" if app.theme != "slmtui-light" else "slmtui-dark"
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert restyled and library.styles.background != before  # the new theme, while hidden
        shown = library.query_one("#files").styles.background
        original(animate=False)
        assert library.query_one("#files").styles.background == shown  # nothing left stale


async def test_the_hidden_loading_indicator_stops_animating(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        chat = app.get_screen("chat")
        indicator = chat.query_one("#model-bar LoadingIndicator")
        await wait_for(pilot, lambda: chat.engine is not None)
        await wait_for(pilot, lambda: not indicator.display)
        assert indicator.auto_refresh is None  # no wake-ups taking the GIL from decoding
        chat.reload_model()
        assert indicator.display and indicator.auto_refresh
        await wait_for(pilot, lambda: not indicator.display)
        assert indicator.auto_refresh is None


async def test_the_loss_plot_is_built_off_the_ui_thread(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        plot = app.screen.query_one("#loss")
        await wait_for(pilot, lambda: "loss" in plot.render().plain)  # the empty plot, titled
        built_on = []
        build = plot.plt.build
        plot.plt.build = lambda: (built_on.append(threading.current_thread()), build())[1]
        plot.show_curves([1, 2, 3], [3.0, 2.5, 2.2], [0], [3.1])
        await wait_for(pilot, lambda: built_on and "train" in plot.render().plain)
        assert threading.main_thread() not in built_on


async def test_a_hidden_train_screen_draws_on_its_return(workspace):
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t", "l")
        train = app.get_screen("train")
        draws = []
        original = train._render_progress
        train._render_progress = lambda: (draws.append(1), original())[1]
        for n in range(1, 31):
            train.post_message(JobEventArrived(step(n), run="r"))
        await wait_for(pilot, lambda: len(train.progress.steps) == 30)
        await pilot.pause(0.3)
        assert draws == []  # hidden: nothing drawn
        await pilot.press("t")
        await wait_for(pilot, lambda: "step 30/1000" in str(train.query_one("#status").render()))
        assert len(draws) == 1 and train.query_one("#log").line_count == 30
