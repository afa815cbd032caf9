"""Pacing what worker threads send to the screen, so the UI thread does a bounded amount of work.

A model can produce more pieces per second than a screen needs frames, and every update costs the
UI thread a Markdown append, a layout of the screen and a repaint (10-20 ms on the shared two-core
machine these numbers come from). While the UI thread works it holds the GIL that the decoding
thread needs between its calls into llama.cpp, and decoding lost about as much speed as the share
of time the UI spent drawing (6% at four updates a second there). So the worker sends text joined
per update, and `Pacer` spaces the updates by what they cost: drawing a reply takes at most a few
percent of the UI thread's time, and a faster machine gets more updates a second. Training events
are drawn at most a few times a second (`Throttle`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache

from markdown_it import MarkdownIt


@cache
def markdown_parser() -> MarkdownIt:
    """One parser for streamed replies (Markdown builds a new one per append otherwise).

    The same configuration as Textual's default; parsing keeps no state in the parser.
    """
    return MarkdownIt("gfm-like")


class Pacer:
    """How long a worker waits between updates, from what drawing the last ones cost the UI.

    The UI thread calls `drawn()` as it takes each update; its own CPU time since the previous
    call (time.thread_time counts the calling thread only) is what drawing the previous update
    cost, and the interval is set so that drawing uses at most `share` of the UI thread's time,
    within [fastest, slowest]. The worker thread reads `interval`.
    """

    def __init__(self, share: float = 0.03, fastest: float = 1 / 30, slowest: float = 0.5):
        self.share = share
        self.fastest = fastest
        self.slowest = slowest
        self.interval = fastest
        self.cost: float | None = None  # seconds of UI thread per update, smoothed
        self._cpu: float | None = None

    def drawn(self) -> None:
        now = time.thread_time()
        if self._cpu is not None:
            cost = now - self._cpu
            self.cost = cost if self.cost is None else 0.7 * self.cost + 0.3 * cost
            self.interval = min(self.slowest, max(self.fastest, self.cost / self.share))
        self._cpu = now


def per_frame(
    pieces: Iterable[str], interval: float | Callable[[], float], clock=time.monotonic
) -> Iterator[str]:
    """The pieces joined so that texts come out at least `interval` seconds apart.

    A piece that comes after a quiet spell goes out at once (slow models lose nothing); pieces
    that come faster are held until the interval has passed, and the rest goes out at the end.
    `interval` may be a function, asked before each text goes out (a Pacer's, say).
    """
    wait = interval if callable(interval) else lambda: interval
    held: list[str] = []
    sent = None
    for piece in pieces:
        held.append(piece)
        now = clock()
        if sent is None or now - sent >= wait():
            yield "".join(held)
            held.clear()
            sent = now
    if held:
        yield "".join(held)


class Throttle:
    """Says whether a redraw is due: at most once per `interval` seconds (the first at once)."""

    def __init__(self, interval: float, clock=time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = clock() - interval

    def due(self) -> bool:
        return self.clock() - self.last >= self.interval

    def wait(self) -> float:
        """Seconds until the next redraw may happen."""
        return max(0.0, self.interval - (self.clock() - self.last))

    def mark(self) -> None:
        self.last = self.clock()
