"""The model families slmtui writes as GGUF, and how their tensors map onto llama.cpp's.

The full-model converter and the LoRA adapter writer must agree exactly on tensor names and on
the row order of the attention projections, or an adapter lands on the wrong rows of its base.
So both take those facts from here:

- names come from gguf's own table (`get_tensor_name_map`), not from a copy of it;
- llama.cpp's LLAMA graph applies rope to interleaved pairs while Hugging Face's llama rotates
  the two halves of each head, so llama's Q and K rows (weights, biases and a LoRA's B) are
  reordered; Qwen2/Qwen3 use the halves layout in llama.cpp too and are written as they are;
- Llama 3.x's "llama3" rope scaling becomes a per-frequency factor tensor `rope_freqs.weight`;
- Gemma 3 normalises with x·(1 + w), llama.cpp with x·w, so every norm weight is written plus
  one; its embeddings are written unscaled (llama.cpp multiplies by sqrt(hidden) itself), and
  its sliding-window layers, local rope base and window go into the header.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import MODEL_ARCH, MODEL_ARCH_NAMES, TensorNameMap, get_tensor_name_map

from slmtui.export.errors import ConvertError
from slmtui.files import read_json_object

# Hugging Face model_type -> llama.cpp architecture.
ARCHITECTURES: dict[str, MODEL_ARCH] = {
    "llama": MODEL_ARCH.LLAMA,
    "qwen2": MODEL_ARCH.QWEN2,
    "qwen3": MODEL_ARCH.QWEN3,
    "gemma3_text": MODEL_ARCH.GEMMA3,  # Gemma 3 270M and 1B (text only)
}
ROPE_TYPES = ("default", "linear", "llama3")
# Tensors some checkpoints carry that are recomputed at load time and have no GGUF counterpart.
SKIPPED_SUFFIXES = ("rotary_emb.inv_freq",)


@dataclass(frozen=True)
class ModelSpec:
    """The hyperparameters of a Hugging Face model that its GGUF header must carry."""

    model_type: str
    n_layers: int
    hidden: int
    intermediate: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    context_length: int
    rms_eps: float
    rope_theta: float
    rope: dict = field(default_factory=dict)  # rope_type and its numbers, as in the config
    tie_embeddings: bool = False
    # Gemma 3: which layers attend within a sliding window, its width, the local rope base
    sliding_layers: tuple[bool, ...] = ()
    sliding_window: int = 0
    rope_theta_local: float = 0.0

    @property
    def arch(self) -> MODEL_ARCH:
        return ARCHITECTURES[self.model_type]

    @property
    def arch_name(self) -> str:
        """The `general.architecture` string, e.g. "llama"."""
        return MODEL_ARCH_NAMES[self.arch]

    @property
    def rope_type(self) -> str:
        return str(self.rope.get("rope_type", "default"))

    @property
    def norm_shift(self) -> float:
        """What to add to a norm weight so llama.cpp's x·w equals the checkpoint's norm."""
        return 1.0 if self.arch == MODEL_ARCH.GEMMA3 else 0.0

    @property
    def permutes_qk(self) -> bool:
        """Whether Q/K rows must be reordered for llama.cpp's rope (LLAMA only)."""
        return self.arch == MODEL_ARCH.LLAMA

    def gguf_name(self, hf_name: str) -> str:
        """The GGUF tensor name for a Hugging Face tensor name (`...weight` or `...bias`)."""
        found = _name_map(self.arch, self.n_layers).get_name(
            hf_name, try_suffixes=(".weight", ".bias")
        )
        if found is None:
            raise ConvertError(
                f"Tensor {hf_name!r} has no place in a llama.cpp {self.arch_name} model. The "
                f"folder does not look like a plain {self.model_type} checkpoint (was it saved "
                "with extra heads or adapters still attached? merge_and_unload() first)."
            )
        return found

    def to_gguf_rows(self, hf_name: str, array: np.ndarray) -> np.ndarray:
        """`array` (output rows first) in the row order llama.cpp expects for `hf_name`.

        Applies to a weight, a bias, or a LoRA B matrix of the same projection.
        """
        if self.norm_shift and hf_name.endswith("norm.weight"):
            return np.asarray(array, dtype=np.float32) + np.float32(self.norm_shift)
        if not self.permutes_qk:
            return array
        if ".self_attn.q_proj." in hf_name:
            return permute_rope_rows(array, self.n_heads, self.head_dim)
        if ".self_attn.k_proj." in hf_name:
            return permute_rope_rows(array, self.n_kv_heads, self.head_dim)
        return array

    def rope_factors(self) -> np.ndarray | None:
        """llama.cpp's `rope_freqs.weight` for llama3 rope scaling, else None."""
        if self.rope_type != "llama3":
            return None
        return llama3_rope_factors(self.rope, self.rope_theta, self.head_dim)


