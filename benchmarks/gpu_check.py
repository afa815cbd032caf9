"""What the CUDA path does on a real card, in one JSON file: `benchmarks/gpu_check.sh`.

Every model is built from a published architecture with random weights (nothing is
downloaded). Each section records its figures, or why it was skipped (a package the machine
lacks), or the error it met, and the script goes on. Sections:

- facts: torch and CUDA versions, the card, compute capability, bfloat16 with and without
  emulation, which bitsandbytes library loaded;
- numerics: the fused LoRA layer, the sliced linear loss (vocabularies of 151,936 and 262,144)
  and packed attention against their plain references on the card, and which SDPA backend
  each attention case reaches;
- qlora_load: a Qwen2.5-1.5B-shaped model loaded in NF4, its memory;
- memory: peak activation memory per token of the 135M, 1.5B and 3B shapes, with gradient
  checkpointing on and off, and QLoRA on and off;
- training: `slmtui.ml.train` for 3 steps under the memory of a 12 GB and a 24 GB card
  (torch.cuda.set_per_process_memory_fraction): the probe's micro-batch, and no OOM;
- throughput: tokens/s of slmtui's training step against HF Trainer + PEFT, default and the
  careful bfloat16 recipe, on the same model and rows, in the same run;
- decode: llama.cpp's decode tokens/s with gpu_layers 0 and all.

`--smoke` runs every section on the CPU with tiny shapes: the script's own code is tested on
machines without a card (the figures then mean nothing). Without a card and without
`--smoke` it writes {"cuda": false, "reason": "no CUDA device"} and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SHAPES = {  # published architectures (see slmtui/ml/bases.py)
    "135M": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "1.5B": "Qwen/Qwen2.5-1.5B-Instruct",
    "3B": "Qwen/Qwen2.5-3B-Instruct",
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
        "tie_word_embeddings": True, "model_type": "qwen2"}  # fmt: skip
CARD_GB = (12, 24)


def section(report: dict, name: str):
    """Run one section into report[name]; a failure is recorded and the next one runs."""

    def wrap(function):
        started = time.perf_counter()
        try:
            report[name] = function()
        except ModuleNotFoundError as exc:
            report[name] = {"skipped": f"{exc.name} is not installed here (carry its wheel)"}
        except Exception as exc:
            report[name] = {"error": f"{type(exc).__name__}: {exc}",
                            "trace": traceback.format_exc()[-1500:]}  # fmt: skip
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
        said = report[name].get("error") or report[name].get("skipped") or "done"
        print(f"[gpu_check] {name}: {said}", flush=True)
        return function

    return wrap


def config_of(shape: str, smoke: bool) -> dict:
    from slmtui.ml.bases import CATALOG

    if smoke:
        return dict(TINY)
    return dict(next(c for c in CATALOG if c.repo == SHAPES[shape]).config)


def build(config: dict, dtype: torch.dtype, device: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(config)
    hf_config = AutoConfig.for_model(values.pop("model_type"), **values)
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(hf_config, dtype=dtype, attn_implementation="sdpa")


def facts(device: str) -> dict:
    found = {"torch": torch.__version__, "cuda_build": torch.version.cuda}
    if device == "cuda":
        major, minor = torch.cuda.get_device_capability()
        found |= {
            "device": torch.cuda.get_device_name(),
            "compute_capability": f"{major}.{minor}",
            "memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
            "bf16_with_emulation": torch.cuda.is_bf16_supported(including_emulation=True),
            "bf16_native": torch.cuda.is_bf16_supported(including_emulation=False),
            "driver_cuda": torch.cuda.driver_version() if hasattr(torch.cuda, "driver_version")
            else None,
        }  # fmt: skip
    try:
        import bitsandbytes

        library = getattr(bitsandbytes.cextension, "lib", None)
        found["bitsandbytes"] = {
            "version": bitsandbytes.__version__,
            "backend": str(getattr(bitsandbytes.cextension, "BNB_BACKEND", "")),
            "library": str(getattr(library, "_name", library)),
        }
    except ImportError as exc:
        found["bitsandbytes"] = f"not installed ({exc})"
    return found


def numerics(device: str, smoke: bool) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from slmtui.ml.fused_lora import _LoraLinear
    from slmtui.ml.linear_loss import linear_cross_entropy
    from slmtui.ml.packed_attention import packed_attention

    found: dict = {}
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    width, rows = (64, 32) if smoke else (1536, 2048)
    x = torch.randn(rows, width, device=device, dtype=dtype, requires_grad=True)
    weight = torch.randn(width * 2, width, device=device, dtype=dtype) / width**0.5
    lora_a = (torch.randn(16, width, device=device, dtype=dtype) / width**0.5).requires_grad_()
    lora_b = (torch.randn(width * 2, 16, device=device, dtype=dtype) * 0.1).requires_grad_()
    fused = _LoraLinear.apply(x, weight, None, lora_a, lora_b, 2.0)
    fused.float().square().sum().backward()
    grads = [t.grad.clone() for t in (x, lora_a, lora_b)]
    for t in (x, lora_a, lora_b):
        t.grad = None
    plain = x @ weight.t() + 2.0 * (x @ lora_a.t()) @ lora_b.t()
    plain.float().square().sum().backward()
    found["fused_lora_max_diff"] = float((fused - plain).abs().max())
    found["fused_lora_grad_max_rel_diff"] = max(
        float((g - t.grad).abs().max() / t.grad.abs().max().clamp(min=1e-6))
        for g, t in zip(grads, (x, lora_a, lora_b), strict=True)
    )
    for vocab in (151_936, 262_144):
        vocab = 1000 if smoke else vocab
        hidden = torch.randn(256 if smoke else 2048, width, device=device, dtype=dtype)
        hidden.requires_grad_()
        head = torch.randn(vocab, width, device=device, dtype=dtype) / width**0.5
        targets = torch.randint(0, vocab, (hidden.shape[0],), device=device)
        sliced = linear_cross_entropy(hidden, head, targets)
        reference = torch.nn.functional.cross_entropy(
            (hidden @ head.t()).float(), targets, reduction="sum"
        )
        difference = (sliced - reference).abs() / reference.abs()
        found[f"linear_loss_rel_diff_{vocab}"] = difference.item()
    heads, kv, dim, seq = (4, 2, 16, 64) if smoke else (12, 2, 128, 1024)
    query = torch.randn(1, heads, seq, dim, device=device, dtype=dtype)
    key = torch.randn(1, kv, seq, dim, device=device, dtype=dtype)
    value = torch.randn(1, kv, seq, dim, device=device, dtype=dtype)
    half = seq // 2
    positions = torch.cat([torch.arange(half), torch.arange(seq - half)]).unsqueeze(0).to(device)
    module = torch.nn.Module().eval()
    out, _ = packed_attention(module, query, key, value, None, position_ids=positions)
    expanded_k = key.repeat_interleave(heads // kv, dim=1)
    expanded_v = value.repeat_interleave(heads // kv, dim=1)
    pieces = [
        torch.nn.functional.scaled_dot_product_attention(
            query[:, :, s], expanded_k[:, :, s], expanded_v[:, :, s], is_causal=True
        )
        for s in (slice(0, half), slice(half, seq))
    ]
    reference = torch.cat(pieces, dim=2).transpose(1, 2)
    found["packed_attention_max_diff"] = float((out - reference).abs().max())
    backends = {}
    for name, backend in [("flash", SDPBackend.FLASH_ATTENTION),
                          ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                          ("math", SDPBackend.MATH)]:  # fmt: skip
        for case, d in [("head_dim_128", 128), ("head_dim_256", 256)]:
            d = 16 if smoke else d
            q = torch.randn(1, 4, 128, d, device=device, dtype=dtype, requires_grad=True)
            try:
                with sdpa_kernel([backend]):
                    torch.nn.functional.scaled_dot_product_attention(
                        q, q, q, is_causal=True
                    ).sum().backward()
                backends[f"{case}:{name}"] = "runs"
            except RuntimeError as exc:
                backends[f"{case}:{name}"] = f"refused: {str(exc).splitlines()[0][:120]}"
    found["sdpa_backends"] = backends
    return found


def qlora_load(device: str, smoke: bool) -> dict:
    import bitsandbytes  # noqa: F401  (skipped when absent)
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    from slmtui.ml.fit import parameter_count

    config = config_of("1.5B", smoke)
    folder = Path(tempfile.mkdtemp(prefix="gpu-check-")) / "model"
    build(config, torch.bfloat16, "cpu").save_pretrained(folder)
    AutoConfig.from_pretrained(folder)
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=torch.bfloat16,
                                      bnb_4bit_use_double_quant=True)  # fmt: skip
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=quantization, device_map={"": device}, dtype=torch.bfloat16
    )
    found = {
        "parameters": parameter_count(model),
        "numel_sum": sum(p.numel() for p in model.parameters()),
    }
    if device == "cuda":
        found["memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return found


def memory_per_token(device: str, smoke: bool) -> dict:
    from peft import LoraConfig, get_peft_model

    from slmtui.ml.lora_model import LORA_TARGETS

    found = {}
    seq = 64 if smoke else 1024
    for shape in SHAPES:
        config = config_of(shape, smoke)
        for checkpointing in (False, True):
            model = build(config, torch.bfloat16 if device == "cuda" else torch.float32, device)
            if checkpointing:
                model.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False}
                )
                model.enable_input_require_grads()
            lora = LoraConfig(r=16, lora_alpha=32, target_modules=LORA_TARGETS)
            model = get_peft_model(model, lora)
            ids = torch.randint(0, config["vocab_size"], (1, seq), device=device)
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            hidden = model.get_base_model().model(input_ids=ids).last_hidden_state
            hidden.float().sum().backward()
            key = f"{shape}:checkpointing_{'on' if checkpointing else 'off'}:qlora_off"
            if device == "cuda":
                found[key] = round((torch.cuda.max_memory_allocated() - before) / seq / 2**20, 3)
            else:
                found[key] = "measured on a card only"
            del model, hidden
            if device == "cuda":
                torch.cuda.empty_cache()
        found[f"{shape}:qlora_on"] = "see qlora_load (needs bitsandbytes)"
    found["unit"] = "MB of peak memory per token (one 1,024-token sequence, LoRA r=16)"
    return found


def tokenizer_folder(folder: Path) -> None:
    """A small ChatML tokenizer trained here (nothing is downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    text = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    tokenizer.train_from_iterator(text, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")  # fmt: skip
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    fast.save_pretrained(folder)


def training(device: str, smoke: bool) -> dict:
    import platformdirs  # noqa: F401  (slmtui's runs need it)

    found = {}
    config = config_of("1.5B", smoke) | {"vocab_size": 151_936 if not smoke else 512}
    root = Path(tempfile.mkdtemp(prefix="gpu-check-train-"))
    base = root / "base"
    build(config, torch.bfloat16, "cpu").save_pretrained(base)
    tokenizer_folder(base)
    writing = "\n\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted((ROOT / "samples").rglob("*"))
        if path.suffix in (".md", ".txt") and "chats" not in path.parts
    )
    pieces = [writing[i : i + 1500] for i in range(0, min(len(writing), 300_000), 1500)]
    examples = [{"kind": "raw", "text": piece, "chunk": f"c{i}"} for i, piece in enumerate(pieces)]
    for card in CARD_GB if device == "cuda" else (0,):
        run = root / f"run-{card}"
        (run / "dataset").mkdir(parents=True)
        train_lines = "\n".join(map(json.dumps, examples[1:])) + "\n"
        (run / "dataset" / "train.jsonl").write_text(train_lines)
        (run / "dataset" / "val.jsonl").write_text(json.dumps(examples[0]) + "\n")
        settings = {
            "preset": "gpu" if device == "cuda" else "cpu-quick", "max_steps": 3,
            "seq_len": 128 if smoke else 0, "batch_tokens": 256 if smoke else 0,
        }  # fmt: skip
        plan = {"base": str(base), "cache_root": str(root / "cache"),
                "dataset_dir": str(run / "dataset"), "train": settings}  # fmt: skip
        (run / "run.json").write_text(json.dumps(plan))
        fraction = card * 2**30 / torch.cuda.get_device_properties(0).total_memory if card else 1
        code = (
            "import sys, torch\n"
            "if torch.cuda.is_available():\n"
            f"    torch.cuda.set_per_process_memory_fraction({fraction})\n"
            "from slmtui.ml import train\n"
            f"sys.exit(train.main([{str(run)!r}, '--max-steps', '3']))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        kinds = [e["event"] for e in events]
        fitted = next((e for e in events if e["event"] == "fitted"), {})
        steps = [e for e in events if e["event"] == "step"]
        found[f"{card}GB" if card else "cpu"] = {
            "exit": done.returncode, "events": kinds, "fitted": fitted,
            "retries": [e for e in events if e["event"] == "retry"],
            "tokens_per_s": steps[-1]["tokens_per_s"] if steps else None,
            "peak_mb": steps[-1]["memory_mb"] if steps else None,
            "failed": next((e for e in events if e["event"] == "failed"), None),
            "stderr_tail": done.stderr[-800:] if done.returncode else "",
        }  # fmt: skip
    return found


class StepTimes:
    """A TrainerCallback (duck-typed) that notes when each optimizer step ends."""

    def __init__(self, device: str):
        self.device, self.times = device, []

    def __getattr__(self, name):  # every other callback event: nothing to do
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_step_end(self, *args, **kwargs):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())

    def rate(self, tokens_per_step: int) -> float:
        """Tokens a second from the end of the first step to the end of the last (the first
        step's warm-up left out, for both)."""
        return tokens_per_step * (len(self.times) - 1) / (self.times[-1] - self.times[0])


def throughput(device: str, smoke: bool) -> dict:
    """slmtui's step against HF Trainer + PEFT on the same model, rows and tokens."""
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments

    from slmtui.ml.fused_lora import use_fused_lora
    from slmtui.ml.lora_model import LORA_TARGETS
    from slmtui.ml.packed_attention import use_packed_attention
    from slmtui.ml.train import batch_loss

    config = config_of("1.5B", smoke)
    seq, rows, steps = (64, 2, 3) if smoke else (1024, 4, 12)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    ids = torch.randint(0, config["vocab_size"], (rows * steps, seq))
    found = {"tokens_per_step": rows * seq}

    def lora_model(weights: torch.dtype):
        lora = LoraConfig(r=16, lora_alpha=32, target_modules=LORA_TARGETS)
        return get_peft_model(build(config, weights, device), lora)

    ours = lora_model(dtype)
    use_packed_attention(ours)
    use_fused_lora(ours)
    optimizer = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-4)
    positions = torch.arange(seq).repeat(rows, 1).to(device)

    def autocast():
        return torch.autocast(device, dtype=dtype, enabled=device == "cuda")

    times = StepTimes(device)
    for step in range(steps):
        batch = ids[step * rows : (step + 1) * rows].to(device)
        loss, count = batch_loss(ours, batch, batch, positions, autocast)
        (loss / count).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.on_step_end()
    found["slmtui_tokens_per_s"] = round(times.rate(rows * seq))
    del ours, optimizer
    for recipe in ("default", "bf16_packed"):
        # The default recipe keeps float32 weights; the careful one bfloat16 weights and autocast.
        model = lora_model(dtype if recipe == "bf16_packed" else torch.float32)
        arguments = TrainingArguments(
            output_dir=tempfile.mkdtemp(), per_device_train_batch_size=rows, max_steps=steps,
            logging_steps=steps, save_strategy="no", report_to=[], use_cpu=device != "cuda",
            bf16=recipe == "bf16_packed" and device == "cuda", dataloader_num_workers=0,
        )  # fmt: skip
        times = StepTimes(device)
        data = [{"input_ids": row, "labels": row} for row in ids]
        Trainer(model=model, args=arguments, train_dataset=data, callbacks=[times]).train()
        found[f"hf_trainer_{recipe}_tokens_per_s"] = round(times.rate(rows * seq))
        del model
    for recipe in ("default", "bf16_packed"):
        found[f"ratio_vs_{recipe}"] = round(
            found["slmtui_tokens_per_s"] / max(1, found[f"hf_trainer_{recipe}_tokens_per_s"]), 2
        )
    return found


