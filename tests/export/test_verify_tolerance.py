"""Verification's logit tolerance: a model whose logits run large may differ from float32 as
far as F16 itself costs it (measured in torch), and a file that differs more still fails."""

from __future__ import annotations

import torch

from slmtui.export.gguf_convert import convert_to_gguf
from slmtui.ml.base import load_base
from slmtui.ml.verify import MAX_ABS_FULL, verify_gguf


def scaled_model(tiny_llama, folder, scale: float):
    """The tiny llama with embeddings (tied to the output) `scale` times larger: logits in the
    hundreds, where F16's rounding alone moves them by more than MAX_ABS_FULL."""
    model, tokenizer = load_base(tiny_llama)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(scale)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model.float().eval(), tokenizer


def test_large_logits_are_allowed_what_f16_costs_them_and_no_more(tiny_llama, tmp_path):
    model, tokenizer = scaled_model(tiny_llama, tmp_path / "large", 500.0)
    gguf = tmp_path / "large.gguf"
    convert_to_gguf(tmp_path / "large", gguf)
    result = verify_gguf(gguf, model, tokenizer, "F16", chat_must_stop=False)
    assert result.max_abs_diff > MAX_ABS_FULL  # F16 costs these logits more than the floor
    assert result.tolerance > result.max_abs_diff and result.passed, result.checks
    [logits] = [check for check in result.checks if check.name == "logits"]
    assert "the same weights in torch's float16" in logits.detail

    # The same file against weights it does not hold: the yardstick does not excuse it.
    with torch.no_grad():
        model.model.norm.weight.mul_(1.01)  # every logit 1% larger
    wrong = verify_gguf(gguf, model, tokenizer, "F16", chat_must_stop=False)
    assert not wrong.passed and wrong.max_abs_diff > wrong.tolerance
