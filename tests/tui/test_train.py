"""The Train screen driving the real training child on a tiny model."""

from __future__ import annotations

import shutil

from textual.widgets import Static

from slmtui import runs
from slmtui.tui.app import create_app
from slmtui.tui.screens.train import TrainScreen
from tests.tui.helpers import wait_for


def status(screen: TrainScreen) -> str:
    return str(screen.query_one("#status", Static).render())


async def test_start_shows_steps_then_stop_leaves_a_resumable_run(train_workspace):
    app = create_app(train_workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        await pilot.press("s")
        await wait_for(pilot, lambda: len(screen.progress.steps) >= 2, timeout=300)
        assert screen.progress.plan.startswith("training: ")
        assert "estimated" in str(screen.query_one("#plan", Static).render())
        # Step events are drawn at most every REDRAW_SECONDS, so the widgets may lag a little.
        await wait_for(pilot, lambda: "tok/s" in status(screen) and "ETA" in status(screen))
        assert screen.progress.val_losses  # the base model's validation loss at step 0
        await wait_for(pilot, lambda: screen.query_one("#log").line_count >= 3)

        await pilot.press("x")
        await wait_for(pilot, lambda: screen.progress.state == "stopped", timeout=300)
        await wait_for(pilot, lambda: screen.job is None, timeout=60)
        assert runs.latest_resumable(train_workspace) is not None

        await pilot.press("R")
        await wait_for(pilot, lambda: screen.progress.state == "running", timeout=300)
        assert "resuming at step" in screen.progress.plan
        await pilot.press("escape")  # esc stops a running job too
        await wait_for(pilot, lambda: screen.progress.state == "stopped", timeout=300)


async def test_a_run_that_cannot_train_shows_why(tmp_path, tiny_base):
    from tests.tui.conftest import tiny_workspace

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    for path in workspace.writing.rglob("*"):
        if path.is_file():
            path.unlink()
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")  # retrain from the Library
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        await wait_for(pilot, lambda: screen.progress.state == "failed", timeout=300)
        assert screen.progress.reason
        assert status(screen).startswith("failed: ")
        await pilot.press("escape")
        assert app.screen is app.library


async def test_the_plan_of_the_next_run_is_shown_before_starting(tmp_path, tiny_base):
    from slmtui.jobs import launch, prepare, process
    from tests.tui.conftest import tiny_workspace

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        await wait_for(pilot, lambda: screen.preview.startswith("next run: "), timeout=300)
        plan = str(screen.query_one("#plan", Static).render())
        assert "next run: " in plan and "estimated" in plan
        assert "passes over the training text, from scratch" in screen.preview
        assert runs.runs(workspace) == []  # planning made no run

    run = prepare.prepare_run(workspace, workspace.load_config())
    assert list(process.follow(launch.start_training(run)))[-1].kind == "finished"
    (workspace.writing / "more.md").write_text("A new piece, about the ferry in the fog. " * 40)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        await wait_for(pilot, lambda: "continuing" in screen.preview, timeout=300)
        assert f"continuing {run.name}: " in screen.preview and "replayed" in screen.preview


async def test_the_app_trains_the_snapshot_the_cli_builds(tmp_path):
    """Same store, same snapshot: `slmtui train`'s preparation (which writes the requests) and
    the app's retrain (which uses the written ones) give one dataset hash."""
    import json

    from slmtui.dataset.generator import generator_for
    from slmtui.jobs import prepare
    from tests.conftest import SAMPLES, small_workspace

    essays = sorted(path.name for path in (SAMPLES / "essays").iterdir())[:3]
    workspace = small_workspace(tmp_path, essays)
    config = workspace.load_config()
    cli_run = prepare.prepare_run(workspace, config, generator=generator_for(config.model.base))
    cli = json.loads((cli_run.dataset / "manifest.json").read_text())
    assert cli["generator_key"] and cli["stats"]["pending"] == 0

    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t", "s")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.progress.run), timeout=300)
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.job is None, timeout=300)
    app_run = runs.RunFolder(workspace.runs / screen.progress.run)
    manifest = json.loads((app_run.dataset / "manifest.json").read_text())
    assert app_run.name != cli_run.name
    assert manifest["hash"] == cli["hash"] and manifest["generator_key"] == cli["generator_key"]


async def test_a_plan_that_cannot_start_says_why_and_is_not_remade(tmp_path, tiny_base):
    from tests.tui.conftest import tiny_workspace

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    shutil.rmtree(workspace.writing / "essays")
    (workspace.writing / "short.md").write_text("A short note about the tide and the ferry. " * 12)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        screen = app.screen
        await wait_for(pilot, lambda: "cannot start" in screen.preview, timeout=300)
        assert "Too little data" in screen.preview
        planned = screen._planned_for
        await pilot.press("l", "t")  # shown again, nothing changed: the refusal is kept
        await pilot.pause(1)
        assert screen._planned_for == planned and "Too little data" in screen.preview


async def test_bases_list_what_fits_and_a_failed_download_changes_nothing(train_workspace):
    from textual.widgets import DataTable

    from slmtui.tui.screens.bases import BasesScreen

    before = train_workspace.config_path.read_text()
    app = create_app(train_workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        await pilot.press("B")
        screen = app.screen
        assert isinstance(screen, BasesScreen)
        table = screen.query_one("#bases", DataTable)
        await wait_for(pilot, lambda: table.row_count == 10, timeout=300)
        machine = str(screen.query_one("#machine", Static).render())
        assert machine.startswith("This machine:")
        assert "Qwen2.5-1.5B-Instruct" in str(table.get_row_at(3)[0])
        # No network here: the hub download fails, says why, and the setting stays.
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "Could not fetch" in str(screen.query_one("#machine", Static).render()),
            timeout=300,
        )  # fmt: skip
        assert train_workspace.config_path.read_text() == before
        await pilot.press("escape")
        assert isinstance(app.screen, TrainScreen)


async def test_capital_m_chooses_how_long_the_next_run_trains(tmp_path, tiny_base):
    from tests.tui.conftest import tiny_workspace

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=0)  # planned by time
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        screen = app.screen
        await wait_for(pilot, lambda: "estimated" in screen.preview, timeout=300)
        assert "of 5m" in screen.preview and screen.minutes is None
        await pilot.press("M")  # quick, by name
        await pilot.press("M")  # evening
        assert screen.minutes == 60.0
        await wait_for(pilot, lambda: "of 1h" in screen.preview, timeout=300)
        assert screen.run_config().train.minutes == 60.0
        await pilot.press("M")  # back to what the settings say
        assert screen.minutes is None and screen.run_config() is app.config
