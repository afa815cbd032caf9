"""Fixtures for the export tests: tiny random models of each family slmtui writes as GGUF.

Each is made once per session. They share SmolLM2's real tokenizer (from the bundled GGUF via
make_tiny_llama), except the SentencePiece-style one, whose small tokenizer is trained here on
the samples corpus the way TinyLlama's is laid out (`▁` spaces, `<0xNN>` byte fallback).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from gguf_parity import copy_tokenizer, randomize
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from slmtui.export.gguf_convert import convert_to_gguf
from tests.tiny_models import make_tiny_llama, sentencepiece_style_tokenizer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SMOLLM2_VOCAB = 49152
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SMALL = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
}


def _use_qwen2_splitter(folder: Path) -> None:
    """Give tokenizer.json Qwen2's pre-tokenizer (regex split, NFC), as Qwen models ship it.

    transformers loads qwen2 folders with Qwen2's splitter whatever tokenizer.json says, and
    Qwen3 folders with tokenizer.json's: with this both mean the same, as in the real models.
    """
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "NFC"}
    data["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": QWEN2_SPLIT},
                "behavior": "Isolated",
                "invert": False,
            },
            {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": False,
                "use_regex": False,
            },
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _save(model_cls, config, folder: Path, tokenizer_from: Path | None) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = model_cls(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if tokenizer_from is not None:
        copy_tokenizer(tokenizer_from, folder)
        shutil.copy(tokenizer_from / "generation_config.json", folder / "generation_config.json")
    return randomize(folder)


@pytest.fixture(scope="session")
def smollm2_tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """make_tiny_llama's folder as it is: the real SmolLM2 tokenizer and default weights."""
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-plain") / "model")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's shape in miniature (tied embeddings, GQA), with wide random weights."""
    return randomize(make_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model"))


@pytest.fixture(scope="session")
def tiny_llama_f32(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_to_gguf(
        tiny_llama, tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf", outtype="f32"
    ).path


@pytest.fixture(scope="session")
def tiny_llama3(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_folder: Path) -> Path:
    """Llama 3.x's extras: llama3 rope scaling, untied output, and (as some fine-tunes have)
    attention biases. The scaling's original context is tiny so that short probes feel it."""
    config = LlamaConfig(
        vocab_size=SMOLLM2_VOCAB,
        **SMALL,
        attention_bias=True,
        tie_word_embeddings=False,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    folder = tmp_path_factory.mktemp("tiny-llama3") / "model"
    return _save(LlamaForCausalLM, config, folder, smollm2_tokenizer_folder)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_folder: Path) -> Path:
    """Qwen2 in miniature (q/k/v biases) with SmolLM2's vocabulary and Qwen2's splitter."""
    config = Qwen2Config(
        vocab_size=SMOLLM2_VOCAB,
        **SMALL,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    folder = tmp_path_factory.mktemp("tiny-qwen2") / "model"
    _save(Qwen2ForCausalLM, config, folder, smollm2_tokenizer_folder)
    _use_qwen2_splitter(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_folder: Path) -> Path:
    """Qwen3 in miniature: q/k norms and a head size (32) that is not hidden/heads (16)."""
    config = Qwen3Config(
        vocab_size=SMOLLM2_VOCAB,
        **SMALL,
        head_dim=32,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    folder = tmp_path_factory.mktemp("tiny-qwen3") / "model"
    _save(Qwen3ForCausalLM, config, folder, smollm2_tokenizer_folder)
    _use_qwen2_splitter(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sentencepiece(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TinyLlama-style model: SentencePiece-like BPE tokenizer, BOS added, untied output."""
    folder = tmp_path_factory.mktemp("tiny-spm") / "model"
    folder.mkdir()
    tokenizer = sentencepiece_style_tokenizer()
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        **{**SMALL, "num_key_value_heads": 4},
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=1,
        eos_token_id=2,
    )
    return _save(LlamaForCausalLM, config, folder, None)


def _real_vocab_model(model_cls, config, family, folder: Path) -> Path:
    """A tiny random model of a family, with the family's real vocabulary (real_vocab.py)."""
    from real_vocab import write_tokenizer

    folder.mkdir(parents=True)
    vocab = write_tokenizer(family, folder)
    assert vocab == config.vocab_size
    return _save(model_cls, config, folder, None)


def _qwen_real_vocab(tmp_path_factory, config_cls, model_cls, name: str, **extra) -> Path:
    from real_vocab import QWEN2

    config = config_cls(
        vocab_size=151936,
        **{**SMALL, **extra},
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=151643,
        eos_token_id=151645,
    )
    folder = tmp_path_factory.mktemp(name) / "model"
    return _real_vocab_model(model_cls, config, QWEN2, folder)


@pytest.fixture(scope="session")
def qwen25_real_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Qwen2.5-0.5B-Instruct's configuration in miniature (GQA, q/k/v biases, tied output)."""
    return _qwen_real_vocab(
        tmp_path_factory, Qwen2Config, Qwen2ForCausalLM, "qwen25", max_position_embeddings=32768
    )


@pytest.fixture(scope="session")
def qwen3_real_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Qwen3-0.6B's configuration in miniature: q/k norms, head size 32 != hidden / heads."""
    return _qwen_real_vocab(
        tmp_path_factory,
        Qwen3Config,
        Qwen3ForCausalLM,
        "qwen3",
        max_position_embeddings=40960,
        head_dim=32,
    )


@pytest.fixture(scope="session")
def llama32_real_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Llama 3.2-1B-Instruct's configuration in miniature: llama3 rope scaling (factor 32, theta
    500000, original context 8192), tied output, Llama 3's vocabulary and header template."""
    from real_vocab import LLAMA3

    config = LlamaConfig(
        vocab_size=128256,
        **{**SMALL, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5},
        tie_word_embeddings=True,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        bos_token_id=128000,
        eos_token_id=[128001, 128008, 128009],
    )
    folder = tmp_path_factory.mktemp("llama32-vocab") / "model"
    return _real_vocab_model(LlamaForCausalLM, config, LLAMA3, folder)
