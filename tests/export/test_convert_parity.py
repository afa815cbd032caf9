"""Converted GGUFs give llama.cpp the same logits as the Hugging Face model, family by family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader
from gguf_parity import load_hf, open_llama, parity

from slmtui.export.gguf_convert import ConvertResult, convert_to_gguf

# With F32 weights and a F32 KV cache llama.cpp matches to about 1e-5 (logits spread ~1.2 std);
# a wrong Q/K row order or a missing bias moves them by units.
F32_TOLERANCE = 1e-3
HALF_TOLERANCE = 0.1


def _tensor_types(path: Path) -> dict[str, GGMLQuantizationType]:
    return {t.name: GGMLQuantizationType(t.tensor_type) for t in GGUFReader(path).tensors}


def _convert_and_compare(folder: Path, out: Path, outtype: str):
    result = convert_to_gguf(folder, out, outtype=outtype)
    llm = open_llama(result.path)
    found = parity(load_hf(folder), llm, folder)
    print(f"{folder.parent.name} {outtype}: {found}")
    return result, llm, found


@pytest.mark.parametrize(
    ("outtype", "tolerance"), [("f32", F32_TOLERANCE), ("f16", HALF_TOLERANCE)]
)
def test_tiny_llama_matches_transformers(tiny_llama, tmp_path, outtype, tolerance):
    result, llm, found = _convert_and_compare(tiny_llama, tmp_path / "m.gguf", outtype)
    assert isinstance(result, ConvertResult)
    assert result.path.is_file() and result.bytes == result.path.stat().st_size
    assert found.spread > 0.5, "the test model's logits are too flat to compare"
    assert found.max_abs <= tolerance
    assert found.argmax_agree == found.positions
    # Tied embeddings: no output.weight; norms stay F32, matrices take the asked type.
    types = _tensor_types(result.path)
    assert "output.weight" not in types and result.tensor_count == len(types) == 2 + 2 * 9
    assert types["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
    assert types["blk.0.attn_q.weight"] == GGMLQuantizationType[outtype.upper()]
    meta = llm.metadata
    assert meta["general.architecture"] == "llama"
    assert meta["general.file_type"] == {"f32": "0", "f16": "1"}[outtype]
    assert meta["general.quantization_version"] == "2"
    assert meta["llama.rope.dimension_count"] == "16"
    assert meta["llama.vocab_size"] == "49152"


@pytest.mark.parametrize("outtype", ["bf16", "q8_0"])
def test_tiny_llama_other_types_load_and_agree(tiny_llama, tmp_path, outtype):
    result, _, found = _convert_and_compare(tiny_llama, tmp_path / "m.gguf", outtype)
    # A random model has near ties, so rounding flips a few top-1s (seen: 56/59 bf16, 54/59 q8_0).
    assert found.max_abs <= 0.5
    assert found.argmax_agree >= 0.85 * found.positions
    assert (
        _tensor_types(result.path)["blk.0.ffn_up.weight"] == GGMLQuantizationType[outtype.upper()]
    )


def test_llama3_rope_scaling_untied_output_and_biases(tiny_llama3, tmp_path):
    result, _, found = _convert_and_compare(tiny_llama3, tmp_path / "m.gguf", "f32")
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
    reader = GGUFReader(result.path)
    names = {t.name: t for t in reader.tensors}
    assert {"output.weight", "rope_freqs.weight", "blk.0.attn_q.bias", "blk.0.attn_k.bias"} <= set(
        names
    )
    factors = np.asarray(names["rope_freqs.weight"].data)
    assert factors.shape == (8,) and factors.max() == pytest.approx(8.0) and factors.min() >= 1.0


def test_llama3_rope_factors_matter(tiny_llama3, tmp_path):
    """Without rope_freqs llama.cpp would compute plain rope: the parity above is not luck."""
    from slmtui.export import arch

    original = arch.ModelSpec.rope_factors
    arch.ModelSpec.rope_factors = lambda self: None
    try:
        path = convert_to_gguf(tiny_llama3, tmp_path / "plain.gguf", outtype="f32").path
    finally:
        arch.ModelSpec.rope_factors = original
    found = parity(load_hf(tiny_llama3), open_llama(path), tiny_llama3)
    print(f"llama3 rope without rope_freqs: {found}")
    assert found.max_abs > 100 * F32_TOLERANCE


def test_qwen2_matches_transformers(tiny_qwen2, tmp_path):
    result, llm, found = _convert_and_compare(tiny_qwen2, tmp_path / "m.gguf", "f32")
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
    assert llm.metadata["general.architecture"] == "qwen2"
    assert "blk.1.attn_v.bias" in _tensor_types(result.path)


def test_qwen3_matches_transformers(tiny_qwen3, tmp_path):
    result, llm, found = _convert_and_compare(tiny_qwen3, tmp_path / "m.gguf", "f32")
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
    assert llm.metadata["qwen3.attention.key_length"] == "32"
    assert llm.metadata["qwen3.attention.value_length"] == "32"
    assert "blk.0.attn_q_norm.weight" in _tensor_types(result.path)


def test_sentencepiece_style_llama_matches_transformers(tiny_sentencepiece, tmp_path):
    result, llm, found = _convert_and_compare(tiny_sentencepiece, tmp_path / "m.gguf", "f32")
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
    assert llm.metadata["tokenizer.ggml.model"] == "llama"
    assert "output.weight" in _tensor_types(result.path)


def test_sharded_bf16_source(tiny_llama, tmp_path):
    """A bf16 checkpoint in several shards (how hub models ship) converts without torch."""
    model = load_hf(tiny_llama).to(dtype=__import__("torch").bfloat16)
    folder = tmp_path / "sharded"
    model.save_pretrained(folder, max_shard_size="1MB")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (folder / name).write_bytes((tiny_llama / name).read_bytes())
    assert (folder / "model.safetensors.index.json").is_file()
    _, _, found = _convert_and_compare(folder, tmp_path / "m.gguf", "f32")
    # The GGUF holds the bf16 values exactly; transformers reads the same bf16 values as f32.
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
