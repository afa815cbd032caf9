"""Waiting on an app under Pilot without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll the condition between frames; generous timeout because the machine may be busy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
