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
    bf16: bool  # fast bfloat16 matmuls (AMX / AVX512-BF16 on CPU, Ampere+ on CUDA)


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    seq_len: int
    batch_tokens: int
    micro_batch: int  # sequences per forward pass
    max_steps: int
    learning_rate: float
    dtype: str  # "float32" or "bfloat16" (autocast on CPU, weights on CUDA)
    qlora: bool
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
        props = torch.cuda.get_device_properties(0)
        return Hardware(
            device="cuda",
            name=props.name,
            cpu_threads=torch.get_num_threads(),
            ram_gb=ram_gb,
            vram_gb=props.total_memory / 2**30,
            gpus=torch.cuda.device_count(),
            bf16=torch.cuda.is_bf16_supported(),
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
    "gpu": dict(seq_len=1024, batch_tokens=32768, micro_batch=16, max_steps=0,
                learning_rate=5e-4, time_budget_s=300.0, max_epochs=2.0),
}  # fmt: skip


def choose_preset(config: TrainConfig, hardware: Hardware) -> Preset:
    """The preset named in config (or the one for this hardware), with the user's overrides."""
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
    # Memory decides how many sequences go through at once; gradient accumulation makes up the
    # rest of the step, so what the optimizer sees does not depend on the machine.
    memory_gb = hardware.vram_gb if device == "cuda" else hardware.ram_gb
    fits = 16 if memory_gb >= 20 else 8 if memory_gb >= 10 else 4 if memory_gb >= 6 else 2
    values["micro_batch"] = max(
        1, min(values["micro_batch"], fits, values["batch_tokens"] // values["seq_len"])
    )
    dtype = config.precision
    if dtype == "auto":
        dtype = "bfloat16" if hardware.bf16 else "float32"
    elif dtype == "bfloat16" and not hardware.bf16:
        raise PresetError(
            "precision = 'bfloat16' was asked for, but this "
            + ("GPU" if device == "cuda" else "CPU (no AVX512-BF16 or AMX)")
            + " has no fast bfloat16 matmuls; it would train slower than float32. "
            'Set [train] precision = "auto" or "float32".'
        )
    return Preset(
        name=name,
        device=device,
        dtype=dtype,
        qlora=device == "cuda" and config.qlora,
        **values,
    )


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
