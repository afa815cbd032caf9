"""Helpers for the export tests: tiny random models with real tokenizers, and logit comparison.

A freshly initialised tiny model has nearly flat logits, so any GGUF would "agree" with it. The
models here get weights with a wide spread (and norm weights away from 1), so that a wrong row
order, a missing bias or a swapped norm moves the logits by whole units, far above the tolerance.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

# llama.cpp's GGML_TYPE_F32: a float32 KV cache, so that F32 weights compare to 1e-5.
GGML_F32 = 0
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
PROBES = (
    "The quick brown fox jumps over the lazy dog, 1234 times.",
    "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "def square(x):\n    return x ** 2  # café, naïve, 東京, 🙂",
)


@dataclass(frozen=True)
class Parity:
    """How far llama.cpp's logits are from the Hugging Face model's, over every probe position."""

    max_abs: float
    argmax_agree: int
    positions: int
    spread: float  # standard deviation of the reference logits, for scale


def randomize(
    folder: Path, *, seed: int = 1, std: float = 0.15, embed_std: float | None = None
) -> Path:
    """Give a saved model wide random weights (norms in [0.5, 1.5]) and save it again."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1 and "norm" in name:
                param.copy_(0.5 + torch.rand(param.shape, generator=generator))
            else:
                scale = embed_std if embed_std is not None and "embed" in name else std
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    model.save_pretrained(folder)
    return folder


def copy_tokenizer(source: Path, folder: Path) -> None:
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)


def load_hf(folder: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


@functools.lru_cache(maxsize=16)
def hf_tokenizer(folder: Path):
    return AutoTokenizer.from_pretrained(folder)


def hf_ids(folder: Path, text: str) -> list[int]:
    return hf_tokenizer(Path(folder)).encode(text, add_special_tokens=False)


def hf_logits(model: PreTrainedModel, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def open_llama(path: Path, lora: Path | None = None, n_ctx: int = 512):
    import llama_cpp

    extra = {"lora_path": str(lora)} if lora is not None else {}
    return llama_cpp.Llama(
        model_path=str(path),
        logits_all=True,
        n_ctx=n_ctx,
        type_k=GGML_F32,
        type_v=GGML_F32,
        verbose=False,
        **extra,
    )


def gguf_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def parity(model: PreTrainedModel, llm, folder: Path, texts=PROBES) -> Parity:
    """Compare logits at every position of every text; tokenizations must match first."""
    worst, agree, positions, spreads = 0.0, 0, 0, []
    for text in texts:
        ids = hf_ids(folder, text)
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids, text
        want, got = hf_logits(model, ids), gguf_logits(llm, ids)
        worst = max(worst, float(np.abs(want - got).max()))
        agree += int((want.argmax(-1) == got.argmax(-1)).sum())
        positions += len(ids)
        spreads.append(float(want.std()))
    return Parity(worst, agree, positions, float(np.mean(spreads)))
