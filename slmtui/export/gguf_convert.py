"""A Hugging Face model folder written as one GGUF file, with slmtui's own converter.

This is the step between a merged, fine-tuned model and llama.cpp: chat, Ollama and LM Studio
all read GGUF. The writer streams: it plans every tensor from the safetensors headers, writes the
GGUF header, then reads, converts and appends one tensor at a time, so memory stays near the size
of the largest tensor rather than the model. The file appears at `out` only when it is complete.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import (
    GGML_QUANT_VERSION,
    GGMLQuantizationType,
    LlamaFileType,
    RopeScalingType,
)

from slmtui.export.arch import SKIPPED_SUFFIXES, ModelSpec, read_spec
from slmtui.export.errors import ConvertError
from slmtui.export.lora_gguf import LoraWeights, read_lora
from slmtui.export.packing import PackingGGUFWriter
from slmtui.export.vocab import read_vocab
from slmtui.export.weights import (
    OUTTYPES,
    TensorRef,
    encode,
    list_tensors,
    read_tensor,
    slot_nbytes,
    slot_type,
    weight_files,
)
from slmtui.files import atomic_output

__all__ = ["ConvertError", "ConvertResult", "convert_to_gguf"]

FILE_TYPES = {
    "f32": LlamaFileType.ALL_F32,
    "f16": LlamaFileType.MOSTLY_F16,
    "bf16": LlamaFileType.MOSTLY_BF16,
    "q8_0": LlamaFileType.MOSTLY_Q8_0,
}
EMBEDDINGS = "model.embed_tokens.weight"
LM_HEAD = "lm_head.weight"
# Tensors prepared ahead of the writer, each by its own thread.
PREFETCH = max(2, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion wrote, for the export log and the UI."""

    path: Path
    tensor_count: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class _Slot:
    """One planned GGUF tensor: where its data comes from and how it is stored."""

    gguf_name: str
    shape: tuple[int, ...]
    qtype: GGMLQuantizationType
    source: TensorRef | None = None  # read from safetensors, or
    data: np.ndarray | None = None  # computed here (rope factors)


def convert_to_gguf(
    folder: Path, out: Path, *, outtype: str = "f16", adapter: Path | None = None
) -> ConvertResult:
    """Write the model in Hugging Face `folder` as a GGUF file at `out`.

    `outtype` is "f32", "f16", "bf16" or "q8_0" for the 2-D weights; norms and biases stay F32.
    With `adapter` (a PEFT LoRA folder trained on this base), each targeted weight gets its
    alpha/r · B·A added in float32 as it streams past: the merge costs one small matmul per
    module instead of loading, merging and saving a whole model before converting it.
    Raises ConvertError, leaving `out` as it was, when the folder cannot be written faithfully.
    """
    started = time.perf_counter()
    folder, out = Path(folder), Path(out)
    if outtype not in OUTTYPES:
        raise ConvertError(f"Unknown GGUF type {outtype!r}; choose one of {', '.join(OUTTYPES)}.")
    if not folder.is_dir():
        raise ConvertError(f"{folder} is not a folder; give the Hugging Face model folder.")
    spec = read_spec(folder)
    lora = read_lora(adapter, folder) if adapter is not None else None
    slots = _plan(spec, list_tensors(weight_files(folder)), outtype)
    n_rows = next(s.shape[0] for s in slots if s.gguf_name == "token_embd.weight")
    vocab = read_vocab(folder, spec.model_type, n_rows)

    writer = PackingGGUFWriter(path=None, arch=spec.arch_name)
    writer.add_name(folder.name)
    _add_hyperparameters(writer, spec, n_rows)
    writer.add_file_type(FILE_TYPES[outtype])
    writer.add_quantization_version(GGML_QUANT_VERSION)
    vocab.write(writer)
    for slot in slots:
        nbytes = slot_nbytes(slot.shape, slot.qtype)
        writer.add_tensor_info(slot.gguf_name, slot.shape, np.dtype(np.float32), nbytes, slot.qtype)
    with atomic_output(out) as tmp:
        try:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for data in _prepared(spec, slots, lora):
                writer.write_tensor_data(data)
        finally:
            writer.close()
    return ConvertResult(out, len(slots), out.stat().st_size, time.perf_counter() - started)


