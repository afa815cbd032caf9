"""A PEFT LoRA as a llama.cpp runtime adapter gives the merged model's logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from gguf import GGUFReader
from gguf_parity import load_hf, open_llama, parity
from peft import LoraConfig, get_peft_model

from slmtui.export.errors import ConvertError
from slmtui.export.gguf_convert import convert_to_gguf
from slmtui.export.lora_gguf import adapter_to_gguf

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
F32_TOLERANCE = 1e-3


def _train_free_adapter(base: Path, folder: Path, targets=TARGETS, **options):
    """A LoRA with random, nonzero A and B (as if trained), saved; returns the merged model."""
    model = load_hf(base)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        peft_model = get_peft_model(
            model,
            LoraConfig(
                r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, **options
            ),
        )
    peft_model.save_pretrained(folder)
    return peft_model.merge_and_unload().eval()


@pytest.fixture(scope="module")
def llama_adapter(tiny_llama, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    merged = _train_free_adapter(tiny_llama, folder)
    return folder, merged


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_qwen2"])
def test_adapter_matches_merged_model(family, request, tmp_path):
    base = request.getfixturevalue(family)
    merged = _train_free_adapter(base, tmp_path / "adapter")
    base_gguf = convert_to_gguf(base, tmp_path / "base.gguf", outtype="f32").path
    adapter = adapter_to_gguf(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    found = parity(merged, open_llama(base_gguf, lora=adapter), base)
    without = parity(merged, open_llama(base_gguf), base)
    print(f"{family}: with adapter {found}; base alone {without}")
    assert without.max_abs > 1.0, "the adapter should change the model"
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions
    reader = GGUFReader(adapter)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 8.0
    names = {t.name for t in reader.tensors}
    assert len(names) == 2 * 2 * len(TARGETS)
    assert {"blk.0.attn_q.weight.lora_a", "blk.1.ffn_down.weight.lora_b"} <= names


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_qwen2"])
def test_merging_while_converting_matches_peft_merge(family, request, tmp_path):
    """Adding B·A while weights stream to the GGUF equals PEFT's merge_and_unload."""
    base = request.getfixturevalue(family)
    merged = _train_free_adapter(base, tmp_path / "adapter")
    gguf = convert_to_gguf(
        base, tmp_path / "merged.gguf", outtype="f32", adapter=tmp_path / "adapter"
    )
    found = parity(merged, open_llama(gguf.path), base)
    print(f"{family}: merged while converting {found}")
    assert found.max_abs <= F32_TOLERANCE
    assert found.argmax_agree == found.positions


def test_merging_refuses_what_it_cannot_merge(llama_adapter, tiny_llama, tmp_path):
    folder = _edited_copy(llama_adapter[0], tmp_path, use_dora=True)
    out = tmp_path / "merged.gguf"
    with pytest.raises(ConvertError, match="DoRA"):
        convert_to_gguf(tiny_llama, out, adapter=folder)
    assert not out.exists()


def _edited_copy(adapter: Path, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "edited"
    shutil.copytree(adapter, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(config | changes))
    return folder


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"use_rslora": True}, "rsLoRA"),
        ({"alpha_pattern": {"q_proj": 32}}, "alpha"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"bias": "all"}, "biases"),
    ],
)
def test_unsupported_variants_are_refused(llama_adapter, tiny_llama, tmp_path, changes, message):
    folder = _edited_copy(llama_adapter[0], tmp_path, **changes)
    out = tmp_path / "adapter.gguf"
    with pytest.raises(ConvertError, match=message):
        adapter_to_gguf(folder, tiny_llama, out)
    assert not out.exists()


def test_embedding_lora_is_refused(tiny_llama, tmp_path):
    _train_free_adapter(tiny_llama, tmp_path / "adapter", targets=["embed_tokens", "q_proj"])
    out = tmp_path / "adapter.gguf"
    out.write_bytes(b"previous adapter")
    with pytest.raises(ConvertError, match="embeddings or the output layer"):
        adapter_to_gguf(tmp_path / "adapter", tiny_llama, out)
    assert out.read_bytes() == b"previous adapter"


def test_adapter_for_another_base_is_refused(llama_adapter, tiny_qwen3, tmp_path):
    with pytest.raises(ConvertError, match="different base"):
        adapter_to_gguf(llama_adapter[0], tiny_qwen3, tmp_path / "adapter.gguf")


def test_missing_adapter_files(tiny_llama, tmp_path):
    with pytest.raises(ConvertError, match=r"adapter_config\.json"):
        adapter_to_gguf(tmp_path, tiny_llama, tmp_path / "a.gguf")
