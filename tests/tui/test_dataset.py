"""The Dataset screen over a real store: every example, filters, exclusions kept in the store
and out of the next snapshot, and a new request written by the real base model."""

from __future__ import annotations

from textual.widgets import DataTable

from slmtui.ingest.store import Store
from slmtui.jobs.prepare import prepare_run
from slmtui.tui.app import create_app
from slmtui.tui.screens.dataset import DatasetScreen
from tests.conftest import SAMPLES, small_workspace
from tests.tui.helpers import wait_for

ESSAYS = sorted(path.name for path in (SAMPLES / "essays").iterdir())[:3]


def rows(screen: DatasetScreen) -> int:
    return screen.query_one("#examples", DataTable).row_count


async def test_dataset_screen_lists_filters_and_excludes(tmp_path):
    from slmtui.chat.feedback import keep_feedback

    workspace = small_workspace(tmp_path, ESSAYS)
    asked = [{"role": "user", "content": "Coming?"}, {"role": "assistant", "content": "Yes!!!"}]
    keep_feedback(workspace.db_path, "correction", asked, model="v1", text="Aye. A")
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("D")
        screen = app.screen
        assert isinstance(screen, DatasetScreen)
        await wait_for(pilot, lambda: rows(screen) > 0)
        assert rows(screen) == len(screen.views)
        assert "training gets" in str(screen.query_one("#dataset-filter").render())
        assert "trained on" in str(screen.query_one("#example").render())

        await pilot.press("k")  # raw only
        assert screen.kind == "raw" and all(v.kind == "raw" for v in screen.shown())
        assert rows(screen) == len(screen.shown()) < len(screen.views)
        await pilot.press("k", "k", "k", "k")  # backtranslate, continue, rewrite, dialogue
        assert screen.kind == "dialogue" and rows(screen) == 0  # these essays have no chats
        await pilot.press("k")  # identity: no name is known here, so no pairs
        assert screen.kind == "identity" and rows(screen) == 0
        await pilot.press("k")  # your correction in chat
        assert screen.kind == "correction" and rows(screen) == 1
        assert "Aye. A" in str(screen.query_one("#example").render())
        await pilot.press("k")  # and the pair it makes: your version over the model's
        assert screen.kind == "preference" and rows(screen) == 1
        shown = str(screen.query_one("#example").render())
        assert "preferred over the model's reply" in shown and "Yes!!!" in shown
        await pilot.press("k")  # back to every kind
        assert screen.kind is None and rows(screen) == len(screen.views)

        first = screen.selected()
        await pilot.press("f")
        assert screen.document == first.path
        assert {v.path for v in screen.shown()} == {first.path}
        await pilot.press("f")
        assert screen.document is None

        await pilot.press("x")
        await wait_for(pilot, lambda: any(v.excluded for v in screen.views))
        excluded = [v for v in screen.views if v.excluded]
        assert [v.example.id for v in excluded] == [first.example.id]
        await pilot.press("X")  # the whole document of the selected example
        await wait_for(pilot, lambda: all(v.excluded for v in screen.views if v.path == first.path))
        with Store(workspace.db_path) as store:
            assert first.path in store.exclusions().documents

    run = prepare_run(workspace, workspace.load_config())
    snapshot = (run.dataset / "train.jsonl").read_text() + (run.dataset / "val.jsonl").read_text()
    assert first.example.id not in snapshot
    assert not any(v.example.id in snapshot for v in screen.views if v.path == first.path)


async def test_n_writes_a_new_request_with_the_base_model(tmp_path):
    workspace = small_workspace(tmp_path, ESSAYS)
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("D")
        screen = app.screen
        await wait_for(pilot, lambda: rows(screen) > 0)
        pending = next(v for v in screen.views if v.status == "pending")
        table = screen.query_one("#examples", DataTable)
        table.move_cursor(row=table.get_row_index(pending.example.id))
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: (
                next(v for v in screen.views if v.example.id == pending.example.id).status
                != "pending"
            ),
            timeout=120,
        )
        now = next(v for v in screen.views if v.example.id == pending.example.id)
        assert now.status in ("", "rejected")
