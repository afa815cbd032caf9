"""Verify a GGUF before it is published: does llama.cpp run it the way the merged model runs?

Checks, each with a detail a person can read:
- load: llama.cpp loads the file and does not warn about an unknown pre-tokenizer (which would
  split text differently from training);
- tokens: llama.cpp tokenizes the probe texts exactly as the training tokenizer does;
- logits: next-token logits on the probes against the merged Hugging Face model in float32.
  F16/F32/BF16: max abs difference <= 0.15 (or, when the same weights run in float16 by torch
  land further than that from float32, 1.25 times that distance: a trained model whose
  activations run larger pays more for F16's rounding, and the file cannot do better than
  F16 itself) and the same top-1 token at every position (a token
  the reference scores within 0.05 of its best counts as the same: that is a tie). Only the
  F16 file is verified: it proves the converter. A quantization is a trade measured against
  it (slmtui.ml.quant_cost), since top-1 agreement flips at near-ties whatever the type;
- template: the GGUF's chat template renders a conversation as the training tokenizer does;
- eos: the GGUF's end-of-sequence token is the turn-end token and llama.cpp ends generation on
  it; and (for real models) a greedy chat reply stops there by itself.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

# About 400 positions: a top-1 agreement of 98% must mean something more than "one miss in 80".
PROBES = (
    "The kettle had gone cold again by the time I remembered it, and the light in the kitchen "
    "had moved from the table to the floor, the way it does in November when the afternoon "
    "gives up early and nobody has thought to put the lamp on.",
    "Dear Margaret, thank you for the letter and for the seeds. The beans came up in a week, "
    "which I put down to your good luck rather than my gardening, and the sweet peas are "
    "climbing the fence as if they had somewhere to be.",
    "Some mornings the river is louder than the traffic; today it was the other way round. I "
    "walked along the towpath anyway, past the boats with their chimneys smoking, and counted "
    "herons until I lost count somewhere after six.",
    "What I wanted to say at the meeting, and did not, was that a town is not its car parks. "
    "It is the people who stop to talk outside the baker's, and the bench by the war memorial "
    "where nobody sits because the council painted it in May.",
    "def mean(values):\n    if not values:\n        raise ValueError('no values')\n"
    "    return sum(values) / len(values)\n\nprint(mean([3, 4, 5]))",
    "Café au lait, naïve résumé, 東京 and 🙂: words travel further than the people who use "
    "them, and come back changed, like a coat lent to a cousin.",
    "Question: what is the best way to keep a notebook? Answer: keep it badly, keep it often, "
    "and never read it back until at least a year has gone by.",
    "It rained all through the night and into the morning. By ten the garden was a lake, the "
    "cat refused to go out, and I had read the same page of the same book four times.",
)
CONVERSATION = [
    {"role": "system", "content": "You write like the author."},
    {"role": "user", "content": "Write two sentences about the sea."},
    {"role": "assistant", "content": "It was grey. It was always grey."},
    {"role": "user", "content": "And the harbour?"},
]
FULL_PRECISION = ("F32", "F16", "BF16")
MAX_ABS_FULL = 0.15
# The file may land this many times as far from float32 as the same weights run in float16 by
# torch: a SmolLM2-135M trained 5 minutes at the quick preset's learning rate was 0.205 from
# float32 as F16 GGUF (top-1 the same at 365 of 365 positions) and 0.241 in torch's float16;
# the base was 0.10 and 0.20. A converter that swaps or mangles a tensor is off by whole units.
F16_MARGIN = 1.25
# Two tokens the reference scores this close (a probability ratio of 1.05) are a tie that F16
# rounding may break either way: F16 logits differ from float32 by up to 0.10 on SmolLM2-135M.
# A flip where no logit moved more than d is between tokens at most 2d apart; a tiny trained
# test model flipped one of 365 top-1 choices with d = 0.025, within this.
TIE = 0.05
PRE_TOKENIZER_WARNINGS = ("GENERATION QUALITY WILL BE DEGRADED", "missing pre-tokenizer")


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Verification:
    quant: str
    checks: list[Check] = field(default_factory=list)
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    tolerance: float | None = None  # the largest logit difference the file was allowed
    positions: int = 0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reason(self) -> str:
        """The first failed check, for the message that says why nothing was published."""
        failed = [check for check in self.checks if not check.passed]
        return f"{failed[0].name}: {failed[0].detail}" if failed else ""

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(passed), detail))

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "reason": self.reason}


def verify_gguf(
    gguf: Path,
    model,
    tokenizer,
    quant: str,
    *,
    chat_must_stop: bool = True,
    lora: Path | None = None,
) -> Verification:
    """Run every check of a GGUF against the merged model (float32, eval mode) and its tokenizer.

    `chat_must_stop` is off only for untrained test models, whose greedy replies never end.
    """
    from slmtui.chat.llama import load_llama

    result = Verification(quant=quant.upper())
    try:
        llm, log = _with_native_stderr(
            # On the CPU whatever [chat] gpu_layers says: the tolerance below is for the
            # CPU's arithmetic, against transformers on the CPU.
            lambda: load_llama(
                gguf,
                n_ctx=512,
                logits_all=True,
                verbose=True,
                seed=0,
                lora_path=lora,
                gpu_layers=0,
            )
        )
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        result.add("load", False, f"llama.cpp could not load the file ({exc})")
        return result
    warned = [w for w in PRE_TOKENIZER_WARNINGS if w in log]
    result.add(
        "load",
        not warned,
        f"llama.cpp warned: {warned[0]}" if warned else "loaded with a known pre-tokenizer",
    )
    try:
        _check_tokens_and_logits(result, llm, model, tokenizer)
        _check_template(result, llm, tokenizer)
        _check_eos(result, llm, tokenizer, chat_must_stop)
    finally:
        llm.close()
    return result


def f16_distance(model, probes: list[list[int]], references: list[np.ndarray]) -> float:
    """How far the same weights run in float16 by torch land from float32 on the probes: what
    rounding to F16 costs this model, the yardstick for a file that is F16."""
    half = copy.deepcopy(model).to(torch.float16)
    worst = 0.0
    try:
        for ids, reference in zip(probes, references, strict=True):
            with torch.no_grad():
                found = half(torch.tensor([ids])).logits[0].float().numpy()
            worst = max(worst, float(np.abs(found - reference).max()))
    finally:
        del half
    return worst


def _check_tokens_and_logits(result: Verification, llm, model, tokenizer) -> None:
    mismatched, worst, agree, positions = [], 0.0, 0, 0
    probes: list[list[int]] = []
    references: list[np.ndarray] = []
    for text in PROBES:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if list(theirs) != list(ids):
            mismatched.append(text)
            continue
        with torch.no_grad():
            reference = model(torch.tensor([ids])).logits[0].float().numpy()
        probes.append(ids)
        references.append(reference)
        llm.reset()
        llm.eval(ids)
        found = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
        worst = max(worst, float(np.abs(found - reference).max()))
        # A top-1 choice counts as the same when the reference itself rates it within TIE of its
        # own best: two tokens that close are a tie that F16 rounding may break either way.
        chosen = reference[np.arange(len(ids)), found.argmax(-1)]
        agree += int((chosen >= reference.max(-1) - TIE).sum())
        positions += len(ids)
    result.add(
        "tokens",
        not mismatched,
        f"llama.cpp splits {len(mismatched)} probe text(s) differently, e.g. {mismatched[0]!r}"
        if mismatched
        else f"{len(PROBES)} probe texts tokenized identically",
    )
    if not positions:
        return
    result.max_abs_diff, result.positions = worst, positions
    result.top1_agreement = agree / positions
    summary = (
        f"max abs logit difference {worst:.3f}, same top-1 token at {agree}/{positions} positions"
    )
    if result.quant in FULL_PRECISION:
        tolerance = MAX_ABS_FULL
        if worst > MAX_ABS_FULL:  # the yardstick costs a float16 copy: only when it matters
            yardstick = f16_distance(model, probes, references)
            tolerance = max(MAX_ABS_FULL, F16_MARGIN * yardstick)
            summary += f"; the same weights in torch's float16: {yardstick:.3f}"
        result.tolerance = tolerance
        passed = worst <= tolerance and agree == positions
        summary += f" (needs <= {tolerance:.3f} and all)"
    else:
        passed = True
        summary += " (reported only at this quantization)"
    result.add("logits", passed, summary)


def _check_template(result: Verification, llm, tokenizer) -> None:
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        result.add("template", False, "the GGUF carries no chat template")
        return
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    # Llama 3.x templates print today's date through strftime_now, as transformers and
    # llama-cpp-python provide it; without it they fall back to a fixed date, and never match.
    environment.globals["strftime_now"] = lambda format: datetime.now().strftime(format)
    rendered = environment.from_string(template).render(
        messages=CONVERSATION,
        add_generation_prompt=True,
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
    )
    expected = tokenizer.apply_chat_template(
        CONVERSATION, add_generation_prompt=True, tokenize=False
    )
    result.add(
        "template",
        rendered == expected,
        "the chat template renders as in training"
        if rendered == expected
        else "the GGUF's chat template renders a conversation differently from training",
    )


def _check_eos(result: Verification, llm, tokenizer, chat_must_stop: bool) -> None:
    import llama_cpp

    eos = llm.token_eos()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    is_end = bool(llama_cpp.llama_vocab_is_eog(vocab, eos))
    right = eos == tokenizer.eos_token_id and is_end
    result.add(
        "eos",
        right,
        f"end of turn is {tokenizer.eos_token!r} (id {eos})"
        if right
        else f"the GGUF's eos is id {eos}, training's turn end is {tokenizer.eos_token_id}",
    )
    if not chat_must_stop:
        return
    llm.reset()
    reply = llm.create_chat_completion(
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        temperature=0.0,
        max_tokens=200,
        seed=0,
    )
    reason = reply["choices"][0]["finish_reason"]
    result.add(
        "stops",
        reason == "stop",
        "a greedy chat reply ended at the turn-end token"
        if reason == "stop"
        else "a greedy chat reply ran to 200 tokens without ending",
    )


def _with_native_stderr(make):
    """Call `make()` while capturing what native code writes to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            value = make()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        return value, capture.read().decode("utf-8", errors="replace")
