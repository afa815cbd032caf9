"""What a quantization costs: a quantized GGUF measured against the F16 GGUF it was made from.

The F16 file is proven right by verification (slmtui.ml.verify); a smaller file is then a trade,
not a bug, so it is judged by what it loses on the author's held-out writing rather than by top-1
agreement, which flips at near-ties whatever the quantization:

- perplexity change: the held-out text scored by both files exactly as training scores it;
- mean KL divergence of the next-token distributions (F16 || quantized), in nats per token;
- top-1 agreement: the share of positions where both files would pick the same next token.

A quantization is published when its perplexity change is within the budget set for its type
in `[export]` (slmtui.config.ExportConfig); the figures go into the model card either way.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from slmtui.chat.llama import SCORING_CTX, scoring_model
from slmtui.config import budget_key

# Enough positions that the figures are stable (the spread of the perplexity change between
# halves of this many tokens is under 0.2 points on the samples), few enough to take seconds.
MAX_TOKENS = 6000


@dataclass(frozen=True)
class QuantCost:
    """One quantization's cost against F16 on the same tokens."""

    quant: str
    ppl_f16: float
    ppl: float
    kl: float  # mean KL(F16 || quantized) per position, nats
    top1: float  # share of positions with the same most likely next token
    tokens: int  # positions scored
    texts: int

    @property
    def ppl_change(self) -> float:
        """Relative perplexity change in percent (+1.0 means 1% worse than F16)."""
        return 100.0 * (self.ppl / self.ppl_f16 - 1.0)

    def summary(self) -> str:
        """'ppl +0.42%, KL 0.0031, top-1 97.8% on 5,120 tokens'."""
        return (
            f"ppl {self.ppl_change:+.2f}%, KL {self.kl:.4f}, top-1 {self.top1:.1%} on "
            f"{self.tokens:,} tokens"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "ppl_change": round(self.ppl_change, 4)}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """In float32: float64 would double the time of a measurement for digits nobody reads."""
    rows = logits - logits.max(axis=1, keepdims=True)
    rows -= np.log(np.exp(rows).sum(axis=1, keepdims=True))
    return rows


def compare_logits(reference: np.ndarray, other: np.ndarray, tokens: list[int]) -> dict:
    """Summed loss of `other`, summed KL(reference || other) and top-1 matches over the
    positions that predict tokens[1:]; `reference` is already a log-softmax."""
    n = len(tokens) - 1
    ref, oth = reference[:n], log_softmax(other[:n])
    rows, targets = np.arange(n), np.asarray(tokens[1:])
    return {
        "loss": float(-oth[rows, targets].astype(np.float64).sum()),
        "kl": float((np.exp(ref) * (ref - oth)).sum(dtype=np.float64)),
        "top1": int((ref.argmax(-1) == oth.argmax(-1)).sum()),
    }


def measure_costs(
    f16: Path, quantized: dict[str, Path], texts: list[str], *, max_tokens: int = MAX_TOKENS
) -> dict[str, QuantCost]:
    """Score `texts` (each on its own, EOS appended, cut to the context) with F16 and with every
    quantized file in one pass, so the F16 reference is computed once."""
    loss_f16, positions, used = 0.0, 0, 0
    sums = {quant: {"loss": 0.0, "kl": 0.0, "top1": 0} for quant in quantized}
    with ExitStack() as stack:
        reference = stack.enter_context(scoring_model(f16))
        others = {q: stack.enter_context(scoring_model(p)) for q, p in quantized.items()}
        eos = reference.token_eos()
        for text in texts:
            if positions >= max_tokens:
                break
            tokens = [*reference.tokenize(text.encode("utf-8"), add_bos=False), eos][:SCORING_CTX]
            if len(tokens) < 2:
                continue
            ref = log_softmax(_logits(reference, tokens))
            n = len(tokens) - 1
            loss_f16 += float(-ref[np.arange(n), tokens[1:]].astype(np.float64).sum())
            for quant, llm in others.items():
                for key, value in compare_logits(ref, _logits(llm, tokens), tokens).items():
                    sums[quant][key] += value
            positions += n
            used += 1
    if positions == 0:
        raise ValueError("no text long enough to measure a quantization on")
    return {
        quant: QuantCost(
            quant=quant,
            ppl_f16=math.exp(loss_f16 / positions),
            ppl=math.exp(total["loss"] / positions),
            kl=total["kl"] / positions,
            top1=total["top1"] / positions,
            tokens=positions,
            texts=used,
        )
        for quant, total in sums.items()
    }


def _logits(llm, tokens: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    return np.asarray(llm.scores[: len(tokens)], dtype=np.float32)


def within_budget(cost: QuantCost, budget: float | None) -> bool:
    """A type without a budget is always published; otherwise the perplexity change decides."""
    return budget is None or cost.ppl_change <= budget


def refusal(cost: QuantCost, budget: float) -> str:
    """Why a quantization was not published, with the cost, the budget and what to do."""
    key = budget_key(cost.quant)
    return (
        f"{cost.quant} costs {cost.summary()} against F16, past its budget of "
        f"{budget:+.1f}% perplexity; choose a larger type or raise [export] {key}"
    )
