"""A LoRA linear layer in two matrix products and no extra passes over its output.

PEFT computes a LoRA layer as `base(x) + lora_B(lora_A(x)) * scaling`: besides the matmuls, that
is a multiply and an add over the whole (tokens x out) output in the forward pass, a multiply and
an add of the same size in the backward pass, and a fresh tensor for each. With 210 LoRA layers
in SmolLM2-135M those elementwise passes were 0.6 s of a 17 s training step on a 2-core CPU.

Here the scaled low-rank product is accumulated straight into the base output with `addmm_`
(`out += scaling * down @ B.T`), and in the backward pass the low-rank input gradient is
accumulated the same way into the frozen weight's one. The arithmetic is the same as PEFT's (the
tests compare outputs and gradients); the module, its parameters and the saved adapter stay
PEFT's own. Only the plain case is taken: one active adapter, no dropout while training, no
DoRA or other variant, a plain frozen `nn.Linear` base. Anything else goes through PEFT's forward
unchanged, which is also where quantized (QLoRA) layers go, as PEFT gives them a class of their
own.

Under autocast (bfloat16 on a CPU with AVX512-BF16 or AMX) the product runs in the autocast dtype
as PEFT's would. Autocast keeps no cast copy of a frozen weight, so every call would convert the
base weight again (106M float32 values per forward pass for SmolLM2); the frozen weight's
low-precision copy is made once and kept instead, 2 bytes per weight. The LoRA factors, which
train, are cast on each call through autograd so their gradients reach the float32 parameters.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import torch


class _LoraLinear(torch.autograd.Function):
    """y = x @ W.T + b + scaling * (x @ A.T) @ B.T, with W and b frozen."""

    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling: float):
        flat = x.reshape(-1, x.shape[-1])
        down = flat @ lora_a.t()
        out = torch.addmm(bias, flat, weight.t()) if bias is not None else flat @ weight.t()
        out.addmm_(down, lora_b.t(), alpha=scaling)
        ctx.save_for_backward(flat, down, weight, lora_a, lora_b)
        ctx.scaling = scaling
        ctx.input_shape = x.shape
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad_out):
        flat, down, weight, lora_a, lora_b = ctx.saved_tensors
        grad = grad_out.reshape(-1, grad_out.shape[-1])
        grad_down = (grad @ lora_b).mul_(ctx.scaling)
        grad_b = (grad.t() @ down).mul_(ctx.scaling) if ctx.needs_input_grad[4] else None
        grad_a = grad_down.t() @ flat if ctx.needs_input_grad[3] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight).addmm_(grad_down, lora_a).view(ctx.input_shape)
        return grad_x, None, None, grad_a, grad_b, None


def _plain_adapter(layer) -> str | None:
    """The one active adapter's name when this call can take the fused path, else None."""
    if layer.disable_adapters or layer.merged or len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    if name not in layer.lora_A or layer.use_dora.get(name, False):
        return None
    if name in getattr(layer, "lora_variant", {}):
        return None
    dropout = layer.lora_dropout[name]
    if layer.training and not isinstance(dropout, torch.nn.Identity):
        return None
    base = layer.base_layer
    if type(base) is not torch.nn.Linear or base.weight.requires_grad:
        return None
    return name


@dataclass
class _FrozenCast:
    """A frozen tensor's copy in another dtype, remade only if the tensor itself changes."""

    source: torch.Tensor | None = None
    version: int = -1
    copy: torch.Tensor | None = None

    def get(self, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if tensor.dtype == dtype:
            return tensor
        # The same tensor object, unchanged in place (its version), keeps its device too.
        same = self.source is tensor and self.version == tensor._version
        if not same or self.copy is None or self.copy.dtype != dtype:
            self.source, self.version = tensor, tensor._version
            self.copy = tensor.detach().to(dtype)
        return self.copy


def frozen_copy(module: torch.nn.Module, name: str, dtype: torch.dtype) -> torch.Tensor:
    """The module's frozen tensor `name` in `dtype`, cast once and kept with the module."""
    casts = module.__dict__.setdefault("_slmtui_casts", {})
    return casts.setdefault(name, _FrozenCast()).get(getattr(module, name), dtype)


def autocast_frozen(module: torch.nn.Module, name: str) -> torch.Tensor:
    """The module's frozen tensor as the current autocast would use it: a kept cast, or itself."""
    tensor = getattr(module, name)
    device_type = tensor.device.type
    if not torch.is_autocast_enabled(device_type):
        return tensor
    return frozen_copy(module, name, torch.get_autocast_dtype(device_type))


def _fused_forward(layer, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    name = _plain_adapter(layer) if not args and not kwargs else None
    if name is None:
        return type(layer).forward(layer, x, *args, **kwargs)
    base = layer.base_layer
    lora_a, lora_b = layer.lora_A[name].weight, layer.lora_B[name].weight
    scaling = float(layer.scaling[name])
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        if not x.dtype == base.weight.dtype == lora_a.dtype == lora_b.dtype:
            return type(layer).forward(layer, x, *args, **kwargs)
        return _LoraLinear.apply(x, base.weight, base.bias, lora_a, lora_b, scaling)
    dtype = torch.get_autocast_dtype(device_type)
    weight = frozen_copy(base, "weight", dtype)
    bias = None if base.bias is None else frozen_copy(base, "bias", dtype)
    with torch.autocast(device_type, enabled=False):
        return _LoraLinear.apply(
            x.to(dtype), weight, bias, lora_a.to(dtype), lora_b.to(dtype), scaling
        )


def use_fused_lora(model: torch.nn.Module) -> int:
    """Route the model's plain PEFT LoRA linear layers through the fused path; returns how many.

    The layers keep PEFT's class and parameters (saving, loading and merging are untouched); each
    call checks again that it is the plain case and otherwise runs PEFT's own forward.
    """
    from peft.tuners.lora.layer import Linear as LoraLinear

    count = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.forward = types.MethodType(_fused_forward, module)
            count += 1
    return count
