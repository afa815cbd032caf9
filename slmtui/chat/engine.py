"""Chat with a GGUF model (optionally plus a runtime LoRA) through llama-cpp-python.

One `ChatEngine` per loaded model. `stream()` yields the reply piece by piece so the terminal (or
the app's worker thread) can show it as it comes, and stops early when the caller sets the stop
event (Esc in the app, Ctrl-C in the terminal). Conversations longer than the context window lose
their oldest turns first; the system prompt always stays, and the caller learns how many turns
were dropped so it can say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmtui.chat.llama import load_llama
from slmtui.chat.speakers import others_in, speaker_stops, without_leading_speaker


@dataclass(frozen=True)
class ChatTarget:
    """What to load: a GGUF, and a LoRA GGUF to apply on top of it at load time (or none)."""

    label: str  # for people: "v3", "base", "run-20261125-101500 (adapter)"
    model_path: Path
    lora_path: Path | None = None


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 256
    repeat_penalty: float = 1.1
    seed: int = -1  # -1: a different seed each reply
    # Names the reply must not speak in (chat/speakers.py); None: those of the conversation.
    others: tuple[str, ...] | None = None


@dataclass
class ReplyStats:
    """How the last reply went: tokens, speed, why it ended, turns dropped to fit the context."""

    tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = ""
    dropped_turns: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ChatEngine:
    target: ChatTarget
    n_ctx: int = 2048
    n_threads: int | None = None
    gpu_layers: int = 0  # llama.cpp's n_gpu_layers (chat/llama.py: offloaded_layers)
    last: ReplyStats = field(default_factory=ReplyStats)
    _llm: Any = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model (seconds for a large one): call it from a worker, not the UI thread."""
        with self._lock:
            if self._llm is not None:
                return
            self._llm = load_llama(
                self.target.model_path,
                n_ctx=self.n_ctx,
                lora_path=self.target.lora_path,
                n_threads=self.n_threads,
                gpu_layers=self.gpu_layers,
            )

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def fit(self, messages: list[dict], max_tokens: int) -> tuple[list[dict], int]:
        """The messages that fit the context with room for the reply, and how many were dropped.

        Whole turns go, oldest first; a system message stays; the newest message always stays.
        """
        budget = self.n_ctx - max_tokens - 16  # the template's own tokens, roughly
        system = [m for m in messages[:1] if m["role"] == "system"]
        rest = messages[len(system) :]
        used = sum(self.count_tokens(m["content"]) + 8 for m in system)
        kept: list[dict] = []
        for message in reversed(rest):
            cost = self.count_tokens(message["content"]) + 8
            if kept and used + cost > budget:
                break
            kept.insert(0, message)
            used += cost
        return system + kept, len(rest) - len(kept)

    def stream(
        self,
        messages: list[dict],
        sampling: Sampling = Sampling(),
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """The reply to `messages`, piece by piece; `self.last` holds its stats afterwards."""
        self.load()
        fitted, dropped = self.fit(messages, sampling.max_tokens)
        self.last = ReplyStats(dropped_turns=dropped)
        others = others_in(messages) if sampling.others is None else sampling.others
        started = time.perf_counter()
        with self._lock:
            pieces = self._llm.create_chat_completion(
                messages=fitted,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                repeat_penalty=sampling.repeat_penalty,
                seed=sampling.seed if sampling.seed >= 0 else time.time_ns() % 2**31,
                stop=speaker_stops(others) or None,
                stream=True,
            )
            # The opening is held back until it cannot be someone else's `name: ` any more.
            opening, held = "", bool(others)
            longest = max((len(name) for name in others), default=0) + 3
            try:
                for piece in pieces:
                    choice = piece["choices"][0]
                    text = choice["delta"].get("content") or ""
                    if choice.get("finish_reason"):
                        self.last.finish_reason = choice["finish_reason"]
                    if text:
                        self.last.tokens += 1
                    if held and text:
                        opening += text
                        if len(opening) < longest and "\n" not in opening:
                            continue
                        text, held = without_leading_speaker(opening, others), False
                    if text:
                        yield text
                    if stop is not None and stop.is_set():
                        self.last.finish_reason = "stopped"
                        break
                if held and opening:
                    yield without_leading_speaker(opening, others)
            finally:
                pieces.close()
                self.last.seconds = time.perf_counter() - started

    def reply(self, messages: list[dict], sampling: Sampling = Sampling()) -> str:
        return "".join(self.stream(messages, sampling))

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
