"""llama.cpp's own HF -> GGUF converter, kept by setup, and a field-by-field GGUF comparison.

Setup (Makefile) unpacks `convert_hf_to_gguf.py`, its `conversion/` package and its `gguf-py`
from the llama-cpp-python source distribution it builds the wheel from, into
~/.cache/slmtui/reference/llama.cpp-VERSION. It runs here as llama.cpp's users run it: a child
Python with that gguf-py first on the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader

LLAMA_CPP_VERSION = "0.3.36"
REFERENCE = Path(
    os.environ.get(
        "SLMTUI_REFERENCE_CONVERTER",
        Path.home() / ".cache" / "slmtui" / "reference" / f"llama.cpp-{LLAMA_CPP_VERSION}",
    )
)


def reference_convert(folder: Path, out: Path, outtype: str = "f16") -> Path:
    script = REFERENCE / "convert_hf_to_gguf.py"
    assert script.is_file(), f"{script} is missing: run `make setup`, which keeps it"
    env = {**os.environ, "PYTHONPATH": f"{REFERENCE / 'gguf-py'}{os.pathsep}{REFERENCE}"}
    done = subprocess.run(
        [sys.executable, str(script), str(folder), "--outfile", str(out), "--outtype", outtype],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def metadata(path: Path) -> dict[str, object]:
    """Every key-value field of a GGUF as plain Python values (arrays as lists)."""
    fields = GGUFReader(path).fields.items()
    return {name: field.contents() for name, field in fields if not name.startswith("GGUF.")}


def tensors(path: Path) -> dict[str, tuple[str, tuple[int, ...], np.ndarray]]:
    """name -> (type, shape, raw bytes) of every tensor."""
    return {
        t.name: (t.tensor_type.name, tuple(int(d) for d in t.shape), np.asarray(t.data))
        for t in GGUFReader(path).tensors
    }


# Differences between the two converters' files that are intended, each with its reason.
DESCRIPTIVE = "descriptive only: llama.cpp names a model from its config, slmtui from its folder"
INTENDED = {
    "general.name": DESCRIPTIVE,
    "general.basename": DESCRIPTIVE,
    "general.finetune": DESCRIPTIVE,
    "general.size_label": DESCRIPTIVE,
    "general.type": "llama.cpp reads a file without it as a model",
    "tokenizer.ggml.add_sep_token": (
        "llama.cpp reads it off the post-processor's pair template; slmtui never encodes pairs, "
        "and llama.cpp treats a missing flag as false for these tokenizers"
    ),
    "tokenizer.ggml.add_eos_token": (
        "slmtui writes the flag even when false: llama.cpp's default for a missing flag differs "
        "per tokenizer model"
    ),
}


# Keys one converter writes and the other leaves for llama.cpp to derive, and what llama.cpp then
# derives: the value written must equal it. (llama.cpp's converter writes the head size for every
# family; slmtui writes the rope dimension and vocabulary size for every family.)
def derived_value(key: str, fields: dict) -> object:
    arch = fields["general.architecture"]
    head = fields[f"{arch}.embedding_length"] // fields[f"{arch}.attention.head_count"]
    return {
        f"{arch}.attention.key_length": head,
        f"{arch}.attention.value_length": head,
        f"{arch}.rope.dimension_count": fields.get(f"{arch}.attention.key_length", head),
        f"{arch}.vocab_size": len(fields["tokenizer.ggml.tokens"]),
    }.get(key, KeyError)


def compare(ours: Path, theirs: Path, intended: dict[str, str] | None = None) -> list[str]:
    """Every difference between two GGUFs that is not intended, in words (empty: equal)."""
    intended = {**INTENDED, **(intended or {})}
    problems = []
    mine, reference = metadata(ours), metadata(theirs)
    for key in sorted(set(mine) | set(reference)):
        if key in intended or mine.get(key) == reference.get(key):
            continue
        present, fields = (mine, reference) if key not in reference else (reference, mine)
        if (key not in mine or key not in reference) and present[key] == derived_value(key, fields):
            continue
        problems.append(
            f"{key}: ours {_short(mine.get(key))}, llama.cpp {_short(reference.get(key))}"
        )
    a, b = tensors(ours), tensors(theirs)
    if set(a) != set(b):
        problems.append(
            f"tensors only in ours {sorted(set(a) - set(b))}, only in llama.cpp's "
            f"{sorted(set(b) - set(a))}"
        )
    for name in sorted(set(a) & set(b)):
        if a[name][:2] != b[name][:2]:
            problems.append(f"{name}: ours {a[name][:2]}, llama.cpp {b[name][:2]}")
        elif a[name][2].tobytes() != b[name][2].tobytes():
            problems.append(f"{name}: same type and shape, different bytes")
    return problems


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."