@functools.lru_cache(maxsize=8)
def _name_map(arch: MODEL_ARCH, n_layers: int) -> TensorNameMap:
    return get_tensor_name_map(arch, n_layers)


def permute_rope_rows(array: np.ndarray, n_heads: int, head_dim: int) -> np.ndarray:
    """Reorder rows from the halves layout to llama.cpp's interleaved pairs, head by head.

    Within each head of size d, GGUF row 2i + j is Hugging Face row j·d/2 + i (j in {0, 1}).
    """
    if array.shape[0] != n_heads * head_dim or head_dim % 2:
        raise ConvertError(
            f"A projection with {array.shape[0]} rows does not fit {n_heads} heads of size "
            f"{head_dim}: config.json does not match the weights."
        )
    rest = array.shape[1:]
    split = array.reshape(n_heads, 2, head_dim // 2, *rest)
    return np.ascontiguousarray(split.swapaxes(1, 2)).reshape(array.shape)


def llama3_rope_factors(rope: dict, theta: float, rotary_dim: int) -> np.ndarray:
    """Per-frequency divisors that turn plain rope into Llama 3's scaled rope.

    Llama 3 divides low frequencies by `factor`, keeps high ones, and blends in between;
    llama.cpp divides each rope angle by the matching entry of this vector.
    """
    try:
        factor = float(rope["factor"])
        low = float(rope.get("low_freq_factor", 1.0))
        high = float(rope.get("high_freq_factor", 4.0))
        original = float(rope.get("original_max_position_embeddings", 8192))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConvertError(f"config.json has an incomplete llama3 rope scaling: {rope}") from exc
    # In float32 throughout, as transformers computes the frequencies the model was trained with
    # (and as llama.cpp's own converter does: the two files then agree to the last bit).
    f32 = np.float32
    exponents = np.arange(0, rotary_dim, 2, dtype=f32) / f32(rotary_dim)
    inv_freq = (f32(1) / f32(theta) ** exponents).astype(f32)
    wavelen = (f32(2 * math.pi) / inv_freq).astype(f32)
    smooth = ((f32(original) / wavelen - f32(low)) / f32(high - low)).astype(f32)
    blended = (f32(1) / ((f32(1) - smooth) / f32(factor) + smooth)).astype(f32)
    factors = np.where(
        wavelen < f32(original / high),
        f32(1),
        np.where(wavelen > f32(original / low), f32(factor), blended),
    )
    return factors.astype(f32)


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ConvertError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder. Point the "
            "export at the folder that save_pretrained() wrote."
        )
    return read_json_object(path, error=ConvertError)


