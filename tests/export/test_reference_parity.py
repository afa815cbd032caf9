"""slmtui's converter against llama.cpp's own `convert_hf_to_gguf.py`, family by family.

The same Hugging Face folder goes through both; every metadata key and every tensor (type, shape,
bytes) must be equal, except the differences listed with their reasons in reference.INTENDED.
The folders are tiny random models with the configuration of each family slmtui writes and a
real tokenizer (SmolLM2's, from the bundled GGUF, with Qwen2's splitter for the Qwen families),
or a TinyLlama-style SentencePiece tokenizer trained here; the real SmolLM2-135M weights are
compared in test_real_smollm2.py.
"""

from __future__ import annotations

import pytest
from gguf import TokenType
from reference import compare, metadata, reference_convert

from slmtui.export.gguf_convert import convert_to_gguf

FAMILIES = (
    "tiny_llama",  # SmolLM2: llama, tied, GQA, SmolLM2's real tokenizer
    "tiny_llama3",  # llama3 rope scaling, untied output, attention biases
    "llama32_real_vocab",  # Llama 3.2's configuration and Llama 3's real vocabulary
    "qwen25_real_vocab",  # Qwen2.5's configuration and Qwen2's real vocabulary
    "qwen3_real_vocab",  # Qwen3's configuration and the same vocabulary
    "tiny_sentencepiece",  # TinyLlama's layout: SentencePiece-style BPE, BOS added, untied
)


# Without a tokenizer.model (a SentencePiece protobuf), llama.cpp's converter reads a
# SentencePiece-style tokenizer.json its own way; slmtui differs there on purpose.
SENTENCEPIECE_FROM_JSON = {
    "tokenizer.ggml.scores": (
        "llama.cpp gives every token -1000, so its merger no longer follows the BPE merge order; "
        "slmtui scores each token by its merge rank (test_sentencepiece_style_llama_matches_"
        "transformers checks llama.cpp then tokenizes as transformers does)"
    ),
    "tokenizer.ggml.token_type": "checked below: only <unk> differs",
    "tokenizer.ggml.add_space_prefix": (
        "slmtui writes it from the normalizer (true, as TinyLlama prepends ▁); llama.cpp's "
        "default for a llama tokenizer is the same"
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_same_file_as_llama_cpp_converter(family, request, tmp_path):
    folder = request.getfixturevalue(family)
    ours = convert_to_gguf(folder, tmp_path / "ours.gguf", outtype="f16").path
    theirs = reference_convert(folder, tmp_path / "llama-cpp.gguf", outtype="f16")
    intended = SENTENCEPIECE_FROM_JSON if family == "tiny_sentencepiece" else {}
    assert compare(ours, theirs, intended) == []
    if family == "tiny_sentencepiece":
        mine, reference = metadata(ours), metadata(theirs)
        types = zip(
            mine["tokenizer.ggml.token_type"], reference["tokenizer.ggml.token_type"], strict=True
        )
        differ = [i for i, (a, b) in enumerate(types) if a != b]
        # <unk> is UNKNOWN, as llama.cpp's converter writes it from a tokenizer.model; from the
        # JSON alone it calls every added special token CONTROL.
        assert differ == [mine["tokenizer.ggml.unknown_token_id"]]
        assert mine["tokenizer.ggml.token_type"][differ[0]] == TokenType.UNKNOWN
    if family.endswith("real_vocab"):
        pre = metadata(theirs)["tokenizer.ggml.pre"]
        assert pre in ("qwen2", "llama-bpe")  # llama.cpp recognised the real vocabulary
