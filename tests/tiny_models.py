"""Tiny randomly initialised models for tests and benchmarks, built in code (no model hub).

The llama has SmolLM2's shape where the rest of the code cares (vocabulary, tied embeddings, rope
base, ChatML tokenizer), so training, merging, GGUF export and llama.cpp run the whole path on it
in seconds on a CPU. The Gemma 3 one has Gemma 3's parts (sliding-window and global layers, q/k
norms, four norms a block, scaled embeddings, <start_of_turn> chat) with a small SentencePiece-
style tokenizer trained here, since Gemma's own is under Gemma's terms.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors, trainers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from slmtui.export.source_info import write_source_info
from slmtui.ml.base import SMOLLM2_VOCAB, generation_config_for, gguf_tokenizer, read_gguf_info
from slmtui.tokenizer import bundled_gguf_path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# Our own minimal Gemma-style chat template: a system message opens the first user turn.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\\n\\n' %}{% else %}"
    "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\\n' }}"
    "{% if m['role'] == 'user' %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ m['content'] + '<end_of_turn>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


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


def sentencepiece_style_tokenizer(
    vocab_size: int = 600, extra_special: tuple[str, ...] = ()
) -> PreTrainedTokenizerFast:
    """BPE over `▁`-joined text with byte fallback, laid out like TinyLlama's tokenizer.json:
    <unk> <s> </s>, then the 256 byte tokens, then the learned pieces."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.rglob("*.txt"))]
    spaces = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    learner = Tokenizer(models.BPE())
    learner.normalizer = spaces
    learner.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False)
    )
    learned = json.loads(learner.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"<0x{i:02X}>": 3 + i for i in range(256)}
    for token, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    core = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    core.normalizer = spaces
    core.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    core.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t in ("<unk>", "<s>", "</s>", *extra_special)
        ]
    )
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )


def make_tiny_gemma3(folder: Path, *, window: int = 8, seed: int = 0) -> Path:
    """A tiny Gemma 3 text model: a sliding layer (window `window`) then a global one, each with
    its own rope base, head size 32 (not hidden / heads), one KV head, tied embeddings."""
    tokenizer = sentencepiece_style_tokenizer(
        extra_special=("<pad>", "<start_of_turn>", "<end_of_turn>")
    )
    tokenizer.pad_token = "<pad>"
    tokenizer.eos_token = "<end_of_turn>"  # the turn end is where generation stops
    tokenizer.chat_template = GEMMA_TEMPLATE
    tokenizer.model_max_length = 2048
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
        query_pre_attn_scalar=32,
        sliding_window=window,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=2048,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
        },
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=ids("<s>"),
        eos_token_id=ids("<end_of_turn>"),
        pad_token_id=ids("<pad>"),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Gemma3ForCausalLM(config)
        with torch.no_grad():  # norms away from zero, as trained Gemma norms are
            for name, parameter in model.named_parameters():
                if parameter.ndim == 1 and "norm" in name:
                    parameter.uniform_(-0.5, 0.5)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
