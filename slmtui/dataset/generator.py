"""A llama.cpp-backed text generator for the dataset builder (a `slmtui.dataset.build.Generator`).

`LlamaGenerator(path)` is a callable: prompt text in, the model's reply out, through the model's
own chat template. The model loads on the first call (llama_cpp is imported only then), so making
one costs nothing. Its `key` names the model file, the sampling settings and the prompt version,
which is what the builder's cache of generated prompts is keyed on.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from slmtui.chat.llama import load_llama
from slmtui.dataset.kinds import PROMPT_VERSION
from slmtui.tokenizer import DEFAULT_BASE, bundled_gguf_path

# Bytes read from each end of the model file for its fingerprint: the GGUF header, metadata and
# the first and last tensors. Hashing a multi-gigabyte file whole would take seconds.
_FINGERPRINT_BYTES = 4 * 1024 * 1024


def file_fingerprint(path: Path) -> str:
    """A content fingerprint of a model file: its size and the hash of its first and last bytes."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            handle.seek(size - _FINGERPRINT_BYTES)
            digest.update(handle.read(_FINGERPRINT_BYTES))
        else:
            digest.update(handle.read())
    return digest.hexdigest()[:16]


class LlamaGenerator:
    """Generate replies with a GGUF model through llama-cpp-python, greedy by default."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 2048,
        max_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        repeat_penalty: float = 1.1,
        n_threads: int | None = None,
    ):
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        # A light penalty keeps SmolLM2-135M from looping (70% of its requests pass the filter
        # with it, 55% without, on the samples).
        self.repeat_penalty = repeat_penalty
        self.n_threads = n_threads
        self._llm: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """Identifies what this generator writes: model file, sampling settings, prompt version."""
        if self._fingerprint is None:
            self._fingerprint = file_fingerprint(self.model_path)
        return (
            f"llama:{self._fingerprint}:t{self.temperature:g}:r{self.repeat_penalty:g}"
            f":m{self.max_tokens}:s{self.seed}:p{PROMPT_VERSION}"
        )

    def _load(self) -> Any:
        if self._llm is None:
            self._llm = load_llama(
                self.model_path, n_ctx=self.n_ctx, seed=self.seed, n_threads=self.n_threads
            )
        return self._llm

    def __call__(self, prompt: str) -> str:
        """The model's reply to one user message; empty when the prompt does not fit n_ctx."""
        return self._reply(prompt, self.temperature, self.seed)

    def sample(self, prompt: str, *, seed: int, temperature: float = 0.8) -> str:
        """Another reply to the same prompt, sampled: a person asked for a new request."""
        return self._reply(prompt, temperature, seed)

    def _reply(self, prompt: str, temperature: float, seed: int) -> str:
        with self._lock:
            llm = self._load()
            try:
                response = llm.create_chat_completion(
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=self.max_tokens,
                    temperature=temperature,
                    repeat_penalty=self.repeat_penalty,
                    seed=seed,
                )
            except ValueError as exc:
                if "context window" in str(exc):
                    return ""  # the builder's filter rejects it; the chunk falls back
                raise
        return (response["choices"][0]["message"].get("content") or "").strip()

    def close(self) -> None:
        """Free the model; the next call loads it again."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def __enter__(self) -> LlamaGenerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generator_for(base: str) -> LlamaGenerator | None:
    """The base model as the writer of chat-pair requests, when it is a GGUF llama.cpp can run.

    Making one loads nothing; the CLI, the app and the request writer all use this, so
    they share one cache key and so one set of cached requests.
    """
    if base == DEFAULT_BASE:
        return LlamaGenerator(bundled_gguf_path())
    if base.endswith(".gguf") and Path(base).is_file():
        return LlamaGenerator(Path(base))
    return None
