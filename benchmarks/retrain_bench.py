"""From a saved file to the first token of a model that has read it: the retrain loop, timed.

Drives the real app (Textual's Pilot, in this process; training and the request writer run as
their usual child processes) on a copy of samples/ that already has one finished run and whose
chat-pair requests are written. Then it saves one new document of about 1,500 words (two of the
samples' journal entries the setup kept back, as one file), waits until the watcher has ingested
it and the background job has written its requests, presses the retrain key, waits for the run,
opens Chat on the new adapter and sends a message. It prints each stage and the total.

    python benchmarks/retrain_bench.py [--json]

Target: at most 120 s from the save to the first token on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui import runs  # noqa: E402
from slmtui.cli.writing import make_demo_workspace  # noqa: E402
from slmtui.dataset.generator import generator_for  # noqa: E402
from slmtui.ingest.ingestor import Ingestor  # noqa: E402
from slmtui.jobs import launch, prepare, process  # noqa: E402
from slmtui.tui.app import create_app  # noqa: E402
from slmtui.tui.widgets.dataset_stats import DatasetStats  # noqa: E402

HELD_BACK = ["journal/2024-11-17.txt", "journal/2025-03-04.txt"]  # about 1,580 words together
NEW_FILE = "new-entry.txt"
PROMPT = "What did you do this week?"
TARGET_SECONDS = 120


def set_up(folder: Path):
    """A demo workspace minus the held-back entries, with its requests written and one run."""
    workspace = make_demo_workspace(folder / "ws")
    held = [(workspace.writing / name).read_text(encoding="utf-8") for name in HELD_BACK]
    for name in HELD_BACK:
        (workspace.writing / name).unlink()
    config = workspace.load_config()
    with Ingestor(workspace, config) as ingestor:
        ingestor.scan()
    print("setup: writing the chat-pair requests of the samples…", file=sys.stderr, flush=True)
    for event in process.follow(launch.start_requests(workspace)):
        if event.kind in ("finished", "failed"):
            print(f"setup: {event.data}", file=sys.stderr, flush=True)
    print("setup: a first run…", file=sys.stderr, flush=True)
    run = prepare.prepare_run(
        workspace, config, generator=generator_for(config.model.base), generate=False
    )
    events = list(process.follow(launch.start_training(run)))
    if events[-1].kind != "finished":
        raise SystemExit(f"setup: the first run failed: {events[-1].data}")
    return workspace, "\n\n".join(held)


async def wait(pilot, condition, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("a stage did not finish in time")
        await pilot.pause(0.05)
    return time.monotonic()


async def retrain(workspace, text: str) -> dict[str, float]:
    app = create_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        stats = app.library.query_one(DatasetStats)
        await wait(pilot, lambda: app.last_ingest is not None)
        await wait(pilot, lambda: stats.requests is not None and stats.requests["pending"] == 0)
        before = app.last_ingest
        first_run = runs.latest_finished(workspace).name

        saved = time.monotonic()
        (workspace.writing / NEW_FILE).write_text(text, encoding="utf-8")
        ingested = await wait(
            pilot, lambda: app.last_ingest is not before and NEW_FILE in app.library.rows
        )
        seen = ingested - app.last_ingest[1].seconds
        await wait(pilot, lambda: stats.requests["pending"] == 0 and not app.preparing)
        requests = time.monotonic()

        await pilot.press("r")
        train = app.get_screen("train")
        snapshot = await wait(pilot, lambda: any("Dataset " in line for line in train.progress.log))
        trained = await wait(pilot, lambda: train.progress.state in ("finished", "failed"))
        if train.progress.state == "failed":
            raise SystemExit(f"the retrain failed: {train.progress.reason}")
        run = runs.latest_finished(workspace)
        assert run is not None and run.name != first_run
        gguf_written = run.adapter_gguf.stat().st_mtime
        adapter_saved = (run.adapter / "adapter_model.safetensors").stat().st_mtime

        await pilot.press("c")
        chat = app.get_screen("chat")
        loaded = await wait(
            pilot, lambda: chat.engine is not None and run.name in chat.engine.target.label
        )
        await pilot.click("#prompt")
        await pilot.press(*PROMPT, "enter")
        first_token = await wait(pilot, lambda: bool(chat.reply_so_far))
        await wait(pilot, lambda: not chat.generating)
    return {
        "seen by the watcher": seen - saved,
        "ingested": ingested - seen,
        "requests written": requests - ingested,
        "snapshot written": snapshot - requests,
        "training (child start to finish)": trained - snapshot,
        "of which adapter GGUF written": gguf_written - adapter_saved,
        "model loaded": loaded - trained,
        "first token": first_token - loaded,
        "total": first_token - saved,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="slmtui-retrain-bench-"))
    try:
        workspace, text = set_up(folder)
        stages = asyncio.run(retrain(workspace, text))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(stages))
        return 0
    print(f"{'stage':<36} {'seconds':>8}")
    for stage, seconds in stages.items():
        print(f"{stage:<36} {seconds:>8.1f}")
    verdict = "within" if stages["total"] <= TARGET_SECONDS else "over"
    print(f"save to first token: {stages['total']:.1f} s ({verdict} the {TARGET_SECONDS} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
