"""Token counts come from the base model's own vocabulary: our GGUF-built tokenizer must split
text exactly as llama.cpp does with the same file."""

import pytest

from slmtui.tokenizer import (
    TokenizerError,
    bundled_gguf_path,
    load_tokenizer,
    resolve_source,
    tokenizer_from_gguf,
)

TEXTS = [
    "The ferry was late again; I stood on the slip with Bosun.",
    "Numbers: 2025, 3.14159, 1,250,000 and £12.50 — with an em dash.",
    "Accents: café, naïve, Ærøskøbing, São Paulo, Łódź.",
    "Emoji 🐝🌊 and CJK 東京 and 한국어 and Ελληνικά.",
    "def tide(height: float) -> str:\n    return f'{height:.1f} m'  # code\n\n\tTabbed.",
    "  leading spaces, trailing spaces   \n\n\nand blank lines",
    "<|im_start|>user\nHello<|im_end|>",
]


@pytest.fixture(scope="module")
def llama_vocab():
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(bundled_gguf_path()), vocab_only=True, verbose=False)


@pytest.mark.parametrize("text", TEXTS)
def test_ids_match_llama_cpp(tokenizer, llama_vocab, text):
    ours = tokenizer.encode(text, add_special_tokens=False).ids
    theirs = llama_vocab.tokenize(text.encode(), add_bos=False, special=True)
    assert ours == theirs


def test_round_trip_and_vocab_size(tokenizer):
    assert tokenizer.get_vocab_size(with_added_tokens=True) == 49152
    for text in TEXTS[:5]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_cache_is_written_once_and_reused(tmp_path):
    first = load_tokenizer(cache_dir=tmp_path)
    cached = list(tmp_path.glob("*.json"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    second = load_tokenizer(cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == mtime
    assert first.encode("slack water").ids == second.encode("slack water").ids


def test_local_folder_and_bad_names(tmp_path):
    tokenizer_from_gguf(bundled_gguf_path()).save(str(tmp_path / "tokenizer.json"))
    assert resolve_source(str(tmp_path)).kind == "json"
    assert load_tokenizer(str(tmp_path)).encode("Bosun").ids
    with pytest.raises(TokenizerError, match="Cannot find a tokenizer"):
        resolve_source(str(tmp_path / "nowhere"))
