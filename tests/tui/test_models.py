"""The Models screen: export a tiny trained run, then activate, roll back and delete."""

from __future__ import annotations

import json
import shutil

import pytest
from textual.widgets import DataTable, SelectionList

from slmtui import runs
from slmtui.jobs import launch, prepare, process
from slmtui.registry import ModelRegistry
from slmtui.tui.app import create_app
from slmtui.tui.screens.confirm import ConfirmScreen
from slmtui.tui.screens.export_types import ExportTypesScreen
from slmtui.tui.screens.models import ModelsScreen
from tests.tui.conftest import SAMPLES, tiny_workspace
from tests.tui.helpers import wait_for


def train_tiny(workspace) -> None:
    run = prepare.prepare_run(workspace, workspace.load_config())
    events = list(process.follow(launch.start_training(run)))
    assert events[-1].kind == "finished", events[-1].data


@pytest.mark.timeout(900)
async def test_export_then_activate_rollback_and_delete(tmp_path, tiny_base):
    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")  # more held-out text
    train_tiny(workspace)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one("#versions", DataTable)
        assert table.row_count == 0

        # e asks which types, each with its budget, the configured ones ticked; e again exports.
        await pilot.press("e")
        picker = app.screen
        assert isinstance(picker, ExportTypesScreen)
        choices = picker.query_one("#types", SelectionList)
        assert choices.selected == ["F16"]
        labels = [str(choices.get_option_at_index(i).prompt) for i in range(choices.option_count)]
        assert labels[1].startswith("Q8_0") and "budget +1.5% perplexity" in labels[1]
        # A random tiny model never ends a reply, so the full verification refuses it.
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is screen and screen.exporting
        await wait_for(pilot, lambda: not screen.exporting, timeout=600)
        state = str(screen.query_one("#export-state").render())
        assert state.startswith("refused: ") and "stops" in state
        assert table.row_count == 0 and ModelRegistry(workspace.models).versions() == []

        # A run whose evaluation found personal data it repeats: asked before it is shared;
        # n leaves it unexported.
        saved = runs.latest_finished(workspace).path / "eval.json"
        saved.write_text(json.dumps({"privacy": {
            "personal": {"phones": 1}, "personal_base": {}, "copied": {"longest": 2},
            "personal_examples": {"phones": ["+44 7700 900123"]},
        }}))  # fmt: skip
        await pilot.press("e")
        await pilot.press("e")
        await pilot.pause()
        question = app.screen
        assert isinstance(question, ConfirmScreen) and "+44 7700 900123" in question.question
        await pilot.press("n")
        assert app.screen is screen and not screen.exporting
        saved.unlink()

        screen.chat_check = False
        for expected in (1, 2):
            await pilot.press("e")
            if expected == 2:  # the second export publishes Q8_0 alone, within its budget
                text = workspace.config_path.read_text()
                text = text.replace("q8_0_max_ppl_increase = 1.5", "q8_0_max_ppl_increase = 1000.0")
                workspace.config_path.write_text(text)
                await pilot.press("space", "down", "space")  # F16 off, Q8_0 on
            await pilot.press("e")
            await wait_for(pilot, lambda n=expected: table.row_count == n, timeout=600)
            await wait_for(pilot, lambda: not screen.exporting, timeout=60)
        registry = ModelRegistry(workspace.models)
        assert [v.name for v in registry.versions()] == ["v1", "v2"]
        assert registry.active().name == "v2"
        assert screen.query_one("#export-log").line_count >= 3
        assert "→" in str(table.get_row("v2")[2])  # val perplexity base → tuned
        assert str(table.get_row("v2")[3]) == "Q8_0" and str(table.get_row("v1")[4]) == "exact"
        assert str(table.get_row("v2")[4]).startswith("ppl ")  # its cost against F16, and KL
        assert "KL" in str(table.get_row("v2")[4])

        # Evaluate v2 (a real `slmtui eval` child); the panel shows its saved result.
        table.move_cursor(row=table.get_row_index("v2"))
        await pilot.pause()
        panel = screen.query_one("#eval")
        assert "not evaluated yet" in str(panel.render())
        await pilot.press("E")
        assert screen.evaluating == "v2" and "evaluating" in str(panel.render())
        await wait_for(pilot, lambda: screen.evaluating is None, timeout=600)
        shown = str(panel.render())
        assert "perplexity" in shown and "x the base" in shown, shown
        assert "…" in shown and "read as you" in shown, shown  # intervals and the verifier
        assert (workspace.models / "v2" / "eval.html").is_file()
        table.move_cursor(row=table.get_row_index("v1"))
        await pilot.pause()
        assert "v1: not evaluated yet" in str(panel.render())

        await pilot.press("b")
        assert registry.active().name == "v1"
        table.move_cursor(row=table.get_row_index("v2"))
        await pilot.press("enter")
        assert registry.active().name == "v2"

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen and len(registry.versions()) == 2
        await pilot.press("d")
        await pilot.press("y")
        await pilot.pause()
        assert [v.name for v in registry.versions()] == ["v1"]
        assert registry.active().name == "v1"
        assert table.row_count == 1


@pytest.mark.timeout(900)
async def test_the_blind_test_scores_a_version_shown_in_models(tmp_path, tiny_base):
    """w opens "which one is yours?" for the selected version: 1 or 2 per round, the verdict
    and score after each, kept in the card; the Models table and panel show it after."""
    from slmtui.tui.screens.blind import BlindScreen

    workspace = tiny_workspace(tmp_path, tiny_base, max_steps=2)
    shutil.copytree(SAMPLES / "journal", workspace.writing / "journal")
    train_tiny(workspace)
    run = runs.latest_finished(workspace)
    job = launch.start_export(workspace, run, ["F16"], chat_check=False)
    assert list(process.follow(job))[-1].kind == "published"
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        models = app.screen
        assert isinstance(models, ModelsScreen)
        table = models.query_one("#versions", DataTable)
        assert str(table.get_row("v1")[6]) == "—"
        await pilot.press("w")
        blind = app.screen
        assert isinstance(blind, BlindScreen)
        state = blind.query_one("#blind-state")
        await wait_for(pilot, lambda: "Round 1 of" in str(state.render()), timeout=600)
        rounds = len(blind.rounds)
        assert rounds >= 2
        first = blind.rounds[0]
        answers = [str(blind.query_one(f"#answer-{n}").render()) for n in (1, 2)]
        assert sorted(answers) == sorted([first.yours, first.model])
        await pilot.press("1" if first.yours_first else "2")  # picked yourself out
        assert "Yes, that one was yours." in str(state.render())
        assert "Round 2 of" in str(state.render())
        second = blind.rounds[1]
        await pilot.press("2" if second.yours_first else "1")  # picked the model
        assert "No, that one was the model's." in str(state.render())
        assert "1 of 2 times (50%" in str(blind.query_one("#blind-score").render())
        await pilot.press("escape")
        assert app.screen is models
        await pilot.pause()
        assert str(table.get_row("v1")[6]) == "1/2 50%"
        assert "blind test  you picked yourself out 1 of 2" in str(
            models.query_one("#eval").render()
        )
    card = ModelRegistry(workspace.models).get("v1").card["blind"]
    assert card["rounds"] == 2 and card["picked_yours"] == 1
    assert card["shown"] == [first.id, second.id]
