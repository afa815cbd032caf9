"""The app writes chat-pair requests in the background while it is open, shows how far it is in
the Library, and gives the cores to a training or export job."""

from __future__ import annotations

from slmtui.tui.app import create_app
from slmtui.tui.widgets.dataset_stats import DatasetStats
from tests.conftest import SAMPLES, request_counts, small_workspace
from tests.tui.helpers import wait_for

ESSAYS = sorted(path.name for path in (SAMPLES / "essays").iterdir())


async def test_requests_are_written_while_the_app_is_open_and_wait_for_training(tmp_path):
    workspace = small_workspace(tmp_path, ESSAYS, ingest=False)
    app = create_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        stats = app.library.query_one(DatasetStats)

        def written() -> int:
            return (stats.requests or {}).get("ready", 0) + (stats.requests or {}).get(
                "rejected", 0
            )

        await wait_for(pilot, lambda: written() >= 1, timeout=180)
        await wait_for(pilot, lambda: stats.requests["total"] == request_counts(workspace).total)
        total = stats.requests["total"]
        assert ("Chat pairs", f"{stats.requests['ready']}/{total}") in stats.rows()
        assert total == request_counts(workspace).total

        app.heavy_job_starting()  # what Train's start and Models' export call
        await wait_for(pilot, lambda: not app.preparing, timeout=120)
        held = request_counts(workspace)
        assert held.pending > 0  # it stopped before the end, not because it was done
        await pilot.pause(3)
        assert request_counts(workspace) == held  # nothing written while training runs

        app.heavy_job_ended()
        await wait_for(pilot, lambda: request_counts(workspace).pending == 0, timeout=300)
        await wait_for(pilot, lambda: stats.requests["pending"] == 0, timeout=30)
