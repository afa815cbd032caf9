"""Packed attention gives what transformers' masked SDPA gives, gradients included."""

from __future__ import annotations

import contextlib

import pytest
import torch

from slmtui.dataset.example import Example
from slmtui.ml import data as ml_data
from slmtui.ml import train as trainer
from slmtui.ml.lora_model import LORA_TARGETS
from slmtui.ml.packed_attention import segment_lengths, use_packed_attention


def test_segment_lengths_cut_rows_where_positions_restart():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    assert segment_lengths(positions) == [3, 2, 1, 4, 2]
    with pytest.raises(ValueError):
        segment_lengths(torch.tensor([[1, 2, 0]]))


def _loss_and_grads(model, packed):
    model.zero_grad(set_to_none=True)
    loss, count = trainer.batch_loss(
        model, packed.input_ids, packed.labels, packed.position_ids, contextlib.nullcontext
    )
    (loss / count).backward()
    grads = {
        name: parameter.grad.clone()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }
    return float(loss.detach()), grads


@pytest.mark.parametrize("base", ["tiny_base", "tiny_gemma3"])
def test_packed_attention_matches_masked_sdpa(base, request):
    """For Gemma 3 the first layer slides (window 8): pieces longer than that get a band."""
    from peft import LoraConfig, get_peft_model

    from slmtui.ml.base import load_base

    torch.manual_seed(0)
    model, tokenizer = load_base(request.getfixturevalue(base))
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=4, target_modules=LORA_TARGETS))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero; random B makes the LoRA gradients all matter
            torch.nn.init.normal_(parameter, std=0.02)
    texts = ["The tide came in over the slip. " * 9, "Bees, again. " * 5, "Short. " * 3, "x " * 40]
    examples = [
        piece
        for text in texts
        for piece in ml_data.encode_example(Example("t", "raw", text), tokenizer, 128).pieces
    ]
    packed = ml_data.pack(examples, 96, tokenizer.pad_token_id)
    assert packed.input_ids.shape[0] >= 2  # several rows, several examples in a row
    assert int((packed.position_ids == 0).sum()) > packed.input_ids.shape[0]

    sdpa_loss, sdpa_grads = _loss_and_grads(model, packed)
    use_packed_attention(model)
    assert model.config._attn_implementation == "slmtui_packed"
    packed_loss, packed_grads = _loss_and_grads(model, packed)

    assert packed_loss == pytest.approx(sdpa_loss, rel=1e-5)
    assert packed_grads.keys() == sdpa_grads.keys()
    for name, grad in sdpa_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
