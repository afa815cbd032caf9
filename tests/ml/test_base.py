"""The base model folder: the tiny test llama, the real dequantized SmolLM2, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from slmtui.ml.base import BaseModelError, load_base, resolve_base
from slmtui.tokenizer import bundled_gguf_path

CHATML_HI = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
DEFAULT_SYSTEM = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n"
)
SAMPLES = [
    "Hello",
    "Café, naïve, Ærøskøbing and façade.",
    "Rain again 🌧️ — tea, then the 🐈 on my lap.",
    "東京の夜は静かです。",
    "def add(a, b):\n    return a + b  # 2 + 2 = 4\n",
    "<|im_start|>user\nHi<|im_end|>\n",
]
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Count from one to five.",
    "What colour is the sky on a clear day?",
    "Say hello.",
    "Translate 'good morning' into French.",
    "What is 2 + 2?",
    "Name a fruit that is yellow.",
    "Answer with one word: what is the opposite of hot?",
    "Finish the sentence: The quick brown fox",
]


def test_tiny_model_loads_and_runs(tiny_base):
    assert (tiny_base / "model.safetensors").is_file()
    assert not list(tiny_base.glob("*.bin"))
    model, tokenizer = load_base(tiny_base)
    ids = tokenizer.encode("The kettle on, the wireless low.")
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), 49152)
    assert model.config.tie_word_embeddings
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.generation_config.eos_token_id == 2


def test_tiny_tokenizer_is_ready_for_chat_training(tiny_base):
    _, tokenizer = load_base(tiny_base)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 2
    assert tokenizer.pad_token_id == 2
    assert tokenizer.bos_token_id == 1 and tokenizer.unk_token_id == 0
    assert 1 not in tokenizer.encode("Hello")
    assert tokenizer("Hello")["input_ids"] == tokenizer.encode("Hello", add_special_tokens=False)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    # SmolLM2's template adds its default system line when the chat has none.
    assert rendered == DEFAULT_SYSTEM + CHATML_HI


def test_tokenizer_matches_the_core_tokenizer(tiny_base, tokenizer):
    _, hf_tokenizer = load_base(tiny_base)
    for text in SAMPLES:
        assert hf_tokenizer.encode(text) == tokenizer.encode(text).ids, text
        assert hf_tokenizer.decode(hf_tokenizer.encode(text)) == text


def test_a_local_folder_is_used_in_place(tiny_base):
    assert resolve_base(str(tiny_base)) == tiny_base


def test_pickled_weights_are_refused(tmp_path, tiny_base):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_base / "config.json").read_text())
    (folder / "tokenizer.json").write_text((tiny_base / "tokenizer.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(BaseModelError, match="safetensors") as error:
        resolve_base(str(folder))
    assert "pytorch_model.bin" in str(error.value)


def test_missing_and_wrong_bases_fail_clearly(tmp_path):
    with pytest.raises(BaseModelError, match="not found"):
        resolve_base(str(tmp_path / "nowhere" / "model.gguf"))
    with pytest.raises(BaseModelError, match=r"no config\.json"):
        resolve_base(str(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BaseModelError, match=r"not a \.gguf"):
        resolve_base(str(text))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(BaseModelError, match="cannot be read as a GGUF"):
        resolve_base(str(broken), cache_root=tmp_path / "cache")
    assert not any((tmp_path / "cache" / "base").iterdir())


def test_unsupported_architecture_is_named(tmp_path):
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    save_file({"w": torch.zeros(1)}, folder / "model.safetensors")
    with pytest.raises(BaseModelError, match=r"'gpt2'.*llama, qwen2, qwen3"):
        resolve_base(str(folder))


def test_hub_failure_is_a_clear_error(tmp_path):
    # A fresh interpreter, because huggingface_hub reads HF_HUB_OFFLINE when it is imported.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = "from slmtui.ml.base import resolve_base; resolve_base('someorg/no-such-model')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "BaseModelError: Could not fetch 'someorg/no-such-model'" in out.stderr


@pytest.mark.slow
def test_default_base_is_dequantized_once_and_matches_llama_cpp(tmp_path):
    cache_root = tmp_path / "cache"
    interrupted_conversion_leaves_no_folder(cache_root)

    started = time.perf_counter()
    folder = resolve_base("default", cache_root)
    converted_in = time.perf_counter() - started
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    assert config["tie_word_embeddings"] is True
    assert "quantization_config" not in config
    assert config["eos_token_id"] == 2
    assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == 2

    started = time.perf_counter()
    assert resolve_base("default", cache_root) == folder
    cached_in = time.perf_counter() - started
    assert cached_in < converted_in / 10
    visible = [p.name for p in (cache_root / "base").iterdir() if not p.name.startswith(".")]
    assert visible == [folder.name]

    model, tokenizer = load_base(folder)
    agreement = next_token_agreement_with_llama_cpp(model, tokenizer)
    assert agreement >= 0.8


def interrupted_conversion_leaves_no_folder(cache_root: Path) -> None:
    """Kill a conversion midway: the cache holds either a complete folder or none at all."""
    code = f"from slmtui.ml.base import resolve_base; resolve_base('default', {str(cache_root)!r})"
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((cache_root / "base").glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2)  # well inside the conversion, which takes 15 s or so
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    for entry in (cache_root / "base").iterdir():
        if not entry.name.startswith("."):
            assert (entry / "model.safetensors").is_file() and (entry / "tokenizer.json").is_file()


def next_token_agreement_with_llama_cpp(model, tokenizer) -> float:
    """How often the dequantized model's greedy next token equals llama.cpp's on the Q4_1 GGUF.

    Q4_1 weights are the same numbers in both; llama.cpp also rounds activations to 8 bits, so a
    prompt whose top two tokens are nearly tied may differ. A wrong conversion (say, un-permuted
    Q/K) would disagree almost everywhere and would not correlate.
    """
    from llama_cpp import Llama

    llm = Llama(model_path=str(bundled_gguf_path()), n_ctx=256, verbose=False, logits_all=True)
    agree = 0
    for prompt in PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer.encode(text)
        assert ids == llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        theirs = np.asarray(llm.scores[llm.n_tokens - 1])
        with torch.no_grad():
            ours = model(torch.tensor([ids])).logits[0, -1].numpy()
        assert np.corrcoef(theirs, ours)[0, 1] > 0.99, prompt
        assert theirs.argmax() in np.argsort(-ours)[:3], prompt
        agree += int(theirs.argmax() == ours.argmax())
    return agree / len(PROMPTS)
