"""A tiny randomly initialised llama for tests and benchmarks, built in code (no model hub).

It has SmolLM2's shape where the rest of the code cares (vocabulary, tied embeddings, rope base,
ChatML tokenizer), so training, merging, GGUF export and llama.cpp run the whole path on it in
seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from slmtui.export.source_info import write_source_info
from slmtui.ml.base import SMOLLM2_VOCAB, generation_config_for, gguf_tokenizer, read_gguf_info
from slmtui.tokenizer import bundled_gguf_path


def make_tiny_llama(
    folder: Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    seed: int = 0,
) -> Path:
    """Write a tiny randomly initialised llama with the real SmolLM2 tokenizer, for tests.

    It has SmolLM2's shape where the rest of the code cares (vocabulary, tied embeddings, rope
    base, ChatML tokenizer), so training, merging, GGUF export and llama.cpp can run the whole
    path on it in seconds on a CPU.
    """
    gguf = bundled_gguf_path()
    info = read_gguf_info(gguf)
    tokenizer = gguf_tokenizer(gguf, info)
    tokenizer.model_max_length = 2048
    config = LlamaConfig(
        vocab_size=SMOLLM2_VOCAB,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=info.bos_id,
        eos_token_id=info.eos_id,
        pad_token_id=info.pad_id,
    )
    # A private generator state, so that making the model does not change the caller's randomness.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = generation_config_for(info)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_source_info(folder, info.pre)
    return folder
