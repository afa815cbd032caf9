"""What a model writes for each held-out request, cached on disk.

Sampling is fixed (seeded per request), so a cached answer is the answer the model would give
again: the base model is generated once per held-out set and every later evaluation reuses it.
The cache key covers the model file(s), the held-out prompts and the sampling settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from slmtui.chat.engine import ChatEngine, ChatTarget, Sampling
from slmtui.eval.heldout import EvalPrompt
from slmtui.files import atomic_output, read_json_if_valid

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    min_tokens: int = 48  # the answer's budget follows the author's own continuation ...
    max_tokens: int = 160  # ... within these bounds
    seed: int = 0
    system_prompt: str = ""  # who the assistant is, as training said it (empty: none)
    # A chat reply may run to three times yours, within these bounds: room to finish (a cut
    # reply reads like no one), and a model that learned to stop where you stop does.
    min_reply_tokens: int = 32
    max_reply_tokens: int = 128
    gpu_layers: int = 0  # llama.cpp's n_gpu_layers: where the answers are computed


def file_key(path: Path | None) -> str:
    if path is None:
        return "-"
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def cache_path(
    cache: Path, target: ChatTarget, prompts: list[EvalPrompt], settings: GenerationSettings
) -> Path:
    digest = hashlib.sha256()
    # Where the answers were computed is not what was asked: a cached answer from the CPU
    # stands for the GPU's too (their arithmetic differs in the last bits only).
    key = repr(replace(settings, gpu_layers=0))
    for part in (file_key(target.model_path), file_key(target.lora_path), key):
        digest.update(part.encode() + b"\n")
    for prompt in prompts:
        digest.update(prompt.chunk_hash.encode() + b"\n")
    return cache / "eval" / f"generations-{digest.hexdigest()[:24]}.json"


def generate(
    target: ChatTarget,
    prompts: list[EvalPrompt],
    cache: Path,
    settings: GenerationSettings | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """One answer per prompt, from the cache when this model already answered these prompts."""
    settings = settings or GenerationSettings()
    path = cache_path(cache, target, prompts, settings)
    answers = (read_json_if_valid(path) or {}).get("answers")
    if isinstance(answers, list) and len(answers) == len(prompts):
        return [str(answer) for answer in answers]
    engine = ChatEngine(target, gpu_layers=settings.gpu_layers)
    answers: list[str] = []
    try:
        if progress is not None:
            progress(0, len(prompts))
        for index, prompt in enumerate(prompts):
            budget = round(1.2 * engine.count_tokens(prompt.reference))
            if prompt.kind == "reply":
                budget = max(settings.min_reply_tokens, min(settings.max_reply_tokens, 3 * budget))
            else:
                budget = max(settings.min_tokens, min(settings.max_tokens, budget))
            sampling = Sampling(
                temperature=settings.temperature,
                top_p=settings.top_p,
                repeat_penalty=settings.repeat_penalty,
                max_tokens=budget,
                seed=settings.seed + index,
            )
            answers.append(engine.reply(request_messages(prompt, settings), sampling))
            if progress is not None:
                progress(index + 1, len(prompts))
    finally:
        engine.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"model": target.label, "settings": asdict(settings), "answers": answers}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return answers


def request_messages(prompt: EvalPrompt, settings: GenerationSettings) -> list[dict]:
    """What a model is asked: a reply's conversation as it stands, or the system prompt (if
    any) and the request."""
    if prompt.messages:
        return [dict(message) for message in prompt.messages]
    request = {"role": "user", "content": prompt.request}
    if settings.system_prompt:
        return [{"role": "system", "content": settings.system_prompt}, request]
    return [request]
