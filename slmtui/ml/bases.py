"""Bases people pick, and whether each fits this machine: `python -m slmtui.ml.bases`.

The list holds each base's published architecture (the numbers of its config.json), its
licence and whether its hub repository is gated. Nothing about memory is written by hand: the
parameters come from the architecture (`fit.config_parameters`), and the activations a layer
keeps for its backward pass are measured here, on one layer of the base's real widths with
random weights (the bytes autograd saves per token, weights excluded), then scaled to the
preset's sequence length, precision and checkpointing. What a run needs is then

- weights: 16 bits a parameter on a card (32 on a CPU), or NF4 (4.5 bits) with QLoRA, whose
  preparation also upcasts the embeddings and norms to float32;
- the LoRA weights, their gradients and AdamW's two moments (float32);
- activations: every layer's for one sequence of the preset, or with gradient checkpointing
  each layer's input plus one layer's while it is recomputed;
- a reserve for what is not ours: 1.5 GB of a card (the desktop and CUDA's context), 3 GB of
  RAM (the system and the app).

`fits` when LoRA needs no more than the memory there is, `fits with QLoRA` when only 4-bit
weights do, `too big` otherwise. `use NAME` sets a base: it downloads a hub id (with a
progress bar), says what to do for a gated repository, and refuses a base without a chat
template before any run is prepared.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from slmtui.ml import fit
from slmtui.ml.lora_model import LORA_TARGETS

RESERVE_CARD = 1.5 * 2**30
RESERVE_RAM = 3.0 * 2**30
MEASURE_TOKENS = 64


@dataclass(frozen=True)
class Candidate:
    repo: str
    licence: str
    gated: bool
    config: dict

    @property
    def name(self) -> str:
        return self.repo.split("/")[-1]


def _llama(hidden, layers, inner, heads, kv, vocab, head_dim=None, tied=True, **extra) -> dict:
    config = {"hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": inner,
              "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
              "tie_word_embeddings": tied, "model_type": "llama", **extra}  # fmt: skip
    if head_dim:
        config["head_dim"] = head_dim
    return config


# Published architectures (config.json) of the bases this tool is for.
CATALOG = [
    Candidate("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", False,
              _llama(576, 30, 1536, 9, 3, 49152)),
    Candidate("HuggingFaceTB/SmolLM2-360M-Instruct", "apache-2.0", False,
              _llama(960, 32, 2560, 15, 5, 49152)),
    Candidate("HuggingFaceTB/SmolLM2-1.7B-Instruct", "apache-2.0", False,
              _llama(2048, 24, 8192, 32, 32, 49152)),
    Candidate("Qwen/Qwen2.5-1.5B-Instruct", "apache-2.0", False,
              _llama(1536, 28, 8960, 12, 2, 151936, model_type="qwen2")),
    Candidate("Qwen/Qwen2.5-3B-Instruct", "qwen-research", False,
              _llama(2048, 36, 11008, 16, 2, 151936, model_type="qwen2")),
    Candidate("Qwen/Qwen3-1.7B", "apache-2.0", False,
              _llama(2048, 28, 6144, 16, 8, 151936, 128, model_type="qwen3")),
    Candidate("Qwen/Qwen3-4B", "apache-2.0", False,
              _llama(2560, 36, 9728, 32, 8, 151936, 128, model_type="qwen3")),
    Candidate("meta-llama/Llama-3.2-1B-Instruct", "llama3.2", True,
              _llama(2048, 16, 8192, 32, 8, 128256, 64)),
    Candidate("meta-llama/Llama-3.2-3B-Instruct", "llama3.2", True,
              _llama(3072, 28, 8192, 24, 8, 128256, 128)),
    Candidate("google/gemma-3-1b-it", "gemma", True,
              _llama(1152, 26, 6912, 4, 1, 262144, 256, model_type="gemma3_text",
                     sliding_window=512, query_pre_attn_scalar=256)),
]  # fmt: skip


def layer_activation_bytes(
    config: dict, dtype: torch.dtype = torch.float32, rank: int = 16
) -> float:
    """Bytes one decoder layer of these widths, with its LoRA, keeps for backward, per token,
    in `dtype`: measured on one random layer (the weights, already in memory, not counted)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    small = {**config, "num_hidden_layers": 1, "vocab_size": 256}
    model_type = small.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **small)
    hf_config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype)
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(LORA_TARGETS))
    model = get_peft_model(model, lora).get_base_model()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    saved = 0

    def pack(tensor: torch.Tensor):
        nonlocal saved
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in weights and pointer not in seen:
            seen.add(pointer)
            saved += tensor.untyped_storage().nbytes()
        return tensor

    embeds = torch.randn(1, MEASURE_TOKENS, config["hidden_size"], dtype=dtype)
    embeds.requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        hidden = model.model(inputs_embeds=embeds, use_cache=False).last_hidden_state
    # (the LoRA weights are trainable parameters: among `weights`, not counted)
    hidden.float().sum().backward()
    return saved / MEASURE_TOKENS


def lora_parameters(config: dict, rank: int) -> int:
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    heads, kv = config["num_attention_heads"], config.get("num_key_value_heads") or 0
    head_dim = config.get("head_dim") or hidden // heads
    shapes = {
        "q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv * head_dim),
        "v_proj": (hidden, kv * head_dim), "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inner), "up_proj": (hidden, inner), "down_proj": (inner, hidden),
    }  # fmt: skip
    per_layer = sum(rank * (a + b) for name, (a, b) in shapes.items() if name in LORA_TARGETS)
    return per_layer * config["num_hidden_layers"]