def _plan(spec: ModelSpec, refs: list[TensorRef], outtype: str) -> list[_Slot]:
    """Every tensor of the GGUF, in order, checked before anything is written."""
    names = {ref.name for ref in refs}
    if EMBEDDINGS not in names:
        raise ConvertError(
            f"The weights have no {EMBEDDINGS}; this is not a complete {spec.model_type} model."
        )
    # A tied model reuses the embeddings as output; llama.cpp does the same when output.weight
    # is absent, so a saved copy of lm_head is left out rather than stored twice.
    skip_lm_head = spec.tie_embeddings or LM_HEAD not in names
    slots: list[_Slot] = []
    for ref in refs:
        if ref.name.endswith(SKIPPED_SUFFIXES) or (ref.name == LM_HEAD and skip_lm_head):
            continue
        gguf_name = spec.gguf_name(ref.name)
        slots.append(_Slot(gguf_name, ref.shape, slot_type(gguf_name, ref.shape, outtype), ref))
    factors = spec.rope_factors()
    if factors is not None:
        f32 = GGMLQuantizationType.F32
        slots.append(_Slot("rope_freqs.weight", factors.shape, f32, data=factors))
    expected = {f"blk.{i}.attn_q.weight" for i in range(spec.n_layers)} | {"output_norm.weight"}
    missing = sorted(expected - {s.gguf_name for s in slots})
    if missing:
        raise ConvertError(
            f"The weights lack {', '.join(missing[:3])}{' and more' if len(missing) > 3 else ''}: "
            f"config.json promises {spec.n_layers} layers. Is a weight shard missing?"
        )
    return slots


def _prepared(spec: ModelSpec, slots: list[_Slot], lora: LoraWeights | None) -> Iterator:
    """Each slot's bytes, in order, made by worker threads a few tensors ahead of the writer.

    Reading, merging and rounding to F16 happen in NumPy and safetensors, which release the GIL,
    so they overlap with each other and with writing the previous tensor. At most PREFETCH
    tensors are in flight, which keeps memory near a few tensors, not the model.
    """

    def prepare(slot: _Slot) -> np.ndarray:
        return encode(_load(spec, slot, lora), slot.qtype)

    with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="gguf-convert") as pool:
        pending: deque[Future] = deque()
        for slot in slots:
            pending.append(pool.submit(prepare, slot))
            if len(pending) > PREFETCH:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _load(spec: ModelSpec, slot: _Slot, lora: LoraWeights | None) -> np.ndarray:
    if slot.data is not None:
        return slot.data
    assert slot.source is not None
    array = read_tensor(slot.source)
    module = slot.source.name.removesuffix(".weight")
    if lora is not None and module in lora.pairs:
        merged = np.array(array, dtype=np.float32)  # a private float32 copy, added to in place
        array = np.add(merged, lora.delta(module), out=merged)
    return spec.to_gguf_rows(slot.source.name, array)


def _add_hyperparameters(writer: PackingGGUFWriter, spec: ModelSpec, n_rows: int) -> None:
    writer.add_block_count(spec.n_layers)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.hidden)
    writer.add_feed_forward_length(spec.intermediate)
    writer.add_head_count(spec.n_heads)
    writer.add_head_count_kv(spec.n_kv_heads)
    writer.add_rope_freq_base(spec.rope_theta)
    writer.add_rope_dimension_count(spec.head_dim)
    writer.add_layer_norm_rms_eps(spec.rms_eps)
    writer.add_vocab_size(n_rows)
    if spec.sliding_layers:
        writer.add_sliding_window(spec.sliding_window)
        writer.add_sliding_window_pattern(list(spec.sliding_layers))
        writer.add_rope_freq_base_swa(spec.rope_theta_local)
    if spec.model_type in ("qwen3", "gemma3_text") or spec.head_dim * spec.n_heads != spec.hidden:
        writer.add_key_length(spec.head_dim)
        writer.add_value_length(spec.head_dim)
    if spec.rope_type == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(spec.rope["factor"]))
