"""Export speed: merge a LoRA into SmolLM2-135M and write an F16 GGUF, against copying bytes.

The floor is the cheapest thing that could produce the output: copying a file of the same size
on the same disk, synced as the export syncs its file. slmtui's export merges while converting
(alpha/r · B·A added to each weight as it streams from the safetensors file to the GGUF), so it
should cost a small multiple of that floor, and hold little more than one tensor in memory.

Each side runs in a fresh process, three times; the median is reported. Targets: <= 3x the
copy floor, peak RSS <= 2x the model's size. The peer path a user would otherwise take (PEFT's
merge_and_unload + save_pretrained, then llama.cpp's own convert_hf_to_gguf.py, kept by setup)
runs in the same run, and its ratio to the same floor is printed beside ours.

Run: .venv/bin/python benchmarks/export_bench.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPEATS = 3

MAKE_ADAPTER = r"""
import sys, torch
from peft import LoraConfig, get_peft_model
from slmtui.ml.base import load_base
model, _ = load_base(sys.argv[1])
torch.manual_seed(0)
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
lora = LoraConfig(r=16, lora_alpha=32, target_modules=targets, init_lora_weights=False)
get_peft_model(model, lora).save_pretrained(sys.argv[2])
"""

CONVERT = r"""
import json, sys, time
from slmtui.export.gguf_convert import convert_to_gguf
started = time.perf_counter()
result = convert_to_gguf(sys.argv[1], sys.argv[2], outtype="f16", adapter=sys.argv[3])
seconds = time.perf_counter() - started
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(json.dumps({"seconds": seconds, "bytes": result.bytes, "peak_rss_mb": int(hwm) / 1024}))
"""

# The path a user would otherwise take: PEFT merges and saves a full model, then llama.cpp's own
# converter (kept by setup) writes the F16 GGUF.
PEER = r"""
import json, os, subprocess, sys, tempfile, time
started = time.perf_counter()
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, out, adapter, reference = sys.argv[1:5]
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
merged = tempfile.mkdtemp(prefix="slmtui-peer-")
model.save_pretrained(merged)
AutoTokenizer.from_pretrained(base).save_pretrained(merged)
merge_s = time.perf_counter() - started
env = {**os.environ, "PYTHONPATH": f"{reference}/gguf-py:{reference}"}
subprocess.run(
    [sys.executable, f"{reference}/convert_hf_to_gguf.py", merged, "--outfile", out,
     "--outtype", "f16"], check=True, env=env, capture_output=True,
)
print(json.dumps({"seconds": time.perf_counter() - started, "merge_seconds": merge_s}))
"""
REFERENCE = Path.home() / ".cache" / "slmtui" / "reference" / "llama.cpp-0.3.36"

COPY = r"""
import json, os, shutil, sys, time
started = time.perf_counter()
shutil.copyfile(sys.argv[1], sys.argv[2])
with open(sys.argv[2], "rb") as handle:
    os.fsync(handle.fileno())  # the export syncs its file before the rename; so does the floor
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def python(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from slmtui.ml.base import resolve_base

    base = resolve_base("default")
    model_bytes = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    folder = Path(tempfile.mkdtemp(prefix="slmtui-export-bench-"))
    adapter = folder / "adapter"
    subprocess.run([sys.executable, "-c", MAKE_ADAPTER, str(base), str(adapter)], check=True)

    exports = []
    for index in range(REPEATS):
        exports.append(python(CONVERT, str(base), str(folder / f"out{index}.gguf"), str(adapter)))
    peers = []
    if (REFERENCE / "convert_hf_to_gguf.py").is_file():
        peers = [
            python(PEER, str(base), str(folder / f"peer{i}.gguf"), str(adapter), str(REFERENCE))
            for i in range(REPEATS)
        ]
    size = exports[0]["bytes"]
    source = folder / "bytes.bin"
    with source.open("wb") as handle:
        handle.write(os.urandom(size))
    copies = [python(COPY, str(source), str(folder / f"copy{i}.bin")) for i in range(REPEATS)]
    export_s = statistics.median(e["seconds"] for e in exports)
    copy_s = statistics.median(c["seconds"] for c in copies)
    peak = max(e["peak_rss_mb"] for e in exports)
    peer_s = statistics.median(p["seconds"] for p in peers) if peers else None
    results = {
        "gguf_bytes": size,
        "model_bytes": model_bytes,
        "export_seconds": export_s,
        "copy_seconds": copy_s,
        "ratio_to_copy": export_s / copy_s,
        "peer_seconds": peer_s,
        "peer_ratio_to_copy": peer_s / copy_s if peer_s else None,
        "speedup_over_peer": peer_s / export_s if peer_s else None,
        "peak_rss_mb": peak,
        "rss_to_model": peak * 2**20 / model_bytes,
        "rss_to_gguf": peak * 2**20 / size,
    }
    for path in folder.glob("*"):
        if path.is_file():
            path.unlink()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("SmolLM2-135M + LoRA r=16 (all linear layers) -> merged F16 GGUF, median of 3")
    print(f"  export (merge while converting) {export_s:6.2f} s   {size / 2**20:.0f} MiB written")
    print(f"  copying the same bytes          {copy_s:6.2f} s")
    print(f"  ratio {results['ratio_to_copy']:.2f}x the copy floor (target <= 3x)")
    if peer_s is None:
        print("  peer path skipped: llama.cpp's converter is not in ~/.cache (run make setup)")
    else:
        print(
            f"  peer path (PEFT merge_and_unload + save_pretrained, then llama.cpp's "
            f"convert_hf_to_gguf.py) {peer_s:6.2f} s = {results['peer_ratio_to_copy']:.2f}x the "
            f"copy floor; slmtui is {results['speedup_over_peer']:.1f}x faster"
        )
    print(
        f"  peak RSS {peak:.0f} MB = {results['rss_to_model']:.2f}x the model's "
        f"{model_bytes / 2**20:.0f} MiB of float32 safetensors, "
        f"{results['rss_to_gguf']:.2f}x the F16 GGUF (target <= 2x)"
    )


if __name__ == "__main__":
    main()