@dataclass(frozen=True)
class Fit:
    repo: str
    name: str
    params: int
    licence: str
    gated: bool
    lora_bytes: int
    qlora_bytes: int
    verdict: str  # "fits", "fits with QLoRA", "too big"


def fit_of(candidate: Candidate, *, memory: float, device: str, seq_len: int, rows: int,
           dtype: str, checkpointing: bool, rank: int, per_layer: float) -> Fit:  # fmt: skip
    """What LoRA and QLoRA runs of this base need at the preset, and the verdict;
    `per_layer` is a layer's measured activation bytes per token in the preset's precision."""
    config = candidate.config
    params = fit.config_parameters(config)
    width = 4 if dtype == "float32" else 2
    layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    tokens = seq_len * rows
    if checkpointing:
        activations = tokens * (layers * hidden * width + per_layer)
    else:
        activations = tokens * layers * per_layer
    adapter = lora_parameters(config, rank) * 16  # float32 weights, gradients, two moments
    weights = fit.weights_bytes(params, "float32" if device == "cpu" else dtype, False)
    embedding = config["vocab_size"] * hidden
    # NF4 holds the linear layers; the embeddings and norms are upcast to float32.
    quantized = fit.weights_bytes(params - embedding, dtype, True) + 4 * embedding
    lora = int(weights + adapter + activations)
    qlora = int(quantized + adapter + activations)
    reserve = RESERVE_CARD if device == "cuda" else RESERVE_RAM
    room = memory - reserve
    verdict = "fits" if lora <= room else "fits with QLoRA" if qlora <= room else "too big"
    return Fit(candidate.repo, candidate.name, params, candidate.licence, candidate.gated,
               lora, qlora, verdict)  # fmt: skip


def machine_fits(train_config) -> dict:
    """Every catalog base against this machine, at the preset it would train with."""
    from slmtui.ml.presets import choose_preset, detect_hardware

    hardware = detect_hardware()
    preset = choose_preset(train_config, hardware)
    memory = (hardware.vram_gb if hardware.device == "cuda" else hardware.ram_gb) * 2**30
    rows = 1 if hardware.device == "cuda" else preset.micro_batch  # on a card: at least one
    # A card keeps 16-bit activations; this CPU's runs keep float32 ones (autocast or not).
    measure_dtype = torch.bfloat16 if hardware.device == "cuda" else torch.float32
    found = []
    measured: dict[tuple, float] = {}
    for candidate in CATALOG:
        config = candidate.config
        widths = tuple(sorted((k, str(v)) for k, v in config.items() if k != "vocab_size"))
        if widths not in measured:
            measured[widths] = layer_activation_bytes(config, measure_dtype, train_config.lora_r)
        found.append(
            fit_of(
                candidate,
                memory=memory,
                device=hardware.device,
                seq_len=preset.seq_len,
                rows=rows,
                dtype=preset.dtype,
                checkpointing=preset.checkpointing,
                rank=train_config.lora_r,
                per_layer=measured[widths],
            )
        )
    return {
        "machine": {
            "device": hardware.device, "name": hardware.name,
            "memory_gb": round(memory / 2**30, 1), "preset": preset.name,
            "seq_len": preset.seq_len, "sequences": rows, "dtype": preset.dtype,
            "checkpointing": preset.checkpointing,
        },
        "bases": [asdict(f) for f in found],
    }  # fmt: skip


# -- setting a base ------------------------------------------------------------------------------


def chat_template_problem(folder: Path) -> str | None:
    """Why a base folder cannot be trained on chats (None: it has a chat template)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return None
    try:
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    except (OSError, ValueError):
        tokenizer_config = {}
    if tokenizer_config.get("chat_template"):
        return None
    return (
        f"{folder.name} has no chat template (a base model, not an instruct one): slmtui "
        "trains the chat template's turns; pick the model's -Instruct (or -it) version"
    )


def use(base: str, cache_root: Path | None = None) -> dict:
    """Check (and for a hub id, download) a base before it is set: {"base": ..., "folder"}."""
    from slmtui.ml.base import BaseModelError, read_gguf_info, resolve_base

    catalog = {c.name.casefold(): c.repo for c in CATALOG}
    base = catalog.get(base.casefold(), base)
    try:
        folder = resolve_base(base, cache_root)
    except BaseModelError as exc:
        return {"base": base, "error": str(exc)}
    path = Path(base).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        if not read_gguf_info(path).chat_template:
            return {"base": base, "error": f"{path.name} carries no chat template"}
    else:
        problem = chat_template_problem(folder)
        if problem:
            return {"base": base, "error": problem}
    return {"base": base, "folder": str(folder)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slmtui.ml.bases")
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--use", metavar="BASE")
    args = parser.parse_args(argv)
    from slmtui.config import Config
    from slmtui.config_file import load_config

    config = load_config(args.workspace / "slmtui.toml") if args.workspace else Config()
    if args.use:
        cache = args.workspace / ".slmtui" / "cache" if args.workspace else None
        print(json.dumps(use(args.use, cache)))
        return 0
    print(json.dumps(machine_fits(config.train)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