def read_spec(folder: Path) -> ModelSpec:
    """The ModelSpec of a Hugging Face folder, or a ConvertError saying why it is not supported."""
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ConvertError(
            f"{folder} holds a {model_type!r} model, which slmtui cannot write as GGUF. "
            f"Supported: {', '.join(ARCHITECTURES)} (SmolLM2, Llama 3.x, TinyLlama, Qwen2.5, "
            "Qwen3, Gemma 3 text models)."
        )
    if config.get("use_sliding_window"):
        raise ConvertError(
            f"{folder}: sliding-window attention is switched on in config.json, which llama.cpp "
            f"does not run for {model_type}; set use_sliding_window to false if the model was "
            "trained without it."
        )
    gemma = model_type == "gemma3_text"
    if gemma:
        _check_gemma3(folder, config)
    try:
        hidden = int(config["hidden_size"])
        n_heads = int(config["num_attention_heads"])
        spec = ModelSpec(
            model_type=model_type,
            n_layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            intermediate=int(config["intermediate_size"]),
            n_heads=n_heads,
            n_kv_heads=int(config.get("num_key_value_heads") or n_heads),
            head_dim=int(config.get("head_dim") or hidden // n_heads),
            context_length=int(config.get("max_position_embeddings", 2048)),
            rms_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=_rope_theta(config),
            rope=_rope(config),
            tie_embeddings=bool(config.get("tie_word_embeddings", gemma)),  # Gemma: tied
            **(_gemma3(config) if gemma else {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConvertError(f"{folder}/config.json lacks or garbles a setting: {exc!r}") from exc
    if spec.rope_type not in ROPE_TYPES:
        raise ConvertError(
            f"{folder}: rope scaling {spec.rope_type!r} is not supported by slmtui's GGUF writer "
            f"(supported: {', '.join(ROPE_TYPES)})."
        )
    if spec.rope_type == "llama3" and not spec.permutes_qk:
        raise ConvertError(f"{folder}: llama3 rope scaling on a {model_type} model is unexpected.")
    return spec


def _gemma3(config: dict) -> dict:
    """Gemma 3's sliding-window facts: per layer whether it slides, the window, local rope base."""
    layers = int(config["num_hidden_layers"])
    kinds = config.get("layer_types")
    if not kinds:  # older configs give a pattern: every n-th layer attends globally
        pattern = int(config.get("sliding_window_pattern", 6))
        kinds = ["full_attention" if (i + 1) % pattern == 0 else "sliding" for i in range(layers)]
    local = (config.get("rope_parameters") or {}).get("sliding_attention") or {}
    theta_local = local.get("rope_theta", config.get("rope_local_base_freq", 10000.0))
    return {
        "sliding_layers": tuple(kind != "full_attention" for kind in kinds),
        "sliding_window": int(config.get("sliding_window") or 0),
        "rope_theta_local": float(theta_local),
    }


def _check_gemma3(folder: Path, config: dict) -> None:
    """Refuse what llama.cpp's gemma3 graph would run differently from transformers."""
    if config.get("attn_logit_softcapping"):
        raise ConvertError(f"{folder}: attention logit soft-capping is not run by llama.cpp.")
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    # llama.cpp scales queries by 1/sqrt(head size), by 1/sqrt(hidden / heads) for 27B only
    expected = (
        int(config["hidden_size"]) // heads if config["num_hidden_layers"] == 62 else head_dim
    )
    scalar = config.get("query_pre_attn_scalar", head_dim)
    if scalar != expected:
        raise ConvertError(
            f"{folder}: query_pre_attn_scalar {scalar} is not what llama.cpp uses for this size "
            f"({expected}); the converted model would attend differently."
        )


def _rope(config: dict) -> dict:
    """Rope settings from either transformers' newer `rope_parameters` or older `rope_scaling`."""
    merged: dict = {}
    for key in ("rope_scaling", "rope_parameters"):
        value = config.get(key)
        if isinstance(value, dict):
            # Per layer type (Gemma 3): the global layers' rope is the model's rope.
            merged.update(value.get("full_attention", value))
    rope_type = merged.get("rope_type") or merged.get("type") or "default"
    return {**merged, "rope_type": rope_type}


def _rope_theta(config: dict) -> float:
    params = config.get("rope_parameters")
    if isinstance(params, dict):
        params = params.get("full_attention", params)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(config.get("rope_theta", 10000.0))
