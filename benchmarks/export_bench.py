"""Export speed: merge a LoRA into SmolLM2-135M and write an F16 GGUF, against copying bytes.

The floor is the cheapest thing that could produce the output: copying a file of the same size
on the same disk, synced as the export syncs its file. slmtui's export merges while converting
(alpha/r · B·A added to each weight as it streams from the safetensors file to the GGUF), so it
should cost a small multiple of that floor, and hold little more than one tensor in memory.

Each side runs in a fresh process, three times; the median is reported. Targets: <= 3x the
copy floor, peak RSS <= 2x the model's size.

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
    size = exports[0]["bytes"]
    source = folder / "bytes.bin"
    with source.open("wb") as handle:
        handle.write(os.urandom(size))
    copies = [python(COPY, str(source), str(folder / f"copy{i}.bin")) for i in range(REPEATS)]
    export_s = statistics.median(e["seconds"] for e in exports)
    copy_s = statistics.median(c["seconds"] for c in copies)
    peak = max(e["peak_rss_mb"] for e in exports)
    results = {
        "gguf_bytes": size,
        "model_bytes": model_bytes,
        "export_seconds": export_s,
        "copy_seconds": copy_s,
        "ratio_to_copy": export_s / copy_s,
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
    print(
        f"  peak RSS {peak:.0f} MB = {results['rss_to_model']:.2f}x the model's "
        f"{model_bytes / 2**20:.0f} MiB of float32 safetensors, "
        f"{results['rss_to_gguf']:.2f}x the F16 GGUF (target <= 2x)"
    )


if __name__ == "__main__":
    main()
