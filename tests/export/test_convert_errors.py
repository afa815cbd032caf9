"""Folders the converter cannot write faithfully fail with a clear ConvertError and no debris."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from slmtui.export.gguf_convert import ConvertError, convert_to_gguf


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    return target


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_unsupported_architecture(tiny_llama, tmp_path):
    folder = _copy(tiny_llama, tmp_path)
    _edit_config(folder, model_type="gpt2", architectures=["GPT2LMHeadModel"])
    with pytest.raises(ConvertError, match=r"'gpt2' model.*Supported: llama, qwen2, qwen3"):
        convert_to_gguf(folder, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_unsupported_rope_scaling(tiny_llama, tmp_path):
    folder = _copy(tiny_llama, tmp_path)
    _edit_config(folder, rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4})
    with pytest.raises(ConvertError, match="rope scaling 'yarn'"):
        convert_to_gguf(folder, tmp_path / "out.gguf")


def test_missing_tokenizer(tiny_llama, tmp_path):
    folder = _copy(tiny_llama, tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ConvertError, match=r"no tokenizer\.json.*save_pretrained"):
        convert_to_gguf(folder, tmp_path / "out.gguf")


def test_missing_config_or_weights(tiny_llama, tmp_path):
    with pytest.raises(ConvertError, match=r"no config\.json"):
        convert_to_gguf(tmp_path, tmp_path / "out.gguf")
    folder = _copy(tiny_llama, tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ConvertError, match=r"pytorch_model\.bin; slmtui reads only safetensors"):
        convert_to_gguf(folder, tmp_path / "out.gguf")


def test_unknown_outtype(tiny_llama, tmp_path):
    with pytest.raises(ConvertError, match="q2_k"):
        convert_to_gguf(tiny_llama, tmp_path / "out.gguf", outtype="q2_k")


def test_failure_while_writing_leaves_previous_file_and_no_debris(tiny_llama, tmp_path):
    """A tensor that cannot be converted is only met after the header and earlier tensors were
    written: the half-written file must vanish and the old one stay."""
    folder = _copy(tiny_llama, tmp_path)
    weights = load_file(folder / "model.safetensors")
    last = sorted(weights)[-2]  # well after the first tensor in file order
    weights[last] = weights[last].astype(np.int8)
    save_file(weights, folder / "model.safetensors")
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    out = out_dir / "model.gguf"
    out.write_bytes(b"the previous, working model")
    with pytest.raises(ConvertError, match=f"{last}.*stored as I8"):
        convert_to_gguf(folder, out)
    assert out.read_bytes() == b"the previous, working model"
    assert [p.name for p in out_dir.iterdir()] == ["model.gguf"]


def test_success_replaces_previous_file(tiny_llama, tmp_path):
    out = tmp_path / "model.gguf"
    out.write_bytes(b"old")
    result = convert_to_gguf(tiny_llama, out, outtype="f16")
    assert out.read_bytes()[:4] == b"GGUF" and result.bytes == out.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]
