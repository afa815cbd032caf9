"""The one place a llama.cpp model is made: chat, prompt generation, scoring and verification.

Every caller wants the same things checked and the same defaults (a missing file named in the
error, a runtime LoRA that must exist, llama.cpp's console chatter off); they differ only in
context size, threads, seed and whether every position's logits are kept. llama_cpp is imported
here, on first use, so importing a module that can load a model costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCORING_CTX = 1024  # held-out passages are a few hundred tokens; longer ones are cut


def load_llama(
    model_path: Path,
    *,
    n_ctx: int,
    lora_path: Path | None = None,
    n_threads: int | None = None,
    seed: int | None = None,
    logits_all: bool = False,
    n_batch: int | None = None,
    verbose: bool = False,
    gpu_layers: int = 0,
) -> Any:
    """A `llama_cpp.Llama` for the GGUF at `model_path`, with the runtime LoRA at `lora_path`,
    `gpu_layers` of its layers on the GPU (`offloaded_layers` resolves the setting).

    Slow (seconds for a large model): call it from a worker thread or a child process.
    """
    from llama_cpp import Llama

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file not found: {model_path}")
    options: dict[str, Any] = {}
    if lora_path is not None:
        if not Path(lora_path).is_file():
            raise FileNotFoundError(f"adapter file not found: {lora_path}")
        options["lora_path"] = str(lora_path)
    if seed is not None:
        options["seed"] = seed
    if n_batch is not None:
        options["n_batch"] = n_batch
    return Llama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        logits_all=logits_all,
        verbose=verbose,
        n_gpu_layers=gpu_layers,
        **options,
    )


def offloaded_layers(setting: int, *, card_busy: bool = False) -> int:
    """The `n_gpu_layers` for `[chat] gpu_layers`: -1 (every layer) when this llama.cpp was
    built for a GPU and the setting says -1, none while training or export holds the card."""
    if card_busy:
        return 0
    if setting >= 0:
        return setting
    from llama_cpp import llama_supports_gpu_offload

    return -1 if llama_supports_gpu_offload() else 0


@contextmanager
def scoring_model(model_path: Path, lora_path: Path | None = None) -> Iterator[Any]:
    """The model loaded for scoring: every position's logits, batched on every core."""
    llm = load_llama(
        model_path,
        n_ctx=SCORING_CTX,
        n_batch=SCORING_CTX,
        logits_all=True,
        lora_path=lora_path,
        n_threads=os.cpu_count() or 1,  # scoring is batched: every core helps
    )
    try:
        yield llm
    finally:
        llm.close()


def chat_renderer(llm: Any):
    """A function rendering messages with the model's own chat template (from its GGUF), as
    llama.cpp's chat completion does: `render(messages, add_generation_prompt)` -> text."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("this model has no chat template")

    def text(token: int) -> str:
        return (
            llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""
        )

    eos, bos = text(llm.token_eos()), text(llm.token_bos())
    with_prompt = Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=True)
    without = Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=False)

    def render(messages: list[dict], add_generation_prompt: bool) -> str:
        formatter = with_prompt if add_generation_prompt else without
        return formatter(messages=messages).prompt

    return render
