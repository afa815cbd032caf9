"""Perplexity of a GGUF model (optionally with a runtime LoRA) on the author's held-out text.

Scored the way training scores its validation split: each passage on its own, no BOS, the
end-of-text token appended, every token after the first predicted from the ones before it. So
the number is comparable with the base and adapter perplexities a training run reports, and it
measures the file the user will actually chat with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slmtui.chat.llama import SCORING_CTX, chat_renderer, scoring_model

N_CTX = SCORING_CTX  # longer held-out chunks are scored on their start


@dataclass(frozen=True)
class Perplexity:
    loss: float  # mean negative log-likelihood per token, in nats
    tokens: int  # tokens scored
    # (summed loss, tokens) per held-out passage, in order: what the intervals resample
    per_text: list[tuple[float, int]] = field(default_factory=list)

    @property
    def ppl(self) -> float:
        return math.exp(self.loss)


def token_losses(logits: np.ndarray, tokens: list[int]) -> np.ndarray:
    """Negative log-likelihood of tokens[1:] given logits[:-1] (one row per position)."""
    rows = np.asarray(logits[: len(tokens) - 1], dtype=np.float32)
    peak = rows.max(axis=1, keepdims=True)
    # The exponentials in float32 (half the memory traffic of float64 over 49,152 columns), their
    # sums and logarithms in float64.
    log_norm = peak[:, 0].astype(np.float64) + np.log(
        np.exp(rows - peak).sum(axis=1, dtype=np.float64)
    )
    chosen = rows[np.arange(len(tokens) - 1), tokens[1:]].astype(np.float64)
    return log_norm - chosen


def score(llm: Any, tokens: list[int], last: int | None = None) -> tuple[float, int]:
    """(summed loss, tokens scored) of a token sequence; only the `last` tokens if given (a
    reply after its request: the request's rows are never normalized, most of the work)."""
    llm.reset()
    llm.eval(tokens)
    first = 0 if last is None else max(0, len(tokens) - 1 - last)
    losses = token_losses(np.asarray(llm.scores[first : len(tokens)]), tokens[first:])
    return float(losses.sum()), len(losses)


def total(per_text: list[tuple[float, int]], what: str) -> Perplexity:
    count = sum(tokens for _, tokens in per_text)
    if count == 0:
        raise ValueError(f"no held-out {what} long enough to score")
    return Perplexity(sum(loss for loss, _ in per_text) / count, count, per_text)


def perplexity(model_path: Path, texts: list[str], lora_path: Path | None = None) -> Perplexity:
    """Mean loss over every scored token of every text (long texts weigh more, as in training)."""
    per_text: list[tuple[float, int]] = []
    with scoring_model(model_path, lora_path) as llm:
        eos = llm.token_eos()
        for text in texts:
            tokens = [*llm.tokenize(text.encode("utf-8"), add_bos=False, special=False), eos]
            tokens = tokens[:N_CTX]
            if len(tokens) >= 2:
                per_text.append(score(llm, tokens))
    return total(per_text, "text")


def reply_perplexity(
    model_path: Path,
    conversations: list[list[dict]],
    lora_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Perplexity:
    """Perplexity on your replies: each conversation rendered with the model's chat template,
    only the last (assistant) message scored, up to and including its turn-end token, as
    training scores a dialogue example. A conversation longer than the context keeps its end."""
    per_text: list[tuple[float, int]] = []
    with scoring_model(model_path, lora_path) as llm:
        render = chat_renderer(llm)
        eos = llm.token_eos()
        for done, messages in enumerate(conversations):
            if progress is not None:
                progress(done, len(conversations))
            prompt = render(messages[:-1], True)
            full = render(messages, False)
            if not full.startswith(prompt):
                continue
            head = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            reply = llm.tokenize(full[len(prompt) :].encode("utf-8"), add_bos=False, special=True)
            if eos in reply:
                reply = reply[: reply.index(eos) + 1]
            tokens = (head + reply)[-N_CTX:]
            last = min(len(reply), len(tokens) - 1)
            if last >= 1:
                per_text.append(score(llm, tokens, last))
    if progress is not None:
        progress(len(conversations), len(conversations))
    return total(per_text, "reply")
