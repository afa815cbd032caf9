"""Tokenizer folders with real vocabularies: Qwen2's and Llama 3's, rebuilt from the vocab-only
GGUFs in llama.cpp's source (kept by setup next to its converter; not shipped in this repository).

Each becomes a Hugging Face fast tokenizer laid out as the family ships it: the BPE vocabulary and
merges, the special tokens as added tokens, the family's pre-tokenizer split, and for Llama 3 the
BOS prepended. llama.cpp's converter recognises a pre-tokenizer by the ids a tokenizer gives a
test text, so it names these "qwen2" and "llama-bpe" only if they split text as the real ones.
The chat templates are our own minimal ChatML and Llama 3 header templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUFReader, TokenType
from reference import REFERENCE
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' "
    "+ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
LLAMA3_CHAT = (
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
    "'<|end_header_id|>\\n\\n' + m['content'] + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


@dataclass(frozen=True)
class Family:
    vocab_file: str
    split: str
    nfc: bool
    bos: str | None  # prepended to every text
    eos: str  # the tokenizer's end of text
    template: str
    tokenizer_class: str


QWEN2 = Family(
    "ggml-vocab-qwen2.gguf", QWEN2_SPLIT, True, None, "<|im_end|>", CHATML, "Qwen2Tokenizer"
)
LLAMA3 = Family(
    "ggml-vocab-llama-bpe.gguf",
    LLAMA3_SPLIT,
    False,
    "<|begin_of_text|>",
    "<|eot_id|>",
    LLAMA3_CHAT,
    "PreTrainedTokenizerFast",
)


def write_tokenizer(family: Family, folder: Path) -> int:
    """Write tokenizer.json and tokenizer_config.json into `folder`; returns the vocabulary size."""
    reader = GGUFReader(REFERENCE / "models" / family.vocab_file)
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    merges = reader.fields["tokenizer.ggml.merges"].contents()
    normal = {
        t: i for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if k == TokenType.NORMAL
    }
    special = [
        (i, t) for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if k == TokenType.CONTROL
    ]
    model = models.BPE(
        vocab=normal,
        merges=[tuple(m.split(" ", 1)) for m in merges],
        ignore_merges=family.bos is not None,
    )
    tokenizer = Tokenizer(model)
    if family.nfc:
        tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre.Sequence(
        [
            pre.Split(Regex(family.split), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for _, t in special]
    )
    assert all(tokenizer.token_to_id(t) == i for i, t in special), "special ids moved"
    if family.bos is not None:
        bos_id = tokens.index(family.bos)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A",
            pair=f"{family.bos} $A {family.bos} $B",
            special_tokens=[(family.bos, bos_id)],
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": family.tokenizer_class,
        "eos_token": family.eos,
        "bos_token": family.bos,
        "pad_token": family.eos if family.bos is None else None,
        "add_bos_token": family.bos is not None,
        "chat_template": family.template,
        "model_max_length": 32768,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return len(tokens)