def decode(device: str, smoke: bool) -> dict:
    import gguf  # noqa: F401  (the converter needs it)
    import llama_cpp

    from slmtui.export.gguf_convert import convert_to_gguf

    config = config_of("1.5B", smoke)
    root = Path(tempfile.mkdtemp(prefix="gpu-check-decode-"))
    build(config, torch.bfloat16, "cpu").save_pretrained(root / "model")
    tokenizer_folder(root / "model")
    path = root / "model.gguf"
    convert_to_gguf(root / "model", path)
    found = {"gpu_offload_supported": llama_cpp.llama_supports_gpu_offload()}
    for layers in (0, -1):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_gpu_layers=layers, verbose=False)
        started = time.perf_counter()
        out = llm.create_completion("the sea", max_tokens=64, temperature=0.0)
        tokens = out["usage"]["completion_tokens"]
        found[f"gpu_layers_{layers}_tokens_per_s"] = round(
            tokens / (time.perf_counter() - started), 1
        )
        llm.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu_check.py")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        report = {"cuda": False, "reason": "no CUDA device", "torch": torch.__version__,
                  "cuda_build": torch.version.cuda}  # fmt: skip
        args.out.write_text(json.dumps(report, indent=2))
        print("[gpu_check] no CUDA device: nothing measured", flush=True)
        return 0
    device = "cuda" if cuda else "cpu"
    report: dict = {"cuda": cuda, "smoke": args.smoke}
    for name, function in [("facts", lambda: facts(device)),
                           ("numerics", lambda: numerics(device, args.smoke)),
                           ("qlora_load", lambda: qlora_load(device, args.smoke)),
                           ("memory", lambda: memory_per_token(device, args.smoke)),
                           ("training", lambda: training(device, args.smoke)),
                           ("throughput", lambda: throughput(device, args.smoke)),
                           ("decode", lambda: decode(device, args.smoke))]:  # fmt: skip
        section(report, name)(function)
        args.out.write_text(json.dumps(report, indent=2))  # what is done survives a time-out
    return 0


if __name__ == "__main__":
    sys.exit(main())
