"""Hardware detection and training presets.

A preset is the set of numbers that make a first run succeed on the machine at hand: sequence
length, tokens per step, steps, learning rate, precision. The user's `[train]` settings override
any of them; a zero in slmtui.toml means "the preset's value".
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import torch

from slmtui.config import TrainConfig


@dataclass(frozen=True)
class Hardware:
    device: str  # "cpu" or "cuda"
    name: str
    cpu_threads: int
    ram_gb: float
    vram_gb: float
    gpus: int
    bf16: bool  # native bfloat16 matmuls (AMX / AVX512-BF16 on CPU, compute 8.0+ on CUDA)
    compute: float = 0.0  # the CUDA compute capability (8.9 for an RTX 4070); 0 on a CPU


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    seq_len: int
    batch_tokens: int
    micro_batch: int  # sequences per forward pass
    max_steps: int
    learning_rate: float
    dtype: str  # "float32", "bfloat16" (autocast on CPU, weights on CUDA) or "float16" (CUDA)
    qlora: bool
    checkpointing: bool  # gradient checkpointing (non-reentrant)
    time_budget_s: float = 0.0  # > 0: steps sized to this much training (ml/budget.py)
    max_epochs: float = 2.0  # ... but never more passes over the training text than this

    def as_dict(self) -> dict:
        return asdict(self)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def detect_hardware() -> Hardware:
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    if torch.cuda.is_available():
        device = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(device)
        major, minor = torch.cuda.get_device_capability(device)
        return Hardware(
            device="cuda",
            name=props.name,
            cpu_threads=torch.get_num_threads(),
            ram_gb=ram_gb,
            vram_gb=props.total_memory / 2**30,
            gpus=torch.cuda.device_count(),
            # is_bf16_supported() counts emulation (Turing, Pascal): native is 8.0 and newer.
            bf16=major >= 8,
            compute=major + minor / 10,
        )
    flags = _cpu_flags()
    return Hardware(
        device="cpu",
        name="CPU",
        cpu_threads=torch.get_num_threads(),
        ram_gb=ram_gb,
        vram_gb=0.0,
        gpus=0,
        bf16=bool({"amx_bf16", "avx512_bf16"} & flags),
    )


PRESETS = {
    # About five minutes of training on the machine at hand, and at most two passes over the
    # text: a small corpus is seen twice, a large one as far as five minutes go. The
    # learning rate and the budget were chosen by benchmarks/voice_sweep.py over several
    # corpora and seeds (README: "Choosing the defaults").
    "cpu-quick": dict(seq_len=512, batch_tokens=1024, micro_batch=2, max_steps=0,
                      learning_rate=2e-3, time_budget_s=300.0, max_epochs=2.0),
    "cpu-full": dict(seq_len=512, batch_tokens=8192, micro_batch=4, max_steps=200,
                     learning_rate=5e-4),
    # Untuned until measured on a GPU (README: "Your GPU"): steps of 4 sequences, so that a
    # 100k-token corpus gets about 48 optimizer steps in its two passes, at a learning rate
    # between the CPU preset's (2e-3 at 1k tokens a step) and the usual 2e-4 of large batches.
    # The micro-batch is the probe's (ml/fit.py); this one is where it starts.
    "gpu": dict(seq_len=1024, batch_tokens=4096, micro_batch=4, max_steps=0,
                learning_rate=1e-3, time_budget_s=300.0, max_epochs=2.0),
}  # fmt: skip
# Families whose activations overflow float16: on a card without bfloat16 they train in float32.
FLOAT16_OVERFLOWS = ("gemma3_text", "gemma3", "gemma2")


def choose_preset(
    config: TrainConfig, hardware: Hardware, *, base_params: int = 0, family: str = ""
) -> Preset:
    """The preset named in config (or the one for this hardware), with the user's overrides.

    `base_params` and `family` (the base's parameter count and model_type, from its config)
    decide QLoRA under qlora = 'auto' and whether float16 is safe."""
    name = config.preset
    if name == "auto":
        name = "gpu" if hardware.device == "cuda" else "cpu-quick"
    if name == "gpu" and hardware.device != "cuda":
        raise PresetError(
            "The 'gpu' preset needs CUDA, and torch finds no CUDA device here. "
            'Use --preset cpu-quick (or set [train] preset = "auto").'
        )
    values = dict(PRESETS[name])
    for key in ("seq_len", "batch_tokens", "max_steps", "learning_rate"):
        override = getattr(config, key)
        if override:
            values[key] = override
    if config.minutes and values.get("time_budget_s"):
        values["time_budget_s"] = 60 * config.minutes
    if config.max_epochs:
        values["max_epochs"] = config.max_epochs
    device = "cuda" if name == "gpu" else "cpu"
    sequences = values["batch_tokens"] // values["seq_len"]
    if device == "cpu":
        # RAM decides how many sequences go through at once; gradient accumulation makes up
        # the rest of the step, so what the optimizer sees does not depend on the machine.
        ram = hardware.ram_gb
        fits = 16 if ram >= 20 else 8 if ram >= 10 else 4 if ram >= 6 else 2
        values["micro_batch"] = max(1, min(values["micro_batch"], fits, sequences))
    else:  # on a card, the probe measures it once the model is loaded (ml/fit.py)
        values["micro_batch"] = max(1, min(values["micro_batch"], sequences))
    dtype = _precision(config.precision, hardware, device, family)
    return Preset(
        name=name,
        device=device,
        dtype=dtype,
        qlora=_qlora(config, hardware, device, base_params),
        checkpointing=config.checkpointing == "on"
        or (config.checkpointing == "auto" and device == "cuda"),
        **values,
    )


def _precision(asked: str, hardware: Hardware, device: str, family: str) -> str:
    gpu = device == "cuda"
    if asked == "auto":
        if hardware.bf16:
            return "bfloat16"
        if gpu and family not in FLOAT16_OVERFLOWS:
            return "float16"
        return "float32"
    if asked == "bfloat16" and not hardware.bf16:
        raise PresetError(
            "precision = 'bfloat16' was asked for, but this "
            + (
                f"GPU (compute capability {hardware.compute:.1f}; native bfloat16 needs 8.0) "
                "would emulate it"
                if gpu
                else "CPU (no AVX512-BF16 or AMX) has no fast bfloat16 matmuls"
            )
            + '; it would train slower. Set [train] precision = "auto" or "float32".'
        )
    if asked == "float16" and not gpu:
        raise PresetError(
            "precision = 'float16' trains only on CUDA (CPUs have no fast float16 matmuls). "
            'Set [train] precision = "auto".'
        )
    if asked == "float16" and family in FLOAT16_OVERFLOWS:
        raise PresetError(
            f"precision = 'float16' is refused for {family} bases: their activations overflow "
            'float16. Set [train] precision = "auto" (bfloat16 on cards that have it, else '
            "float32)."
        )
    return asked


def _qlora(config: TrainConfig, hardware: Hardware, device: str, base_params: int) -> bool:
    """4-bit weights where 16-bit ones would crowd the card (or when asked for)."""
    mode = config.qlora_mode
    if mode != "auto":
        return mode == "on"
    if device != "cuda" or not base_params:
        return False
    return 2 * base_params > config.qlora_weights_share * hardware.vram_gb * 2**30


class PresetError(RuntimeError):
    """The requested preset cannot run on this machine."""


def measured_flops(device: str, dtype: torch.dtype, seconds: float = 0.3) -> float:
    """Matmul FLOP/s on this device and dtype, for an honest time estimate before training."""
    a = torch.randn(1024, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 1024, device=device, dtype=dtype)
    a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return count * 2 * 1024**3 / (time.perf_counter() - started)
