"""llama.cpp's quantizer turns our F16 GGUF into Q8_0 and Q4_K_M files that load and agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader
from gguf_parity import PROBES, gguf_logits, hf_ids, open_llama, randomize

from slmtui.export.errors import ConvertError
from slmtui.export.gguf_convert import convert_to_gguf
from slmtui.export.quantize import quantize_gguf
from tests.tiny_models import make_tiny_llama


@pytest.fixture(scope="module")
def wide_f16(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny llama 256 wide, so that K-quant blocks (256) tile its rows and Q4_K is really used.

    Its weights are scaled so that its top-1 token rarely repeats the input and is rarely a
    near tie: then top-1 agreement measures quantization error, not chance.
    """
    folder = tmp_path_factory.mktemp("wide") / "model"
    make_tiny_llama(folder, hidden=256, intermediate=512, heads=4, kv_heads=2)
    randomize(folder, std=0.06, embed_std=0.15)
    return folder, convert_to_gguf(folder, folder.parent / "f16.gguf", outtype="f16").path


def _logits(path: Path, folder: Path) -> np.ndarray:
    llm = open_llama(path)
    return np.concatenate([gguf_logits(llm, hf_ids(folder, text)) for text in PROBES])


def _types(path: Path) -> set[GGMLQuantizationType]:
    return {GGMLQuantizationType(t.tensor_type) for t in GGUFReader(path).tensors}


@pytest.mark.parametrize(
    ("quant", "ftype", "expected_type", "max_error", "min_agreement"),
    [
        ("Q8_0", "7", GGMLQuantizationType.Q8_0, 0.06, 0.9),
        ("Q4_K_M", "15", GGMLQuantizationType.Q4_K, 0.4, 0.4),
    ],
)
def test_quantized_model_loads_and_agrees(
    wide_f16, tmp_path, quant, ftype, expected_type, max_error, min_agreement
):
    folder, f16 = wide_f16
    out = quantize_gguf(f16, tmp_path / f"{quant}.gguf", quant)
    assert out.stat().st_size < 0.7 * f16.stat().st_size
    assert expected_type in _types(out)
    assert open_llama(out).metadata["general.file_type"] == ftype
    reference, quantized = _logits(f16, folder), _logits(out, folder)
    # RMS logit error relative to the logits' spread, and top-1 agreement with F16.
    error = float(np.sqrt(((quantized - reference) ** 2).mean()) / reference.std())
    agree = int((quantized.argmax(-1) == reference.argmax(-1)).sum())
    print(f"{quant}: relative error {error:.3f}, top-1 agreement {agree}/{len(reference)}")
    assert error <= max_error
    assert agree >= min_agreement * len(reference)


def test_narrow_rows_fall_back_inside_llama_cpp(tiny_llama_f32, tmp_path):
    """64-wide rows cannot hold a 256-wide K-quant block: llama.cpp picks another type."""
    out = quantize_gguf(tiny_llama_f32, tmp_path / "q4km.gguf", "q4_k_m")
    assert GGMLQuantizationType.Q4_K not in _types(out)
    assert open_llama(out).n_vocab() == 49152


def test_failures_are_clear_and_leave_the_target_alone(tiny_llama_f32, tmp_path):
    dst = tmp_path / "out.gguf"
    dst.write_bytes(b"the model chat uses now")
    with pytest.raises(ConvertError, match="Unknown quantization"):
        quantize_gguf(tiny_llama_f32, dst, "Q3_XYZ")
    with pytest.raises(ConvertError, match="no such file"):
        quantize_gguf(tmp_path / "missing.gguf", dst, "Q8_0")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(ConvertError, match="could not quantize"):
        quantize_gguf(broken, dst, "Q8_0")
    assert dst.read_bytes() == b"the model chat uses now"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gguf", "out.gguf"]
