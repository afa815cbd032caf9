"""How responsive the app stays, measured against named baselines in one run.

1. Key press to screen update (p50/p95) while a real training child runs on a tiny model,
   against the same key presses with nothing running.
2. Chat decode speed inside the app (thread worker, messages, Markdown streaming) against raw
   llama-cpp-python on the same GGUF with the same settings.

Prints the numbers and their ratios; nothing is asserted.
Run: .venv/bin/python benchmarks/ui_bench.py
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slmtui.chat.engine import ChatEngine, ChatTarget, Sampling  # noqa: E402
from slmtui.core.conversations import ChatSettings, Conversations, chat_db_path  # noqa: E402
from slmtui.core.tokenizer import bundled_gguf_path  # noqa: E402
from slmtui.tui.app import create_app  # noqa: E402
from slmtui.workspace import Workspace  # noqa: E402

PRESSES = 60
REPEATS = 3  # timed chat replies per variant, after one warm-up; the median is reported
PROMPT = "Write a short paragraph about a heron standing in a river at dawn."
SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=128, seed=0)


async def wait_for(pilot, condition, timeout: float = 600.0) -> None:
    """Poll every frame (no fixed sleep, so the poll interval does not count as latency)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await pilot.pause()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def key_latencies(pilot, app) -> list[float]:
    """Seconds from a screen key to the new screen being the one shown and refreshed."""
    seconds = []
    for i in range(PRESSES):
        key, name = (("m", "models"), ("t", "train"))[i % 2]
        started = time.perf_counter()
        await pilot.press(key)
        await wait_for(pilot, lambda n=name: app.screen is app.get_screen(n))
        await pilot.pause()
        seconds.append(time.perf_counter() - started)
    return seconds


def tiny_workspace(root: Path) -> Workspace:
    from slmtui.ml.base import make_tiny_llama  # the benchmark, not the app, uses torch

    base = make_tiny_llama(root / "tiny-base")
    workspace = Workspace.init(root / "ws")
    shutil.copytree(ROOT / "samples" / "essays", workspace.writing / "essays")
    text = workspace.config_path.read_text().replace('base = "default"', f'base = "{base}"')
    workspace.config_path.write_text(text.replace("max_steps = 0", "max_steps = 100000"))
    return workspace


async def bench_keys(workspace: Workspace) -> tuple[list[float], list[float]]:
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        idle = await key_latencies(pilot, app)
        await pilot.press("t")
        train = app.get_screen("train")
        await pilot.press("s")
        await wait_for(pilot, lambda: len(train.progress.steps) >= 2)
        busy = await key_latencies(pilot, app)
        await pilot.press("t", "x")
        await wait_for(pilot, lambda: train.process is None)
    return idle, busy


async def bench_app_chat(workspace: Workspace) -> float:
    with Conversations(chat_db_path(workspace.state)) as store:
        store.create(
            settings=ChatSettings(temperature=0.0, top_p=1.0, max_tokens=SAMPLING.max_tokens)
        )
    app = create_app(workspace, watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        chat = app.get_screen("chat")
        await wait_for(pilot, lambda: chat.engine is not None)
        speeds = []
        for _ in range(REPEATS + 1):
            chat.query_one("#prompt").value = PROMPT
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(chat.conversation.turns) == 2 and not chat.generating)
            speeds.append(chat.engine.last.tokens_per_second)
            await pilot.press("ctrl+n")  # the same single-turn prompt every time
        return statistics.median(speeds[1:])


def bench_raw_chat() -> float:
    """llama-cpp-python directly, streaming, same model, prompt and sampling."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(bundled_gguf_path()), n_ctx=2048, verbose=False)
    messages = [{"role": "system", "content": ChatSettings().system_prompt}]
    messages.append({"role": "user", "content": PROMPT})
    speeds = []
    for _ in range(REPEATS + 1):  # the first run warms up and is not counted
        started = time.perf_counter()
        tokens = 0
        for piece in llm.create_chat_completion(
            messages=messages, temperature=0.0, top_p=1.0, max_tokens=SAMPLING.max_tokens,
            repeat_penalty=SAMPLING.repeat_penalty, seed=0, stream=True,
        ):  # fmt: skip
            if piece["choices"][0]["delta"].get("content"):
                tokens += 1
        speeds.append(tokens / (time.perf_counter() - started))
    llm.close()
    return statistics.median(speeds[1:])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        workspace = tiny_workspace(root)
        idle, busy = asyncio.run(bench_keys(workspace))
        print(f"key to screen, idle:            p50 {1000 * statistics.median(idle):6.1f} ms"
              f"  p95 {1000 * percentile(idle, 0.95):6.1f} ms")  # fmt: skip
        print(f"key to screen, while training: p50 {1000 * statistics.median(busy):6.1f} ms"
              f"  p95 {1000 * percentile(busy, 0.95):6.1f} ms")  # fmt: skip
        print(f"  p95 ratio training/idle: {percentile(busy, 0.95) / percentile(idle, 0.95):.2f}")

        chat_workspace = Workspace.init(root / "chat-ws")
        raw = bench_raw_chat()
        in_app = asyncio.run(bench_app_chat(chat_workspace))
        engine = ChatEngine(ChatTarget("base", bundled_gguf_path()))
        engine.load()
        messages = [{"role": "system", "content": ChatSettings().system_prompt}]
        messages.append({"role": "user", "content": PROMPT})
        speeds = []
        for _ in range(REPEATS + 1):
            engine.reply(messages, SAMPLING)
            speeds.append(engine.last.tokens_per_second)
        direct = statistics.median(speeds[1:])
        engine.close()
        print(f"chat decode, raw llama-cpp-python: {raw:7.1f} tok/s")
        print(f"chat decode, ChatEngine alone:     {direct:7.1f} tok/s ({direct / raw:.2f}x raw)")
        print(f"chat decode, in the app:           {in_app:7.1f} tok/s ({in_app / raw:.2f}x raw)")


if __name__ == "__main__":
    main()
