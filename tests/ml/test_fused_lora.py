"""The fused LoRA linear equals PEFT's forward, in outputs and every gradient."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora.layer import Linear as LoraLinear

from slmtui.ml import fused_lora


class Block(torch.nn.Module):
    """Two linear layers, one with a bias, the first fed by an input that needs its gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(12, 20)
        self.down = torch.nn.Linear(20, 12, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.nn.functional.silu(self.up(x)))


def peft_block(dropout: float = 0.0):
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["up", "down"])
    model = get_peft_model(Block(), config)
    for module in model.modules():  # PEFT starts B at zero; make the LoRA path count.
        if isinstance(module, LoraLinear):
            torch.nn.init.normal_(module.lora_B["default"].weight, std=0.5)
    return model


def took_fused_path(out: torch.Tensor) -> bool:
    return type(out.grad_fn).__name__ == "_LoraLinearBackward"


def run(model, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    x = x.clone().requires_grad_()
    out = model(x)
    (out * torch.arange(out.numel()).view_as(out).sin()).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
    return out.detach(), grads, x.grad


def test_outputs_and_gradients_match_peft():
    reference = peft_block()
    fused = copy.deepcopy(reference)
    assert fused_lora.use_fused_lora(fused) == 2
    x = torch.randn(3, 7, 12)

    out_ref, grads_ref, x_grad_ref = run(reference, x)
    out, grads, x_grad = run(fused, x)

    for layer in (fused.base_model.model.up, fused.base_model.model.down):
        assert took_fused_path(layer(torch.randn(2, layer.in_features, requires_grad=True)))
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(x_grad, x_grad_ref)
    assert grads.keys() == grads_ref.keys() and len(grads) == 4  # A and B of each layer
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_ref[name], msg=name)


@pytest.mark.parametrize("change", ["dropout", "disabled", "merged"])
def test_other_cases_run_peft_forward(change):
    model = peft_block(dropout=0.3 if change == "dropout" else 0.0)
    fused_lora.use_fused_lora(model)
    layer = model.base_model.model.up
    x = torch.randn(2, 5, 12)
    if change == "disabled":
        with model.disable_adapter():
            assert fused_lora._plain_adapter(layer) is None
        return
    if change == "merged":
        model.merge_adapter()
        assert fused_lora._plain_adapter(layer) is None
        expected = layer.base_layer(x)
        torch.testing.assert_close(layer(x), expected)  # PEFT's merged forward: the base alone
        return
    if change == "dropout":
        model.train()
        assert fused_lora._plain_adapter(layer) is None
        model.eval()  # dropout is off outside training: the fused path serves evaluation
        assert fused_lora._plain_adapter(layer) == "default"


def test_autocast_runs_in_its_dtype_with_gradients_in_float32():
    reference = peft_block()
    fused = copy.deepcopy(reference)
    fused_lora.use_fused_lora(fused)
    x = torch.randn(3, 7, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_ref, grads_ref, x_grad_ref = run(reference, x)
        out, grads, x_grad = run(fused, x)
        layer = fused.base_model.model.up
        assert took_fused_path(layer(x.requires_grad_()))
    assert out.dtype == out_ref.dtype == torch.bfloat16
    torch.testing.assert_close(out, out_ref, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(x_grad, x_grad_ref, rtol=3e-2, atol=3e-2)
    for name, grad in grads.items():
        assert grad.dtype == torch.float32
        torch.testing.assert_close(grad, grads_ref[name], rtol=3e-2, atol=3e-1, msg=name)


def test_the_frozen_weight_is_cast_once_and_again_only_when_it_changes():
    cast = fused_lora._FrozenCast()
    weight = torch.randn(4, 4)
    first = cast.get(weight, torch.bfloat16)
    assert cast.get(weight, torch.bfloat16) is first
    assert cast.get(weight, torch.float32) is weight  # already in the asked dtype
    with torch.no_grad():
        weight.mul_(2)  # merged into, say: the copy must follow
    again = cast.get(weight, torch.bfloat16)
    assert again is not first
    torch.testing.assert_close(again.float(), weight, rtol=1e-2, atol=1e-2)


def test_a_trained_model_saves_the_same_adapter(tmp_path):
    """The modules stay PEFT's: the adapter saved after a fused step is PEFT's format."""
    model = peft_block()
    fused_lora.use_fused_lora(model)
    run(model, torch.randn(2, 3, 12))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").exists()
    assert (tmp_path / "adapter_config.json").exists()
