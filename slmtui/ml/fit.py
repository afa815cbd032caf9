"""Fitting a run to the card: how many sequences go through at once, measured, not guessed.

A table of micro-batches by card size cannot know what a base, a sequence length and a precision
cost: for 1-3B bases the saved activations are megabytes per token, and a desktop holds 0.5-1.5
GB of the card itself. So after the model is on the card, a probe runs one forward and backward
pass of one sequence and of two, reads the peak memory of each, and takes the difference as the
cost of a sequence; the micro-batch is what fits in the memory left free, with headroom.
Gradient accumulation makes up the rest of the step, so the optimizer sees the same step on
every card.

An out-of-memory error in the first steps (fragmentation, a longer row, another program taking
memory) empties the cache, halves the micro-batch, doubles the accumulation and runs the step
again; later ones, or one at a single sequence, fail the run with a reason. cuBLAS and cuDNN
report their allocation failures as plain RuntimeErrors, which count too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# Messages of allocation failures that are not torch.OutOfMemoryError.
_OUT_OF_MEMORY = (
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_NOT_ENOUGH_MEMORY",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUDA out of memory",
    "CUDA error: out of memory",
)
RETRY_STEPS = 3  # an out-of-memory error in these first steps is retried with half the rows
HEADROOM = 0.85  # share of the free memory the probe plans for (the rest: fragmentation, spikes)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _OUT_OF_MEMORY)


@dataclass
class DeviceMemory:
    """What the probe reads of a device: bytes free, allocated now, the peak since a reset."""

    free: Callable[[], int]
    allocated: Callable[[], int]
    peak: Callable[[], int]
    reset_peak: Callable[[], None]
    empty_cache: Callable[[], None]


def device_memory(device: torch.device) -> DeviceMemory | None:
    """The CUDA device's memory; None on the CPU, where RAM decides (ml/presets.py)."""
    if device.type != "cuda":
        return None
    return DeviceMemory(
        free=lambda: _free(device),
        allocated=lambda: torch.cuda.memory_allocated(device),
        peak=lambda: torch.cuda.max_memory_allocated(device),
        reset_peak=lambda: torch.cuda.reset_peak_memory_stats(device),
        empty_cache=torch.cuda.empty_cache,
    )


def _free(device: torch.device) -> int:
    """Bytes this process may still take on the card: what the card has free, and no more than
    a memory fraction set for the process allows (torch.cuda.set_per_process_memory_fraction)."""
    free, total = torch.cuda.mem_get_info(device)
    get_fraction = getattr(torch.cuda, "get_per_process_memory_fraction", None)
    fraction = get_fraction(device) if get_fraction is not None else 1.0
    if fraction < 1.0:
        free = min(free, int(total * fraction) - torch.cuda.memory_reserved(device))
    return max(0, free)


@dataclass(frozen=True)
class Probe:
    """What one and two sequences cost, and the micro-batch that fits."""

    free_bytes: int
    fixed_bytes: int  # what a pass costs beyond its sequences (workspace, logits chunks)
    per_row_bytes: int
    micro_batch: int


def probe_micro_batch(step_rows: Callable[[int], None], memory: DeviceMemory, most: int) -> Probe:
    """Measure `step_rows(1)` and `step_rows(2)` (a forward and backward pass of that many
    sequences, gradients cleared after) and choose the micro-batch, at most `most`."""
    memory.empty_cache()
    free = memory.free()
    peaks = []
    for rows in (1, 2) if most > 1 else (1,):
        memory.reset_peak()
        before = memory.allocated()
        try:
            step_rows(rows)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            memory.empty_cache()
            if rows == 1:
                raise ProbeError(
                    "One sequence does not fit on the card: lower [train] seq_len, or set "
                    '[train] qlora = "on" to hold the base in 4 bits'
                ) from exc
            return Probe(free, peaks[0], peaks[0], 1)
        peaks.append(max(0, memory.peak() - before))
    if len(peaks) == 1:
        return Probe(free, 0, peaks[0], 1)
    per_row = max(1, peaks[1] - peaks[0])
    fixed = max(0, peaks[0] - per_row)
    fit = int((free * HEADROOM - fixed) // per_row)
    return Probe(free, fixed, per_row, max(1, min(most, fit)))


class ProbeError(RuntimeError):
    """Not even one sequence fits."""


def unbuilt_card(capability: tuple[int, int], arch_list: list[str]) -> str | None:
    """Why this torch build cannot run kernels on a card of this compute capability (None when
    it can): CUDA 12.8 and 13 builds dropped Pascal, whose cards pass is_available() and fail
    later with "no kernel image is available"."""
    if not arch_list:
        return None
    major, minor = capability
    exact = f"sm_{major}{minor}"
    same_major = [
        a for a in arch_list if a.startswith(f"sm_{major}") and int(a[3:]) <= major * 10 + minor
    ]
    ptx = [a for a in arch_list if a.startswith("compute_") and int(a[8:]) <= major * 10 + minor]
    if exact in arch_list or same_major or ptx:
        return None
    return (
        f"this torch build has no kernels for compute capability {major}.{minor} (it has "
        f"{', '.join(arch_list)}): run `make setup` again, which installs the cu126 build for "
        "cards this old"
    )


def parameter_count(model: torch.nn.Module) -> int:
    """Parameters of the model, a 4-bit packed weight counted as the weights it holds
    (bitsandbytes' Params4bit stores two per byte, so numel() says half)."""
    total = 0
    for parameter in model.parameters():
        state = getattr(parameter, "quant_state", None)
        shape = getattr(state, "shape", None)
        total += int(torch.Size(shape).numel()) if shape is not None else parameter.numel()
    return total


def weights_bytes(parameters: int, dtype: str, qlora: bool) -> int:
    """Bytes a base's weights take on the card: 16-bit, 32-bit, or about 4.5 bits in NF4
    (double-quantized scales)."""
    if qlora:
        return int(parameters * 0.5625)
    return parameters * (4 if dtype == "float32" else 2)


def config_parameters(config: dict) -> int:
    """A decoder's parameter count from its config.json (Llama, Qwen2/3, Gemma 3, SmolLM2
    layouts: embeddings, attention with grouped keys and values, a gated MLP, norms)."""
    text = config.get("text_config") or config
    hidden = int(text["hidden_size"])
    layers = int(text["num_hidden_layers"])
    inner = int(text["intermediate_size"])
    vocab = int(text["vocab_size"])
    heads = int(text["num_attention_heads"])
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // heads)
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    if text.get("attention_bias"):
        attention += head_dim * (heads + 2 * kv_heads)
    if text.get("model_type", config.get("model_type")) == "qwen2":
        attention += head_dim * (heads + 2 * kv_heads)  # Qwen2 has q, k and v biases
    per_layer = attention + 3 * hidden * inner + 2 * hidden
    family = text.get("model_type", config.get("model_type"))
    if family in ("qwen3", "gemma3_text", "gemma3"):
        per_layer += 2 * head_dim  # norms of the queries and keys
    if family in ("gemma3_text", "gemma3"):
        per_layer += 2 * hidden  # norms before and after the MLP
    tied = text.get("tie_word_embeddings", config.get("tie_word_embeddings", True))
    return vocab * hidden * (1 if tied else 2) + layers * per_layer + hidden
