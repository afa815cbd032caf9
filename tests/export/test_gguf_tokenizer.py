"""The GGUF's tokenizer: llama.cpp splits text exactly as transformers does, and loads cleanly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gguf import GGUFReader, TokenType
from gguf_parity import hf_ids, hf_tokenizer, open_llama

from slmtui.export.errors import ConvertError
from slmtui.export.gguf_convert import convert_to_gguf
from slmtui.export.source_info import read_source_info, write_source_info
from slmtui.export.vocab import read_vocab

MIXED = (
    "Crème brûlée, naïve façade — Ærøskøbing! 🙂👩‍💻🎉 東京タワーと北京 한국어 "
    "def f(x: int) -> int:\n\treturn x**2 + 1_000  # ½ ≠ 0.5\n\n  <|im_start|>user\nhi<|im_end|>\n"
    "Numbers 3.14159 and 2024-06-01; emails a.b@c.de; tabs\t\tand   spaces   ."
)


def _fields(path: Path) -> dict:
    reader = GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


def test_round_trip_of_accents_emoji_cjk_and_code(tiny_llama, tiny_llama_f32):
    llm = open_llama(tiny_llama_f32)
    ids = llm.tokenize(MIXED.encode(), add_bos=False, special=True)
    assert ids == hf_ids(tiny_llama, MIXED)
    assert llm.detokenize(ids, special=True).decode() == MIXED
    assert llm.metadata["tokenizer.ggml.pre"] == "smollm"


def test_sentencepiece_style_round_trip(tiny_sentencepiece, tmp_path):
    llm = open_llama(convert_to_gguf(tiny_sentencepiece, tmp_path / "m.gguf").path)
    assert llm.tokenize(MIXED.encode(), add_bos=False, special=True) == hf_ids(
        tiny_sentencepiece, MIXED
    )
    # That tokenizer adds BOS, and says so.
    assert llm.tokenize(b"Hello there", add_bos=True) == hf_tokenizer(tiny_sentencepiece).encode(
        "Hello there"
    )
    fields = _fields(tmp_path / "m.gguf")
    assert fields["tokenizer.ggml.model"] == "llama"
    assert fields["tokenizer.ggml.add_bos_token"] is True
    types = fields["tokenizer.ggml.token_type"]
    assert types[0] == TokenType.UNKNOWN and types[1] == types[2] == TokenType.CONTROL
    assert set(types[3:259]) == {TokenType.BYTE}


def test_verbose_load_has_no_pre_tokenizer_warning(tiny_llama_f32):
    code = (
        "import llama_cpp, sys\n"
        f"llm = llama_cpp.Llama(model_path={str(tiny_llama_f32)!r}, n_ctx=64, verbose=True)\n"
        "print(llm.metadata['tokenizer.ggml.pre'])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "smollm"
    assert "GENERATION QUALITY WILL BE DEGRADED" not in run.stderr
    assert "missing pre-tokenizer" not in run.stderr
    assert "load_hparams" in run.stderr or "llama_model_loader" in run.stderr  # it did log


def test_special_ids_flags_and_template(tiny_llama, tiny_llama_f32):
    fields = _fields(tiny_llama_f32)
    assert fields["tokenizer.ggml.model"] == "gpt2"
    assert fields["tokenizer.ggml.bos_token_id"] == 1
    assert fields["tokenizer.ggml.eos_token_id"] == 2  # <|im_end|>: the turn end
    assert fields["tokenizer.ggml.padding_token_id"] == 2
    assert fields["tokenizer.ggml.unknown_token_id"] == 0
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert fields["tokenizer.chat_template"] == (tiny_llama / "chat_template.jinja").read_text()
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    assert len(tokens) == len(types) == 49152
    assert tokens[2] == "<|im_end|>" and types[2] == TokenType.CONTROL
    assert types[1000] == TokenType.NORMAL
    assert len(fields["tokenizer.ggml.merges"]) == 48900


def test_recorded_pre_tokenizer_wins(tiny_llama, tmp_path):
    """A folder made from a GGUF carries that GGUF's pre-tokenizer name, and the writer uses it."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama, folder)
    write_source_info(folder, "llama-bpe")
    assert read_source_info(folder) == {"tokenizer_pre": "llama-bpe"}
    path = convert_to_gguf(folder, tmp_path / "m.gguf", outtype="f32").path
    assert _fields(path)["tokenizer.ggml.pre"] == "llama-bpe"
    (folder / "slmtui-source.json").write_text("{not json")
    with pytest.raises(ConvertError, match=r"slmtui-source\.json"):
        convert_to_gguf(folder, tmp_path / "m2.gguf")


def _byte_level_folder(folder: Path, vocab_size: int, added: list[str], tconfig: dict) -> Path:
    """A synthetic byte-level BPE tokenizer (no weights): enough for read_vocab's decisions."""
    folder.mkdir()
    vocab = {f"t{i}": i for i in range(vocab_size - len(added))}
    tokenizer = {
        "added_tokens": [
            {"id": len(vocab) + i, "content": text, "special": True} for i, text in enumerate(added)
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": added[0], "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
        },
        "model": {"type": "BPE", "vocab": vocab, "merges": ["t 1"]},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    (folder / "tokenizer_config.json").write_text(json.dumps(tconfig))
    return folder


def test_llama3_style_tokenizer_is_named_llama_bpe(tmp_path):
    added = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|custom|>"]
    tconfig = {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|end_of_text|>",
        "chat_template": "{% for m in messages %}{{ m['content'] }}<|eot_id|>{% endfor %}",
    }
    folder = _byte_level_folder(tmp_path / "l3", 128004, added, tconfig)
    vocab = read_vocab(folder, "llama", 128256)
    assert vocab.pre == "llama-bpe"
    assert vocab.bos_id == 128000 and vocab.add_bos is True
    assert vocab.eos_id == 128002  # <|eot_id|>, which the chat template ends turns with
    assert len(vocab.tokens) == 128256 and vocab.tokens[128100] == "[PAD128100]"
    assert vocab.types[128100] == TokenType.UNUSED and vocab.types[128003] == TokenType.CONTROL


def test_unknown_byte_level_tokenizer_is_refused(tmp_path):
    folder = _byte_level_folder(tmp_path / "x", 1000, ["<s>", "</s>"], {"eos_token": "</s>"})
    with pytest.raises(ConvertError, match="write_source_info"):
        read_vocab(folder, "llama", 1000)
    write_source_info(folder, "default")
    assert read_vocab(folder, "llama", 1000).pre == "default"
