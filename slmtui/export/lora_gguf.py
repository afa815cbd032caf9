"""A PEFT LoRA adapter written as a llama.cpp runtime adapter GGUF.

Right after training, chat can run the base GGUF with the adapter applied at load time, so the
user talks to the new model without waiting for a merge and a full conversion. llama.cpp adds
alpha/r · B·A to each targeted weight, the same as PEFT, provided the adapter's tensors carry the
base tensor's GGUF name and, for llama, B's rows follow the same Q/K reordering as the base
weights (both come from slmtui.export.arch). Variants whose arithmetic llama.cpp does not do
(DoRA, rsLoRA, per-module alphas, trained biases, embedding or output-layer LoRA) are refused
here with a clear message rather than producing an adapter that quietly computes something else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, Keys

from slmtui.export.arch import ModelSpec, read_spec
from slmtui.export.errors import ConvertError
from slmtui.export.weights import TensorRef, list_tensors, read_tensor, weight_files
from slmtui.files import atomic_output

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# PEFT saves `base_model.model.<module>.lora_A.weight` (older versions keep the adapter name).
_LORA_TENSOR = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<side>[AB])(?:\.[\w-]+)?\.weight$"
)
_UNSUPPORTED_MODULES = ("embed_tokens", "lm_head")


@dataclass(frozen=True)
class _Pair:
    module: str  # Hugging Face module name, e.g. model.layers.0.self_attn.q_proj
    a: TensorRef
    b: TensorRef


def adapter_to_gguf(adapter_dir: Path, base_folder: Path, out: Path) -> Path:
    """Write the PEFT LoRA in `adapter_dir`, trained on `base_folder`, as a GGUF adapter at `out`.

    Raises ConvertError, leaving `out` as it was, for adapters llama.cpp cannot apply faithfully.
    """
    adapter_dir, base_folder, out = Path(adapter_dir), Path(base_folder), Path(out)
    lora = read_lora(adapter_dir, base_folder)
    spec = read_spec(base_folder)

    writer = GGUFWriter(path=None, arch=spec.arch_name)
    writer.add_type("adapter")
    writer.add_string(Keys.Adapter.TYPE, "lora")
    writer.add_float32(Keys.Adapter.LORA_ALPHA, lora.alpha)
    planned: list[tuple[str, TensorRef, str]] = []
    for pair in lora.pairs.values():
        base_name = spec.gguf_name(f"{pair.module}.weight")
        planned += [
            (f"{base_name}.lora_a", pair.a, ""),
            (f"{base_name}.lora_b", pair.b, pair.module),
        ]
    for name, ref, _ in planned:
        writer.add_tensor_info(name, ref.shape, np.dtype(np.float32), 4 * int(np.prod(ref.shape)))
    with atomic_output(out) as tmp:
        try:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for _, ref, module in planned:
                writer.write_tensor_data(_load(spec, ref, module))
        finally:
            writer.close()
    return out


@dataclass(frozen=True)
class LoraWeights:
    """A checked PEFT adapter, for merging into base weights while they stream to a GGUF."""

    alpha: float
    pairs: dict[str, _Pair]  # by Hugging Face module name
    arrays: dict[str, np.ndarray]  # every A and B, read once: an adapter is a few megabytes

    def delta(self, module: str) -> np.ndarray:
        """alpha/r · B·A, what PEFT's merge adds to the module's weight (rows in HF order)."""
        pair = self.pairs[module]
        a, b = self.arrays[pair.a.name], self.arrays[pair.b.name]
        return b @ ((self.alpha / a.shape[0]) * a)  # scale the small matrix, not the product


def read_lora(adapter_dir: Path, base_folder: Path) -> LoraWeights:
    """The adapter in `adapter_dir`, refused with ConvertError if it cannot be merged faithfully."""
    adapter_dir = Path(adapter_dir)
    alpha = _check_config(adapter_dir)
    weights = adapter_dir / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise ConvertError(
            f"{adapter_dir} has no {ADAPTER_WEIGHTS}. Save the adapter with PEFT's "
            "save_pretrained(), which writes safetensors."
        )
    base_shapes = {ref.name: ref.shape for ref in list_tensors(weight_files(Path(base_folder)))}
    pairs = _pairs(list_tensors([weights]))
    for pair in pairs:
        _check_shapes(pair, base_shapes.get(f"{pair.module}.weight"))
    arrays = {
        ref.name: np.ascontiguousarray(read_tensor(ref), dtype=np.float32)
        for pair in pairs
        for ref in (pair.a, pair.b)
    }
    return LoraWeights(alpha, {pair.module: pair for pair in pairs}, arrays)


def _check_config(adapter_dir: Path) -> float:
    """The adapter's alpha, after refusing what llama.cpp's LoRA cannot reproduce."""
    path = adapter_dir / ADAPTER_CONFIG
    if not path.is_file():
        raise ConvertError(f"{adapter_dir} has no {ADAPTER_CONFIG}; it is not a PEFT adapter.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{path} is not readable JSON: {exc}") from exc
    if config.get("peft_type", "LORA") != "LORA":
        raise ConvertError(f"{adapter_dir} is a {config.get('peft_type')} adapter, not LoRA.")
    refusals = {
        "use_dora": "DoRA adapters",
        "use_rslora": "rsLoRA adapters (scale alpha/sqrt(r))",
        "alpha_pattern": "per-module alphas (alpha_pattern)",
        "modules_to_save": "fully trained extra modules (modules_to_save)",
        "fan_in_fan_out": "fan_in_fan_out adapters",
        "lora_bias": "adapters with trained LoRA biases",
    }
    for key, what in refusals.items():
        if config.get(key):
            raise ConvertError(
                f"{adapter_dir}: llama.cpp cannot apply {what}. Merge the adapter into the base "
                "and export the merged model instead."
            )
    if config.get("bias", "none") != "none":
        raise ConvertError(
            f"{adapter_dir}: the adapter trained biases (bias={config['bias']!r}), which a "
            "llama.cpp adapter cannot carry. Merge it and export the merged model instead."
        )
    try:
        return float(config["lora_alpha"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConvertError(f"{path} has no usable lora_alpha.") from exc


def _pairs(refs: list[TensorRef]) -> list[_Pair]:
    sides: dict[str, dict[str, TensorRef]] = {}
    for ref in refs:
        parts = ref.name.split(".")
        if any(p.startswith("lora_embedding_") or p in _UNSUPPORTED_MODULES for p in parts):
            raise ConvertError(_embedding_refusal(ref.name))
        if "lora_magnitude_vector" in ref.name:
            raise ConvertError(f"{ref.name}: DoRA adapters cannot run in llama.cpp; merge instead.")
        match = _LORA_TENSOR.match(ref.name)
        if match is None:
            raise ConvertError(
                f"Adapter tensor {ref.name!r} is not a LoRA A/B matrix; llama.cpp cannot apply "
                "it. Merge the adapter and export the merged model instead."
            )
        sides.setdefault(match["module"], {})[match["side"]] = ref
    if not sides:
        raise ConvertError("The adapter holds no LoRA tensors.")
    pairs = []
    for module, found in sides.items():
        if set(found) != {"A", "B"}:
            raise ConvertError(f"The adapter's {module} has lora_A or lora_B but not both.")
        pairs.append(_Pair(module, found["A"], found["B"]))
    return pairs


def _embedding_refusal(name: str) -> str:
    return (
        f"{name}: LoRA on the embeddings or the output layer cannot run as a llama.cpp adapter. "
        "Merge the adapter and export the merged model, or train without targeting "
        "embed_tokens/lm_head."
    )


def _check_shapes(pair: _Pair, base_shape: tuple[int, ...] | None) -> None:
    a, b = pair.a.shape, pair.b.shape
    if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
        raise ConvertError(f"The adapter's {pair.module} has mismatched A {a} and B {b}.")
    if base_shape is None:
        raise ConvertError(
            f"The adapter targets {pair.module}, which the base model does not have: it was "
            "trained on a different base."
        )
    if (b[0], a[1]) != tuple(base_shape):
        raise ConvertError(
            f"The adapter's {pair.module} is {b[0]}x{a[1]} but the base weight is "
            f"{base_shape[0]}x{base_shape[1]}: it was trained on a different base."
        )


def _load(spec: ModelSpec, ref: TensorRef, module: str) -> np.ndarray:
    array = np.ascontiguousarray(read_tensor(ref), dtype=np.float32)
    if module:  # B: its rows are the base weight's output rows
        array = np.ascontiguousarray(spec.to_gguf_rows(f"{module}.weight", array))
    return array
