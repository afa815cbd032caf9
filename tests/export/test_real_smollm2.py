"""The real default base, SmolLM2-135M: our F16 GGUF agrees with the bundled one and with HF.

The bundled GGUF is what slmtui's HF folder was dequantized from, so converting that folder back
must give the same tokenizer and metadata, and (the bundled file being Q4_1) nearly the same
predictions. The conversion runs in a child process, which also measures its peak memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from gguf_parity import gguf_logits, hf_ids, hf_logits, load_hf, open_llama
from reference import compare, reference_convert

from slmtui.ml.base import resolve_base
from slmtui.tokenizer import bundled_gguf_path

pytestmark = pytest.mark.slow

NEXT_TOKEN_PROMPTS = (
    "The capital of France is",
    "Once upon a time, there was a",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    if n <",
    "The sun rises in the",
    "My favourite season is autumn because the leaves",
    "<|im_start|>user\nName a fruit that is yellow.<|im_end|>\n<|im_start|>assistant\n",
    "Water boils at 100 degrees",
    "import numpy as",
    "Thank you very much for your",
)
TOKENIZER_KEYS = (
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.chat_template",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
)
_CONVERT = r"""
import json, re, sys
from pathlib import Path
from slmtui.export.gguf_convert import convert_to_gguf
result = convert_to_gguf(Path(sys.argv[1]), Path(sys.argv[2]), outtype="f16")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with torch).
status = Path("/proc/self/status").read_text()
print(json.dumps({
    "seconds": result.seconds,
    "bytes": result.bytes,
    "tensors": result.tensor_count,
    "peak_rss": int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


@dataclass(frozen=True)
class Converted:
    folder: Path
    gguf: Path
    stats: dict


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    cache = tmp_path_factory.mktemp("smollm2")
    folder = resolve_base("default", cache_root=cache)
    out = cache / "smollm2-f16.gguf"
    run = subprocess.run(
        [sys.executable, "-c", _CONVERT, str(folder), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return Converted(folder, out, json.loads(run.stdout.strip().splitlines()[-1]))


def _fields(path: Path) -> dict:
    return {name: field.contents() for name, field in GGUFReader(path).fields.items()}


def test_streaming_conversion_stays_small(smollm2):
    weights = sum(p.stat().st_size for p in smollm2.folder.glob("*.safetensors"))
    stats = smollm2.stats
    print(f"SmolLM2-135M F16: {stats}; safetensors {weights / 2**20:.0f} MiB")
    assert stats["tensors"] == 1 + 1 + 30 * 9  # embeddings, final norm, 30 blocks; output tied
    assert not stats["torch_imported"]
    assert stats["peak_rss"] <= 2 * weights


def test_tokenizer_and_metadata_equal_the_bundled_gguf(smollm2):
    ours, bundled = _fields(smollm2.gguf), _fields(bundled_gguf_path())
    for key in TOKENIZER_KEYS:
        assert ours[key] == bundled[key], key
    assert ours["tokenizer.ggml.pre"] == "smollm"
    assert (ours["tokenizer.ggml.bos_token_id"], ours["tokenizer.ggml.eos_token_id"]) == (1, 2)
    assert ours["tokenizer.ggml.padding_token_id"] == 2
    assert ours["tokenizer.ggml.add_bos_token"] is False
    for key in ("block_count", "embedding_length", "attention.head_count_kv", "rope.freq_base"):
        assert ours[f"llama.{key}"] == bundled[f"llama.{key}"], key


def test_top1_agrees_with_the_bundled_q4_1(smollm2):
    ours, bundled = open_llama(smollm2.gguf), open_llama(bundled_gguf_path())
    agree = 0
    for prompt in NEXT_TOKEN_PROMPTS:
        ids = ours.tokenize(prompt.encode(), add_bos=False, special=True)
        assert ids == bundled.tokenize(prompt.encode(), add_bos=False, special=True)
        agree += int(gguf_logits(ours, ids)[-1].argmax() == gguf_logits(bundled, ids)[-1].argmax())
    print(f"next-token agreement, our F16 vs bundled Q4_1: {agree}/{len(NEXT_TOKEN_PROMPTS)}")
    assert agree >= 8


def test_f16_logits_match_transformers(smollm2):
    model, llm = load_hf(smollm2.folder), open_llama(smollm2.gguf)
    worst, agree, total = 0.0, 0, 0
    for prompt in NEXT_TOKEN_PROMPTS[:4]:
        ids = hf_ids(smollm2.folder, prompt)
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
        want, got = hf_logits(model, ids), gguf_logits(llm, ids)
        worst = max(worst, float(np.abs(want - got).max()))
        agree += int((want.argmax(-1) == got.argmax(-1)).sum())
        total += len(ids)
    print(f"SmolLM2-135M F16 vs transformers: max abs {worst:.4f}, argmax {agree}/{total}")
    assert worst <= 0.5
    assert agree >= total - 1


def test_same_file_as_llama_cpp_converter_on_real_weights(smollm2, tmp_path):
    """All 272 tensors and every metadata key but the intended ones, on the real weights."""
    theirs = reference_convert(smollm2.folder, tmp_path / "llama-cpp.gguf", outtype="f16")
    assert compare(smollm2.gguf, theirs) == []
    assert len(GGUFReader(theirs).tensors) == 272
